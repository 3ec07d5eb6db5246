"""ML readiness against seed 000's table, the days-to-ready estimate, and the weekly KPI set."""

import numpy as np
import pytest

from services.analytics.metrics.sketches import RELATIVE_ACCURACY, LatencySketch
from services.analytics.reports.readiness import (
    THRESHOLDS,
    ReadinessCounts,
    WeeklyInputs,
    estimated_days_to_ready,
    readiness_report,
    weekly_kpis,
)


def test_thresholds_are_seed_000s() -> None:
    assert readiness_report(ReadinessCounts())["thresholds"] == {
        "conversations": 10000,
        "labeled_tone": 5000,
        "booking_outcomes": 1000,
        "surveys": 500,
        "edge_cases": 200,
        "monthly_active_customers": 1000,
    }


def test_report_shape_and_estimate() -> None:
    now = ReadinessCounts(6000, 3000, 700, 300, 200, 400)
    four_weeks_ago = ReadinessCounts(4600, 2300, 560, 230, 150, 260)
    report = readiness_report(now, four_weeks_ago)
    assert report["counts"]["conversations"] == 6000
    assert report["ml_ready"] is False
    assert report["met"]["edge_cases"] is True and report["met"]["surveys"] is False
    # Per day: conversations 50 -> 80 days; labelled 25 -> 80; outcomes 5 -> 60; surveys 2.5 -> 80;
    # monthly active customers 5 -> 120 days. The slowest decides.
    assert report["estimated_days_to_ready"] == 120


def test_estimate_rounds_up_and_handles_no_growth() -> None:
    now = ReadinessCounts(9990, 5000, 1000, 500, 200, 1000)
    assert (
        estimated_days_to_ready(now, ReadinessCounts(9983, 0, 0, 0, 0, 0), window_days=28) == 40
    )  # 10 / 0.25
    flat = ReadinessCounts(9990, 4000, 1000, 500, 200, 1000)
    assert estimated_days_to_ready(flat, ReadinessCounts(9000, 4000, 0, 0, 0, 0)) is None
    assert estimated_days_to_ready(now, None) is None
    # A young system passes zeros and its age.
    assert (
        estimated_days_to_ready(ReadinessCounts(100, 50, 10, 5, 2, 10), ReadinessCounts(), window_days=10)
        == 990
    )


def test_ready_when_all_thresholds_met() -> None:
    report = readiness_report(THRESHOLDS, None)
    assert report["ml_ready"] is True
    assert report["estimated_days_to_ready"] == 0


def test_weekly_kpis() -> None:
    rng = np.random.default_rng(3)
    latencies = rng.gamma(2.0, 40.0, 500)
    sketch = LatencySketch()
    for value in latencies:
        sketch.add(float(value))
    inputs = WeeklyInputs(
        conversations_this_week=120,
        total_conversations=2400,
        labelled_items=90,
        labellable_items=600,
        tone_correct=68,
        tone_labelled=80,
        intent_correct=45,
        intent_labelled=50,
        response_time=sketch,
        bookings=30,
        upsells_offered=40,
        upsells_accepted=18,
        booking_value_sum=30 * 550.0,
        booking_values=30,
    )
    readiness = readiness_report(
        ReadinessCounts(2400, 90, 300, 40, 20, 150), ReadinessCounts(1900, 60, 240, 30, 10, 120)
    )
    kpis = weekly_kpis(inputs, readiness)
    assert kpis == {
        "conversations_this_week": 120,
        "total_conversations": 2400,
        "labeled_data_percentage": pytest.approx(15.0),
        "tone_accuracy": pytest.approx(0.85),
        "intent_accuracy": pytest.approx(0.9),
        "response_time_p95": pytest.approx(
            np.quantile(latencies, 0.95, method="lower"), rel=RELATIVE_ACCURACY
        ),
        "conversion_rate": pytest.approx(0.25),
        "upsell_acceptance_rate": pytest.approx(0.45),
        "avg_booking_value": pytest.approx(550.0),
        "ml_ready": False,
        "estimated_days_to_ml_ready": readiness["estimated_days_to_ready"],
    }
    assert readiness["estimated_days_to_ready"] == 4583  # labelled tone, the slowest: ceil(4910 / (30 / 28))


def test_weekly_kpis_without_data_are_none() -> None:
    empty = WeeklyInputs(0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, 0, 0.0, 0)
    kpis = weekly_kpis(empty, readiness_report(ReadinessCounts()))
    assert kpis["tone_accuracy"] is None and kpis["response_time_p95"] is None
    assert kpis["conversion_rate"] is None and kpis["labeled_data_percentage"] is None
