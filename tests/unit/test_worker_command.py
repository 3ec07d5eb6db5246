"""`teppan worker nlp` builds missing NLP artefacts before the worker starts: the nlp room itself never trains."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services import cli, runner
from services.ml import training
from shared.settings import Settings


@pytest.mark.parametrize(("kind", "builds"), [("nlp", True), ("ingest", False)])
def test_only_the_nlp_worker_builds_its_artefacts_first(
    kind: str, builds: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEPPAN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TEPPAN_NLP_ARTIFACTS_DIR", raising=False)
    calls: list[tuple[str, object]] = []

    async def run_worker(kind: str, settings: Settings) -> None:
        calls.append(("run", kind))

    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)
    monkeypatch.setattr(training, "ensure_built", lambda path: calls.append(("build", path)))
    monkeypatch.setattr(runner, "run_worker", run_worker)
    result = CliRunner().invoke(cli.app, ["worker", kind])
    assert result.exit_code == 0, result.output
    expected = [("build", tmp_path / "models" / "nlp")] if builds else []
    assert calls == [*expected, ("run", kind)]
