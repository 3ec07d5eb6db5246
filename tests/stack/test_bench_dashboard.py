"""`teppan bench dashboard` at a tiny size: both stages seed, serve and measure end to end (not timed)."""

from __future__ import annotations

import pytest

from services.devtools.bench_dashboard import OTHER_PATHS, RANGES, chromium_path, run_dashboard_benchmark

pytestmark = pytest.mark.stack


async def test_bench_dashboard_seeds_both_stages_and_times_every_request() -> None:
    browser = chromium_path() is not None
    result = await run_dashboard_benchmark(messages=2_000, baseline_messages=500, repeats=2, browser=browser)
    assert result["baseline_name"] == "the same server and requests with 500 messages"
    for stage, messages in (("baseline", 500), ("result", 2_000)):
        figures = result[stage]
        assert figures["messages"] == messages
        assert set(OTHER_PATHS) <= set(figures["paths"])
        for path, timing in figures["paths"].items():
            assert 0 <= timing["server_ms_p50"] <= timing["server_ms_p95"], path
        assert set(figures["refresh"]) == set(RANGES)
        if browser:
            assert figures["browser"]["figures_shown_ms"] > 0
    assert isinstance(result["meets_refresh_goal"], bool)
