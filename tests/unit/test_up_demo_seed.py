"""`teppan up --demo` plays a new seed each run: the same seed replays the last run's event ids, which ingest
drops as duplicates, so a second `make demo` on the same data folder would show nothing new."""

from __future__ import annotations

from datetime import UTC, datetime

from services.devtools.demo_traffic import generate_conversations
from services.devtools.supervisor import demo_argv


def first_event_ids(argv: list[str]) -> set[str]:
    seed = int(argv[argv.index("--seed") + 1])
    start = datetime(2026, 12, 7, tzinfo=UTC)
    conversations = generate_conversations(seed=seed, start=start, count=3)
    return {event["event_id"] for conversation in conversations for _, event in conversation.events}


def test_two_runs_play_different_conversations_and_one_run_keeps_its_seed() -> None:
    teppan = ["python", "-m", "services.cli"]
    first = demo_argv(teppan, 5.0, run_started=1_796_625_337.06)
    second = demo_argv(teppan, 5.0, run_started=1_796_625_912.48)
    assert first[:4] == [*teppan, "demo"] and "--rate" in first and "--duration" in first
    assert not first_event_ids(first) & first_event_ids(second)
    # A demo restarted within the same run replays its own conversations, never another run's.
    assert demo_argv(teppan, 5.0, run_started=1_796_625_337.06) == first
