"""The paging handler against the in-memory ledger and pager: each alert paged once, and paged again
after a batch that failed before it committed.
"""

from __future__ import annotations

import pytest

from schemas.events import Alert
from services.analytics.paging.worker import PagingHandler
from shared.consumer import Consumed
from tests.analytics.paging.fakes import InMemoryPagingLedger, RecordingPager


def batch(*alerts: Alert) -> list[Consumed[Alert]]:
    return [Consumed(alert, "analytics.alerts.v1", 0, offset) for offset, alert in enumerate(alerts)]


async def test_each_alert_is_paged_once_and_its_page_recorded() -> None:
    ledger, pager = InMemoryPagingLedger(), RecordingPager()
    handler = PagingHandler(ledger, pager)
    latency, drift = Alert(rule="high_latency", message="slow"), Alert(rule="model_drift", message="drift")
    await handler(batch(latency, drift, latency))
    assert [(page.rule, extra) for page, extra in pager.pages] == [
        ("high_latency", {"event_id": str(latency.event_id)}),
        ("model_drift", {"event_id": str(drift.event_id)}),
    ]
    assert ledger.page_ids == {latency.event_id: "page-1", drift.event_id: "page-2"}
    assert pager.flushes == 1
    await handler(batch(drift))
    assert len(pager.pages) == 2 and pager.flushes == 1


async def test_a_batch_that_fails_before_commit_is_paged_on_redelivery() -> None:
    ledger, pager = InMemoryPagingLedger(), RecordingPager()
    handler = PagingHandler(ledger, pager)
    first, second = Alert(rule="a", message="x"), Alert(rule="b", message="y")
    pager.fail = True
    with pytest.raises(ConnectionError):
        await handler(batch(first, second))
    assert ledger.sent == {} and pager.pages == []
    await handler(batch(first, second))
    assert [page.rule for page, _ in pager.pages] == ["a", "b"]
