"""The alert rules' Kafka edge: on each batch of MetricsSnapshots it evaluates seed 000's rules and the
budgets from PostgreSQL, and publishes what fires to `analytics.alerts.v1`, with cooldowns kept in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker

from schemas import topics
from schemas.events import Alert, MetricsSnapshot
from services.analytics import queries
from services.analytics.alerts import AlertEngine, AlertThresholds, FiredAlert, Observations, budget_alert
from services.analytics.costs import Budgets, BudgetTracker, PriceTable, period_spend
from services.worker_kinds import consumer_group
from shared.consumer import Consumed, publish_events, subscribe_batch
from shared.db import create_pool, migrate_database
from shared.settings import Settings

GROUP_ID = consumer_group("alerts")
# high_latency looks at the p95 of the last few minutes: long enough for a stable p95, short enough to page
# while it is happening.
LATENCY_WINDOW = timedelta(minutes=5)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
# Snapshots arrive several times a second under load; the rules need not be evaluated more often.
MIN_EVALUATION_INTERVAL_S = 1.0
STATE_NAMES = ("rules", "budget", "weekly")


def alert_event(alert: FiredAlert) -> Alert:
    return Alert(
        occurred_at=alert.fired_at,
        source="teppan-alerts",
        rule=alert.rule,
        # FiredAlert may say "debug", which no rule uses; Alert starts at "info".
        level="info" if alert.level == "debug" else alert.level,
        message=alert.message,
        value=alert.value,
        threshold=alert.threshold,
        tags=dict(alert.tags),
    )


async def observations(connection: Any, now: datetime) -> Observations:
    """The rules' live figures, summed in SQL from the stored windows (the p95 from merged sketches)."""
    day = await connection.fetchrow(
        "SELECT count(*) AS windows, coalesce(sum((state->>'conversations')::int), 0) AS conversations,"
        " coalesce(sum((state->'labelled'->>'tone')::int), 0) AS tone_labelled,"
        " coalesce(sum((state->'correct'->>'tone')::int), 0) AS tone_correct "
        "FROM metrics_windows WHERE window_start >= $1 AND window_start <= $2",
        now - DAY,
        now,
    )
    recent = await queries.merged_window(connection, now - LATENCY_WINDOW, now)
    p95 = recent.nlp_latency_ms.quantile(0.95) if recent and recent.nlp_latency_ms.count else None
    return Observations(
        tone_accuracy=day["tone_correct"] / day["tone_labelled"] if day["tone_labelled"] else None,
        p95_latency_ms=p95,
        conversations_per_day=int(day["conversations"]) if day["windows"] else None,
        # model_drift needs a registered baseline accuracy; no model registry exists yet, so it stays idle.
    )


class AlertRules:
    """Evaluates every rule in one transaction that holds the persisted state rows locked."""

    def __init__(self, pool: asyncpg.Pool, broker: KafkaBroker, settings: Settings) -> None:
        self._pool = pool
        self._broker = broker
        self._thresholds = AlertThresholds(
            ml_data_ready_conversations=settings.alert_ml_ready_conversations,
            min_tone_accuracy=settings.alert_min_tone_accuracy,
            max_p95_latency_ms=settings.alert_max_p95_latency_ms,
            gpu_needed_conversations_per_day=settings.alert_gpu_conversations_per_day,
            max_accuracy_drop=settings.alert_max_accuracy_drop,
        )
        self._cooldown = timedelta(seconds=settings.alert_cooldown_seconds)
        self._budgets = Budgets(settings.budget_daily_usd, settings.budget_monthly_usd)
        self._prices = PriceTable.load(settings.prices_file)
        self._last_evaluation = 0.0

    async def __call__(self, batch: list[Consumed[MetricsSnapshot]]) -> None:
        # Every batch is evaluated, but not sooner than the interval after the last one: waiting here lets
        # the snapshots that arrive meanwhile pile up into the next batch, which one evaluation covers.
        wait = MIN_EVALUATION_INTERVAL_S - (time.monotonic() - self._last_evaluation)
        if wait > 0:
            await asyncio.sleep(wait)
        await self.evaluate(datetime.now(UTC))
        self._last_evaluation = time.monotonic()

    async def evaluate(self, now: datetime) -> list[FiredAlert]:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO alert_state (name, state) SELECT unnest($1::text[]), '{}'::jsonb "
                "ON CONFLICT (name) DO NOTHING",
                list(STATE_NAMES),
            )
            rows = await connection.fetch(
                "SELECT name, state FROM alert_state WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE",
                list(STATE_NAMES),
            )
            state = {row["name"]: json.loads(row["state"]) for row in rows}
            engine = AlertEngine(self._thresholds, default_cooldown=self._cooldown, state=state["rules"])
            fired = engine.evaluate(await observations(connection, now), now)
            weekly = state["weekly"]
            last = weekly.get("last_run")
            if last is None or now - datetime.fromisoformat(last) >= WEEK:
                # The weekly job: ml_data_ready is judged on the readiness counts once a week.
                report = await queries.readiness(connection, now)
                total = report["counts"]["conversations"]
                fired += engine.evaluate(Observations(total_conversations=total), now)
                weekly = {"last_run": now.isoformat()}
            tracker = BudgetTracker(self._budgets, state=state["budget"])
            if self._budgets.daily_usd or self._budgets.monthly_usd:
                month = queries.day_start(now.date().replace(day=1))
                usages = await queries.usages(connection, month, now + DAY)
                daily, monthly = period_spend(usages, self._prices, now.date())
                fired += [
                    budget_alert(crossing, now)
                    for crossing in tracker.observe(daily_used=daily, monthly_used=monthly, at=now)
                ]
            # Published before the state commits: a failed publish leaves the rules unfired, to fire again.
            await publish_events(
                self._broker,
                topics.ANALYTICS_ALERTS,
                [alert_event(alert) for alert in fired],
                key_of=lambda alert: alert.rule.encode(),
            )
            await connection.execute(
                "UPDATE alert_state SET state = s.state, updated_at = clock_timestamp() "
                "FROM unnest($1::text[], $2::jsonb[]) AS s(name, state) WHERE alert_state.name = s.name",
                ["rules", "budget", "weekly"],
                [json.dumps(engine.state()), json.dumps(tracker.state()), json.dumps(weekly)],
            )
        return fired


def register(broker: KafkaBroker, rules: AlertRules) -> None:
    subscribe_batch(
        broker,
        models={topics.ANALYTICS_METRICS: MetricsSnapshot},
        group_id=GROUP_ID,
        stage="alerts",
        dlq_topic=topics.ANALYTICS_DLQ,
        handle=rules,
        outputs={topics.ANALYTICS_ALERTS: Alert},
        title="alerts",
        description="Evaluates seed 000's alert rules and the budgets on each batch of metrics snapshots.",
    )


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    await migrate_database(settings)
    pool = await create_pool(settings)
    try:
        register(broker, AlertRules(pool, broker, settings))
        yield
    finally:
        await pool.close()
