"""The `alerting` worker kind: each Alert on `analytics.alerts.v1` is paged once, to Sentry (one issue per
rule, PII scrubbed) or to the log when SENTRY_DSN is not set.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from faststream.kafka import KafkaBroker

from schemas import topics
from schemas.events import Alert
from schemas.workers import consumer_group
from services.analytics.paging.core import page_for, sent_row, unique_alerts
from services.analytics.paging.sentry import AlertSink, Pager
from services.analytics.paging.store import PagingLedger, PostgresPagingLedger
from shared.consumer import BACKGROUND_FETCH_WAIT_MS, Consumed, subscribe_batch
from shared.db import create_pool
from shared.settings import Settings

GROUP_ID = consumer_group("alerting")


class PagingHandler:
    def __init__(self, ledger: PagingLedger, pager: Pager) -> None:
        self._ledger = ledger
        self._pager = pager

    async def __call__(self, batch: list[Consumed[Alert]]) -> None:
        alerts = unique_alerts(item.event for item in batch)
        async with self._ledger.transaction() as ledger:
            # Claimed in the transaction that records the send: a redelivered alert finds its row and is
            # not sent again; a batch that fails before commit is sent on redelivery.
            new = await ledger.claim([sent_row(alert) for alert in alerts])
            page_ids = {
                alert.event_id: self._pager.send(page_for(alert), {"event_id": str(alert.event_id)})
                for alert in alerts
                if alert.event_id in new
            }
            if page_ids:
                await ledger.record_sent(page_ids)
                # The transport sends from its own thread; waiting here keeps a page from being lost on exit.
                await asyncio.to_thread(self._pager.flush)


def register(broker: KafkaBroker, ledger: PagingLedger, pager: Pager) -> None:
    subscribe_batch(
        broker,
        models={topics.ANALYTICS_ALERTS: Alert},
        group_id=GROUP_ID,
        stage="alerting",
        dlq_topic=topics.ANALYTICS_DLQ,
        handle=PagingHandler(ledger, pager),
        title="alerting",
        description="Sends each alert to Sentry once (fingerprint = rule, PII scrubbed), or logs it.",
        fetch_wait_ms=BACKGROUND_FETCH_WAIT_MS,
    )


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    pool = await create_pool(settings, max_size=2)
    dsn = settings.sentry_dsn.get_secret_value() if settings.sentry_dsn else None
    sink = AlertSink(dsn, environment="teppan")
    try:
        register(broker, PostgresPagingLedger(pool), sink)
        yield
    finally:
        await asyncio.to_thread(sink.close)
        await pool.close()
