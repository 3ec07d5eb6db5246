"""ML readiness against seed 000's table, the days-to-ready estimate, and the weekly KPI set."""

from datetime import date, timedelta

import numpy as np
import pytest
from scipy import stats

from services.analytics.metrics.sketches import RELATIVE_ACCURACY, LatencySketch
from services.analytics.reports.readiness import (
    THRESHOLDS,
    LabelledWeek,
    ReadinessCounts,
    WeeklyInputs,
    estimated_days_to_ready,
    readiness_report,
    rules_accuracy_trend,
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


def weeks_of(accuracies: list[float], labelled: int = 200, start: date = date(2026, 9, 7)) -> list[LabelledWeek]:
    return [
        LabelledWeek(start + timedelta(weeks=i), labelled, round(accuracy * labelled))
        for i, accuracy in enumerate(accuracies)
    ]


def test_flat_accuracy_below_85_has_plateaued() -> None:
    weeks = weeks_of([0.70, 0.78, 0.80, 0.805, 0.80, 0.81])
    trend = rules_accuracy_trend(weeks)
    recent = weeks[-4:]
    fit = stats.linregress([0, 1, 2, 3], [w.correct / w.labelled for w in recent])
    assert trend["gain_per_week"] == pytest.approx(fit.slope)
    assert trend["recent_accuracy"] == pytest.approx(sum(w.correct for w in recent) / (4 * 200))
    assert trend["plateaued_below_target"] is True
    assert [w["week_start"] for w in trend["weeks"]] == [w.week_start.isoformat() for w in weeks]


def test_rising_or_high_accuracy_has_not_plateaued_below_85() -> None:
    assert rules_accuracy_trend(weeks_of([0.70, 0.73, 0.76, 0.79]))["plateaued_below_target"] is False
    assert rules_accuracy_trend(weeks_of([0.90, 0.90, 0.91, 0.90]))["plateaued_below_target"] is False


def test_too_few_labelled_weeks_is_not_known_yet() -> None:
    thin = weeks_of([0.8, 0.8, 0.8], labelled=200) + weeks_of([0.8] * 3, labelled=10, start=date(2026, 10, 5))
    trend = rules_accuracy_trend(thin)
    assert trend["plateaued_below_target"] is None and trend["gain_per_week"] is None
    assert len(trend["weeks"]) == 6
    assert readiness_report(ReadinessCounts())["rules_accuracy"]["plateaued_below_target"] is None


def test_the_slope_counts_calendar_weeks_not_rows() -> None:
    # Weeks without enough labels are skipped, so the fit must use the real distance between weeks.
    start = date(2026, 9, 7)
    weeks = [LabelledWeek(start + timedelta(weeks=i), 100, c) for i, c in ((0, 70), (1, 72), (4, 78), (6, 82))]
    fit = stats.linregress([0, 1, 4, 6], [0.70, 0.72, 0.78, 0.82])
    assert rules_accuracy_trend(weeks)["gain_per_week"] == pytest.approx(fit.slope)
