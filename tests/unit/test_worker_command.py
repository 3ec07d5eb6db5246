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


def test_the_escalation_worker_refuses_to_start_without_its_model_and_says_how_to_build_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEPPAN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TEPPAN_ESCALATION_MODEL_DIR", raising=False)
    started: list[str] = []

    async def run_worker(kind: str, settings: Settings) -> None:
        started.append(kind)

    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)
    monkeypatch.setattr(runner, "run_worker", run_worker)
    result = CliRunner().invoke(cli.app, ["worker", "escalation"])
    assert result.exit_code == 2 and started == []
    assert "teppan ml train escalation" in result.output


def test_up_starts_the_escalation_worker_only_with_a_built_model(tmp_path: Path, escalation_model_dir: Path) -> None:
    from schemas.workers import WORKER_KINDS
    from services.devtools.supervisor import stack_worker_kinds

    without = stack_worker_kinds(Settings(TEPPAN_DATA_DIR=tmp_path))
    assert "escalation" not in without and set(without) == set(WORKER_KINDS) - {"escalation"}
    assert stack_worker_kinds(Settings(TEPPAN_ESCALATION_MODEL_DIR=escalation_model_dir)) == WORKER_KINDS
