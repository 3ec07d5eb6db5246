"""The fault suite: the whole stack under `teppan up`, broken on purpose, loses and duplicates nothing.

A small run of `teppan bench faults` (the same code): every worker kind SIGKILLed twice, every database
connection cut for seconds, Redis frozen, and fuzzed records between valid ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.devtools.bench_faults import run_fault_benchmark

pytestmark = [pytest.mark.stack, pytest.mark.faults]


async def test_nothing_is_lost_duplicated_or_wedged_through_every_fault(nlp_artifacts_dir: Path) -> None:
    result = await run_fault_benchmark(
        messages_per_phase=240,
        rate=80,
        kill_rounds=2,
        db_cut_seconds=5,
        redis_freeze_seconds=6,
        malformed=480,
        nlp_artifacts_dir=nlp_artifacts_dir,
        recovery_timeout_s=180,
    )
    assert result["valid_sent"] == 20 + 5 * 240
    assert result["lost"] == 0
    assert result["missing_from_conversation_logs"] == 0
    assert result["duplicated_log_entries"] == 0
    assert result["turn_order_violations"] == 0
    assert result["malformed_sent"] == 480
    assert result["malformed_dead_lettered_pct"] == 100.0
    assert result["wedged_workers"] == []
    assert result["workers_killed"] >= 2 * 7 - 2  # a worker caught mid-restart may be missed once
    assert result["database_cut_rounds"] >= 5
    assert all(seconds >= 0 for seconds in result["seconds_to_catch_up_after_phase"].values())
    assert result["teppan_up_exit_code"] == 0
