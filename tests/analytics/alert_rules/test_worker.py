"""The alert rules' handler against the in-memory store: what it asks for, publishes and saves, and
that a failed publish leaves the rules to fire again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.events import Alert, MetricsSnapshot
from services.analytics.alert_rules.core import HIGH_LATENCY, ML_DATA_READY, AlertConfig, Observations
from services.analytics.alert_rules.worker import AlertRulesHandler
from services.analytics.reports.costs import Budgets
from shared.consumer import Consumed
from tests.analytics.alert_rules.fakes import InMemoryAlertStore
from tests.analytics.fakes import Publisher

T0 = datetime(2026, 11, 22, 12, tzinfo=UTC)


def rules(
    store: InMemoryAlertStore, config: AlertConfig | None = None
) -> tuple[AlertRulesHandler, Publisher[Alert]]:
    publisher: Publisher[Alert] = Publisher()
    return AlertRulesHandler(store, publisher, config or AlertConfig(), min_interval_s=0), publisher


async def test_an_evaluation_publishes_what_fires_and_saves_the_state() -> None:
    store = InMemoryAlertStore()
    store.figures = Observations(p95_latency_ms=300.0)
    store.conversations = 12_000
    handler, publisher = rules(store)
    fired = await handler.evaluate(T0)
    assert [alert.rule for alert in fired] == [HIGH_LATENCY, ML_DATA_READY]
    assert [(a.rule, a.occurred_at) for a in publisher.published] == [(HIGH_LATENCY, T0), (ML_DATA_READY, T0)]
    assert store.state.rules[HIGH_LATENCY]["active"] is True
    assert store.state.weekly == {"last_run": T0.isoformat()}
    # Budgets are not set, so usage is never read; the weekly job is done for a week.
    assert store.asked == ["weekly"]
    assert await handler.evaluate(T0 + timedelta(hours=3)) == []
    assert store.asked == ["weekly"]


async def test_usage_is_read_for_the_month_when_a_budget_is_set() -> None:
    store = InMemoryAlertStore()
    handler, _ = rules(store, AlertConfig(budgets=Budgets(monthly_usd=100.0)))
    await handler.evaluate(T0)
    assert store.asked[-1] == "usages 2026-11-01T00:00:00+00:00 2026-11-23T12:00:00+00:00"


async def test_a_failed_publish_saves_nothing_so_the_rule_fires_again() -> None:
    store = InMemoryAlertStore()
    store.figures = Observations(p95_latency_ms=300.0)
    handler, publisher = rules(store)
    publisher.fail = True
    with pytest.raises(ConnectionError):
        await handler.evaluate(T0)
    assert store.state.rules == {} and store.state.weekly == {}
    await handler.evaluate(T0)
    assert [alert.rule for alert in publisher.published] == [HIGH_LATENCY]
    assert store.state.rules[HIGH_LATENCY]["active"] is True


async def test_each_batch_of_snapshots_is_one_evaluation_at_the_current_time() -> None:
    store = InMemoryAlertStore()
    store.figures = Observations(p95_latency_ms=300.0)
    handler, publisher = rules(store)
    snapshot = MetricsSnapshot(window_start=T0, window_end=T0 + timedelta(minutes=1))
    await handler([Consumed(snapshot, "analytics.metrics.v1", 0, offset) for offset in range(3)])
    (alert,) = publisher.published
    assert alert.rule == HIGH_LATENCY
    assert abs((alert.occurred_at - datetime.now(UTC)).total_seconds()) < 60
