"""Per-minute windows: figures against hand-computed values, merging and serialisation."""

from datetime import datetime, timedelta

import numpy as np
import pytest

from services.analytics.metrics.sketches import RELATIVE_ACCURACY
from services.analytics.metrics.windows import (
    MetricsAggregator,
    MetricsWindow,
    merge_windows,
    window_start,
)
from tests.analytics.metrics.recorded import T0, at


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


def test_each_models_answers_are_counted_for_the_drift_check_and_merge() -> None:
    aggregator = MetricsAggregator()
    for i, (model, tone, confidence) in enumerate(
        [("nlp", "casual", 0.95), ("nlp", "formal", 0.81), ("escalation", "anxious", 0.62), ("nlp", "casual", 1.0)]
    ):
        aggregator.record_analysis(
            at(i), latency_ms=1.0, confidence=confidence, escalated=False, model=model, tone=tone,
            intent="booking_inquiry", event_id=f"e{i}",
        )  # fmt: skip
    aggregator.record_analysis(at(5), latency_ms=1.0, confidence=0.5, escalated=False)  # no model: not counted
    (window,) = aggregator.open_windows()
    assert window.predictions == {
        "nlp.tone": {"casual": 2, "formal": 1},
        "nlp.intent": {"booking_inquiry": 3},
        "nlp.confidence": {"9": 2, "8": 1},
        "escalation.tone": {"anxious": 1},
        "escalation.intent": {"booking_inquiry": 1},
        "escalation.confidence": {"6": 1},
    }
    merged = merge_windows([window, MetricsWindow.from_json(window.to_json())])
    assert merged is not None and merged.predictions["nlp.tone"] == {"casual": 4, "formal": 2}
    stored_before_drift = {k: v for k, v in window.to_json().items() if k != "predictions"}
    assert MetricsWindow.from_json(stored_before_drift).predictions == {}
