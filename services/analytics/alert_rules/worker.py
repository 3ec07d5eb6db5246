"""The `alerts` worker kind: on each batch of MetricsSnapshots it evaluates the alert rules and budgets and
publishes what fires to `analytics.alerts.v1`, with the rules' state kept in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

from faststream.kafka import KafkaBroker

from schemas import topics
from schemas.events import Alert, MetricsSnapshot
from schemas.workers import consumer_group
from services.analytics.alert_rules.core import (
    AlertConfig,
    AlertInputs,
    AlertThresholds,
    FiredAlert,
    alert_event,
    budget_period,
    evaluate,
    weekly_due,
)
from services.analytics.alert_rules.store import AlertStore, PostgresAlertStore, ServedReference
from services.analytics.reports.costs import Budgets, PriceTable
from services.common.champion import open_registry_for_workers
from services.common.registry import CHAMPION, ModelRegistry
from shared.consumer import BACKGROUND_FETCH_WAIT_MS, Consumed, publish_events, subscribe_batch
from shared.db import create_pool
from shared.settings import Settings

log = logging.getLogger(__name__)
GROUP_ID = consumer_group("alerts")
# The models the drift check watches, by their registry names.
WATCHED_MODELS = ("nlp", "escalation")
# Snapshots arrive several times a second under load; the rules need not be evaluated more often.
MIN_EVALUATION_INTERVAL_S = 1.0

PublishAlerts = Callable[[Sequence[Alert]], Awaitable[None]]


def alert_config(settings: Settings) -> AlertConfig:
    return AlertConfig(
        thresholds=AlertThresholds(
            ml_data_ready_conversations=settings.alert_ml_ready_conversations,
            min_tone_accuracy=settings.alert_min_tone_accuracy,
            max_p95_latency_ms=settings.alert_max_p95_latency_ms,
            gpu_needed_conversations_per_day=settings.alert_gpu_conversations_per_day,
            max_accuracy_drop=settings.alert_max_accuracy_drop,
        ),
        cooldown=timedelta(seconds=settings.alert_cooldown_seconds),
        budgets=Budgets(settings.budget_daily_usd, settings.budget_monthly_usd),
        prices=PriceTable.load(settings.prices_file),
    )


class AlertRulesHandler:
    """Evaluates every rule in one transaction that holds the persisted state locked."""

    def __init__(
        self,
        store: AlertStore,
        publish: PublishAlerts,
        config: AlertConfig,
        *,
        min_interval_s: float = MIN_EVALUATION_INTERVAL_S,
    ) -> None:
        self._store = store
        self._publish = publish
        self._config = config
        self._min_interval_s = min_interval_s
        self._last_evaluation = 0.0

    async def __call__(self, batch: list[Consumed[MetricsSnapshot]]) -> None:
        # Every batch is evaluated, but not sooner than the interval after the last one: waiting here lets
        # the snapshots that arrive meanwhile pile up into the next batch, which one evaluation covers.
        wait = self._min_interval_s - (time.monotonic() - self._last_evaluation)
        if wait > 0:
            await asyncio.sleep(wait)
        await self.evaluate(datetime.now(UTC))
        self._last_evaluation = time.monotonic()

    async def evaluate(self, now: datetime) -> list[FiredAlert]:
        async with self._store.transaction() as transaction:
            state = await transaction.load_state()
            inputs = AlertInputs(
                observations=await transaction.observations(now),
                weekly_conversations=(
                    await transaction.weekly_conversations(now) if weekly_due(state, now) else None
                ),
                usages=await transaction.usages(*budget_period(now)) if self._config.has_budget else (),
            )
            result = evaluate(self._config, state, inputs, now)
            # Published before the state commits: a failed publish leaves the rules unfired, to fire again.
            await self._publish([alert_event(alert) for alert in result.fired])
            await transaction.save_state(result.state)
        return result.fired


def _alert_key(alert: Alert) -> bytes:
    return alert.rule.encode()


def register(broker: KafkaBroker, store: AlertStore, config: AlertConfig) -> None:
    publish = partial(publish_events, broker, topics.ANALYTICS_ALERTS, key_of=_alert_key)
    subscribe_batch(
        broker,
        models={topics.ANALYTICS_METRICS: MetricsSnapshot},
        group_id=GROUP_ID,
        stage="alerts",
        dlq_topic=topics.ANALYTICS_DLQ,
        handle=AlertRulesHandler(store, publish, config),
        outputs={topics.ANALYTICS_ALERTS: Alert},
        title="alerts",
        description="Evaluates the ML guide's alert rules and the budgets on each batch of metrics snapshots.",
        fetch_wait_ms=BACKGROUND_FETCH_WAIT_MS,
    )


class RegistryReferences:
    """The served models' registered references, asked of the registry at most every `refresh_s` seconds (the
    workers' own refresh period), so a promotion changes the reference as it changes the model."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._registry: ModelRegistry | None = None
        self._cached: list[ServedReference] = []
        self._fetched_at: float | None = None

    async def __call__(self) -> list[ServedReference]:
        now = time.monotonic()
        if self._fetched_at is None or now - self._fetched_at >= self._settings.model_refresh_s:
            try:
                self._cached = await asyncio.to_thread(self._read)
            except Exception:
                # A registry outage must not stop the other rules; the last references stay in use.
                log.warning("could not read the model registry for the drift check", exc_info=True)
            self._fetched_at = now
        return self._cached

    def _read(self) -> list[ServedReference]:
        if self._registry is None:
            self._registry = open_registry_for_workers(self._settings)
            if self._registry is None:
                return []
        served = []
        for name in WATCHED_MODELS:
            champion = self._registry.by_alias(name, CHAMPION)
            if champion is not None and (champion.reference or "gold_intent_accuracy" in champion.metrics):
                served.append(
                    ServedReference(
                        name,
                        champion.version,
                        champion.model_version or "",
                        champion.reference,
                        champion.metrics.get("gold_intent_accuracy"),
                    )
                )
        return served


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    pool = await create_pool(settings)
    try:
        register(broker, PostgresAlertStore(pool, RegistryReferences(settings)), alert_config(settings))
        yield
    finally:
        await pool.close()
