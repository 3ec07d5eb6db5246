"""Paging's pure decisions: each alert once per batch, what is paged for it and what is recorded."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.events import Alert
from services.analytics.paging.core import SentAlertRow, page_for, sent_row, unique_alerts
from tests.analytics.fakes import assert_row_type_fits

T0 = datetime(2026, 11, 22, 12, tzinfo=UTC)


def test_row_type_is_its_table() -> None:
    assert_row_type_fits(SentAlertRow, "alerts_sent")


def test_an_alert_is_paged_as_it_fired() -> None:
    alert = Alert(
        occurred_at=T0, rule="high_latency", level="warning", message="p95 300 ms", value=300.0,
        threshold=200.0, tags={"rule": "high_latency"},
    )  # fmt: skip
    page = page_for(alert)
    assert (page.rule, page.level, page.message, page.value, page.threshold, page.fired_at) == (
        "high_latency",
        "warning",
        "p95 300 ms",
        300.0,
        200.0,
        T0,
    )
    assert page.tags == {"rule": "high_latency"}
    assert sent_row(alert) == SentAlertRow(alert.event_id, "high_latency", "warning", "p95 300 ms", T0)


def test_an_alert_from_elsewhere_without_figures_reads_as_zero() -> None:
    page = page_for(Alert(rule="external", message="disk full"))
    assert (page.value, page.threshold, page.level) == (0.0, 0.0, "warning")


def test_repeats_in_a_batch_are_paged_once_in_first_seen_order() -> None:
    a, b = Alert(rule="a", message="x"), Alert(rule="b", message="y")
    assert unique_alerts([a, b, a]) == [a, b]
