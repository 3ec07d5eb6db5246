"""`teppan bench http` at tiny sizes: every scenario and the baseline run end to end (not timed)."""

from __future__ import annotations

import pytest

from services.devtools.bench_http import BASELINE_NAME, run_http_benchmark

pytestmark = pytest.mark.stack


async def test_bench_http_runs_every_scenario_and_the_baseline() -> None:
    result = await run_http_benchmark(
        single_requests=5, concurrent_requests=64, batch_requests=2, warmup=4, max_seconds=60
    )
    expected = {
        "single_1_client": (5, 1, 1),
        "single_32_clients": (64, 32, 1),
        "batch_100_1_client": (2, 1, 100),
    }
    assert result["baseline"]["name"] == BASELINE_NAME
    for scenarios in (result["scenarios"], result["baseline"]["scenarios"]):
        assert set(scenarios) == set(expected)
        for name, (requests, clients, batch) in expected.items():
            figures = scenarios[name]
            assert (figures["requests"], figures["clients"], figures["events_per_request"]) == (
                requests,
                clients,
                batch,
            )
            assert figures["failed_requests"] == 0
            assert figures["events_per_s"] > 0
            latency = figures["latency_ms"]
            assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
            assert figures["cpu_ms_per_request"]["load_generator"] is not None
    assert set(result["speedup_events_per_s"]) == set(expected)
    assert result["machine"]["cpus"] >= 1
