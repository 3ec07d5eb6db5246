"""The alerting worker's Kafka edge: each Alert on `analytics.alerts.v1` goes to Sentry once (one issue per
rule, PII scrubbed), or to the log when SENTRY_DSN is not set.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
from faststream.kafka import KafkaBroker

from schemas import topics
from schemas.events import Alert
from services.analytics.alerts import FiredAlert
from services.analytics.sentry_sink import AlertSink
from services.worker_kinds import consumer_group
from shared.consumer import Consumed, subscribe_batch
from shared.db import create_pool, migrate_database
from shared.settings import Settings

GROUP_ID = consumer_group("alerting")


def fired(alert: Alert) -> FiredAlert:
    return FiredAlert(
        rule=alert.rule,
        level=alert.level,
        message=alert.message,
        # Teppan's own rules always set both; an alert from elsewhere without them reads as 0.
        value=alert.value or 0.0,
        threshold=alert.threshold or 0.0,
        fired_at=alert.occurred_at,
        tags=alert.tags,
    )


class AlertingHandler:
    def __init__(self, pool: asyncpg.Pool, sink: AlertSink) -> None:
        self._pool = pool
        self._sink = sink

    async def __call__(self, batch: list[Consumed[Alert]]) -> None:
        alerts = list({item.event.event_id: item.event for item in batch}.values())
        async with self._pool.acquire() as connection, connection.transaction():
            # Claimed in the transaction that records the send: a redelivered alert finds its row and is
            # not sent again; a batch that fails before commit is sent on redelivery.
            claimed = await connection.fetch(
                "INSERT INTO alerts_sent (event_id, rule, level, message, fired_at) "
                "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) "
                "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                [a.event_id for a in alerts],
                [a.rule for a in alerts],
                [a.level for a in alerts],
                [a.message for a in alerts],
                [a.occurred_at for a in alerts],
            )
            new = {row["event_id"] for row in claimed}
            sent = [
                (a.event_id, self._sink.send(fired(a), {"event_id": str(a.event_id)}))
                for a in alerts
                if a.event_id in new
            ]
            if sent:
                await connection.execute(
                    "UPDATE alerts_sent SET sentry_event_id = s.sentry_id "
                    "FROM unnest($1::uuid[], $2::text[]) AS s(id, sentry_id) WHERE alerts_sent.event_id = s.id",
                    [event_id for event_id, _ in sent],
                    [sentry_id for _, sentry_id in sent],
                )
                # The transport sends from its own thread; waiting here keeps a page from being lost on exit.
                await asyncio.to_thread(self._sink.flush)


def register(broker: KafkaBroker, handler: AlertingHandler) -> None:
    subscribe_batch(
        broker,
        models={topics.ANALYTICS_ALERTS: Alert},
        group_id=GROUP_ID,
        stage="alerting",
        dlq_topic=topics.ANALYTICS_DLQ,
        handle=handler,
        title="alerting",
        description="Sends each alert to Sentry once (fingerprint = rule, PII scrubbed), or logs it.",
    )


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    await migrate_database(settings)
    pool = await create_pool(settings, max_size=2)
    dsn = settings.sentry_dsn.get_secret_value() if settings.sentry_dsn else None
    sink = AlertSink(dsn, environment="teppan")
    try:
        register(broker, AlertingHandler(pool, sink))
        yield
    finally:
        await asyncio.to_thread(sink.close)
        await pool.close()
