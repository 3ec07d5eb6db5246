"""`teppan bench pipeline` at a tiny size, so the benchmark itself stays exercised (nothing here is timed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.workers import WORKER_KINDS
from services.devtools.bench import run_pipeline_benchmark
from shared.settings import Settings

pytestmark = pytest.mark.stack


async def test_full_pipeline_bench_logs_and_analyses_every_message(
    stack: Settings, nlp_artifacts_dir: Path, escalation_model_dir: Path
) -> None:
    # Its own Tansu (so its workers do not share consumer groups with the suite's), the suite's databases.
    settings = Settings(
        DATABASE_URL=stack.database_url,
        REDIS_URL=stack.redis_url,
        TEPPAN_DATA_DIR=stack.data_dir,
        TEPPAN_NLP_ARTIFACTS_DIR=nlp_artifacts_dir,
        TEPPAN_ESCALATION_MODEL_DIR=escalation_model_dir,
    )
    result = await run_pipeline_benchmark(settings, messages=60, rate=None, verbose=False, baseline_messages=20, full=True)
    assert result["messages"] == 60
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["analyses"] == 30  # every other message is a customer turn
    assert result["workers"] == list(WORKER_KINDS)
    assert result["throughput_msgs_per_s"] > 0
    assert result["latency_to_analysis_ms"]["p95"] >= result["latency_to_analysis_ms"]["p50"] > 0
    # The slow path ran too: whatever it answered is measured on its own (the turns it escalated).
    assert "escalation" in result["workers"]
    if result["ml_analyses"]:
        ml = result["latency_to_ml_analysis_ms"]
        assert ml["p95"] >= ml["p50"] > 0
