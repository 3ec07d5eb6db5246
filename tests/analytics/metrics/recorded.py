"""Two minutes of recorded events with hand-computable figures, shared by the window and Prometheus tests."""

from datetime import UTC, datetime, timedelta

from services.analytics.metrics.windows import MetricsAggregator

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def two_minutes() -> MetricsAggregator:
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
