"""`teppan nlp predict` and `teppan nlp eval` as a user runs them, on the session's small artefacts."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from services.cli import app
from services.ml.corpora import DOMAIN_HELDOUT


def test_predict_writes_one_analysis_per_input_line(nlp_artifacts: Path, tmp_path: Path) -> None:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [
        {"id": "a", "text": "Can you cater our Easter brunch for 20 people?"},
        {"id": "b", "text": "13", "context": {"requested_slots": ["people"]}},
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = CliRunner().invoke(app, ["nlp", "predict", str(source), str(target), "--artifacts", str(nlp_artifacts)])
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in target.read_text().splitlines()]
    assert [row["id"] for row in written] == ["a", "b"]
    assert written[0]["entities"]["party_size"] == 20 and written[0]["entities"]["date"] == "Easter"
    assert written[1]["entities"]["party_size"] == 13  # a bare number answers the question asked


def test_eval_reports_accuracy_on_a_gold_file(nlp_artifacts: Path, tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(DOMAIN_HELDOUT.read_text().splitlines(keepends=True)[:60]))
    result = CliRunner().invoke(app, ["nlp", "eval", str(gold), "--json", "--artifacts", str(nlp_artifacts)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["rows"] == 60
    assert 0.0 <= report["escalation_rate"] <= 1.0
