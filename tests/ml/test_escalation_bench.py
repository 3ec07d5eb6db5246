"""`teppan bench escalation`: the tiny model behind the dynamic batcher forms real batches and reports the
documented JSON; without a built model the command says how to build one and exits 2."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services import cli
from services.devtools.escalation_bench import run_escalation_benchmark, summary_lines


def test_the_bench_batches_concurrent_requests_and_reports_its_shape(escalation_model_dir: Path) -> None:
    with_peer = importlib.util.find_spec("sentence_transformers") is not None
    lines: list[str] = []
    result = run_escalation_benchmark(
        escalation_model_dir,
        messages=64,
        batch_size=16,
        peer_messages=4 if with_peer else 0,
        peer_train_rows=80,
        threads=1,
        progress=lines.append,
    )
    assert lines
    json.loads(json.dumps(result))  # JSON-ready as it stands
    assert result["device"] in ("cpu", "cuda") or result["device"].startswith("cuda")
    assert result["backend"] in ("torch", "onnx-int8")
    assert result["model_version"].startswith("escalation-minilm-1")
    assert result["threads"] == 1
    batched = result["batched"]
    assert {"batch_size", "msgs_per_s", "p50_ms", "p99_ms", "mean_formed_batch"} <= set(batched)
    assert batched["batch_size"] == 16 and batched["messages"] == 64
    assert batched["msgs_per_s"] > 0 and 0 < batched["p50_ms"] <= batched["p99_ms"]
    assert 1 < batched["mean_formed_batch"] <= 16 and batched["largest_formed_batch"] <= 16
    unbatched = result["unbatched"]
    assert unbatched["batch_size"] == 1 and unbatched["messages"] == 64 and unbatched["msgs_per_s"] > 0
    if with_peer:
        peer = result["peer"]
        assert peer["name"] and peer["messages"] == 4 and peer["msgs_per_s"] > 0
        assert {"p50_ms", "p99_ms"} <= set(peer)
        assert result["speedup_batched"] == pytest.approx(
            batched["msgs_per_s"] / peer["msgs_per_s"], rel=0.05
        )
    else:
        assert result["peer"] is None and result["speedup_batched"] is None
    assert any(line.startswith("batched") for line in summary_lines(result))


def test_the_command_exits_2_and_says_how_to_build_a_missing_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "escalation"
    empty.mkdir()
    monkeypatch.setenv("TEPPAN_ESCALATION_MODEL_DIR", str(empty))
    result = CliRunner().invoke(cli.app, ["bench", "escalation", "--json"])
    assert result.exit_code == 2
    assert "teppan ml train escalation" in result.output
    assert str(empty) in result.output
