"""`teppan up`'s live summary: a few lines that point at the owner's page."""

from __future__ import annotations

from rich.console import Console

from services.devtools.stack_status import StackStatus
from services.devtools.supervisor import ChildProcess, page_url, render_summary


def rendered(status: StackStatus, children: list[ChildProcess], http_url: str) -> str:
    console = Console(width=120, record=True, force_terminal=False)
    console.print(render_summary(status, children, {"HTTP_URL": http_url}))
    return console.export_text()


def test_the_summary_is_three_lines_and_names_the_page() -> None:
    children = [ChildProcess(f"worker {kind}", []) for kind in ("ingest", "nlp", "logger", "metrics")]
    status = StackStatus(messages_in=1200, rows_logged=1100, consumer_lag={"a": 5, "b": 7}, dead_letters=2)
    text = rendered(status, children, "http://0.0.0.0:8000")
    lines = text.strip().splitlines()
    assert len(lines) == 3
    assert "http://127.0.0.1:8000/" in lines[0]
    assert "messages in 1,200" in lines[1] and "lag 12" in lines[1] and "dead letters 2" in lines[1]
    # Never started here, so every process reads as down, by name.
    assert "0 of 4 processes up" in lines[2] and "worker nlp" in lines[2]


def test_page_url_keeps_a_named_host() -> None:
    assert page_url("http://teppan.local:8000") == "http://teppan.local:8000/"
    assert page_url("http://[::]:9000") == "http://127.0.0.1:9000/"
