"""Per-minute windows: figures against hand-computed values, merging, serialisation and /metrics text."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.analytics.metrics import (
    MetricsAggregator,
    MetricsWindow,
    merge_windows,
    render_prometheus,
    window_start,
)
from services.analytics.sketches import RELATIVE_ACCURACY

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def aggregator() -> MetricsAggregator:
    agg = MetricsAggregator()
    # Minute 0: two conversations start, three analyses, one escalated.
    agg.record_turn(at(1), turn_index=0)
    agg.record_turn(at(2), turn_index=1)
    agg.record_turn(at(3), turn_index=0)
    for i, (latency, confidence, escalated) in enumerate(
        [(20.0, 0.9, False), (40.0, 0.6, True), (30.0, 0.8, False)]
    ):
        agg.record_analysis(at(4 + i), latency_ms=latency, confidence=confidence, escalated=escalated)
    agg.record_service_call(at(10), service="llm", ok=True, latency_ms=300.0)
    agg.record_service_call(at(11), service="llm", ok=False, latency_ms=900.0)
    agg.record_service_call(at(12), service="stt", ok=True, latency_ms=80.0)
    agg.record_label(at(20), task="tone", correct=True)
    agg.record_label(at(21), task="tone", correct=False)
    agg.record_label(at(22), task="intent", correct=True)
    # Minute 1: outcomes and surveys.
    agg.record_outcome(at(61), booked=True, turns=6, task_completed=True, total_value=1950.0,
                       upsells_offered=2, upsells_accepted=1)  # fmt: skip
    agg.record_outcome(at(62), booked=False, turns=3, task_completed=False, upsells_offered=1)
    agg.record_outcome(at(63), booked=True, turns=9, task_completed=True, total_value=550.0,
                       upsells_offered=1, upsells_accepted=1)  # fmt: skip
    agg.record_survey(at(70), rating=5)
    agg.record_survey(at(71), rating=3)
    agg.record_analysis(at(72), latency_ms=500.0, confidence=0.7, escalated=True)
    return agg


def test_window_start_floors_to_the_minute() -> None:
    assert window_start(datetime(2026, 11, 22, 10, 0, 59, 999)) == T0
    assert window_start(T0 + timedelta(minutes=1)) == T0 + timedelta(minutes=1)


def test_first_window_figures(aggregator: MetricsAggregator) -> None:
    first, second = aggregator.open_windows()
    f = first.figures()
    assert f["window_start"] == T0.isoformat()
    assert f["conversation"]["conversations"] == 2
    assert f["conversation"]["turns"] == 3
    assert f["conversation"]["conversion_rate"] is None  # no outcome in this minute
    assert f["model"]["analyses"] == 3
    assert f["model"]["mean_confidence"] == pytest.approx((0.9 + 0.6 + 0.8) / 3)
    assert f["model"]["escalation_rate"] == pytest.approx(1 / 3)
    assert f["model"]["accuracy"] == {"intent": 1.0, "tone": 0.5}
    assert f["model"]["nlp_latency_ms"]["p50"] == pytest.approx(30.0, rel=RELATIVE_ACCURACY)
    assert f["service"]["llm"]["error_rate"] == 0.5
    assert f["service"]["stt"]["error_rate"] == 0.0
    assert f["service"]["stt"]["latency_ms"]["p95"] == pytest.approx(80.0, rel=RELATIVE_ACCURACY)
    assert "tts" not in f["service"]


def test_second_window_business_figures(aggregator: MetricsAggregator) -> None:
    f = aggregator.open_windows()[1].figures()
    assert f["conversation"]["ended"] == 3
    assert f["conversation"]["conversion_rate"] == pytest.approx(2 / 3)
    assert f["conversation"]["avg_turns"] == pytest.approx(6.0)
    assert f["conversation"]["task_completion_rate"] == pytest.approx(2 / 3)
    assert f["business"]["upsell_acceptance_rate"] == pytest.approx(2 / 4)
    assert f["business"]["avg_booking_value"] == pytest.approx(1250.0)
    assert f["business"]["csat"] == 0.5
    assert f["business"]["avg_rating"] == 4.0


def test_merging_windows_gives_day_figures_from_merged_sketches(aggregator: MetricsAggregator) -> None:
    windows = aggregator.open_windows()
    stored = [MetricsWindow.from_json(w.to_json()) for w in windows]
    day = merge_windows(stored)
    assert day is not None
    f = day.figures()
    assert (day.start, day.end) == (T0, T0 + timedelta(minutes=2))
    assert f["model"]["analyses"] == 4
    assert f["model"]["escalation_rate"] == 0.5
    latencies = np.array([20.0, 40.0, 30.0, 500.0])
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        assert f["model"]["nlp_latency_ms"][name] == pytest.approx(
            np.quantile(latencies, q, method="lower"), rel=RELATIVE_ACCURACY
        )
    # Merging copies: the stored windows are unchanged.
    assert stored[0].figures() == windows[0].figures()
    assert merge_windows([]) is None


def test_window_json_round_trip(aggregator: MetricsAggregator) -> None:
    for window in aggregator.open_windows():
        assert MetricsWindow.from_json(window.to_json()).figures() == window.figures()


def test_redelivered_event_is_counted_once() -> None:
    agg = MetricsAggregator()
    for _ in range(3):
        agg.record_analysis(at(5), latency_ms=10.0, confidence=0.9, escalated=False, event_id="e1")
    agg.record_analysis(at(6), latency_ms=10.0, confidence=0.9, escalated=False, event_id="e2")
    assert agg.open_windows()[0].analyses == 2


def test_pop_closed_respects_grace(aggregator: MetricsAggregator) -> None:
    assert aggregator.pop_closed(at(62)) == []
    closed = aggregator.pop_closed(at(66))
    assert [w.start for w in closed] == [T0]
    assert [w.start for w in aggregator.open_windows()] == [T0 + timedelta(minutes=1)]


def test_rejects_out_of_range_rating() -> None:
    with pytest.raises(ValueError):
        MetricsAggregator().record_survey(at(0), rating=6)


def test_prometheus_text(aggregator: MetricsAggregator) -> None:
    figures = aggregator.open_windows()[0].figures()
    text = render_prometheus(figures).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("teppan_conversations", ())] == 2
    assert samples[("teppan_nlp_escalation_ratio", ())] == pytest.approx(1 / 3)
    assert samples[("teppan_nlp_latency_ms", (("quantile", "0.95"),))] == pytest.approx(
        30.0, rel=RELATIVE_ACCURACY
    )
    assert samples[("teppan_service_error_ratio", (("service", "llm"),))] == 0.5
    assert samples[("teppan_service_latency_ms", (("quantile", "0.5"), ("service", "stt")))] == pytest.approx(
        80.0, rel=0.01
    )
    assert samples[("teppan_model_accuracy_ratio", (("task", "tone"),))] == 0.5
    # No outcome in this minute: conversion is absent, not a misleading 0.
    assert ("teppan_conversion_ratio", ()) not in samples
    assert render_prometheus(None) == b""
