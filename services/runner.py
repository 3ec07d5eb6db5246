"""Runs one worker kind until SIGINT/SIGTERM: builds its adapters, registers its handlers, drains on stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable

from faststream.kafka import KafkaBroker

from services.worker_kinds import WORKER_KINDS
from shared.db import create_pool, migrate_database
from shared.kafka import create_broker, create_topics
from shared.redis_client import create_redis
from shared.settings import Settings

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def worker_resources(kind: str, settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    """Wire a worker kind's adapters into the broker; heavy resources are built once, here."""
    if kind == "ingest":
        from services.ingest.state import IngestState
        from services.ingest.worker import register as register_ingest

        redis = create_redis(settings)
        try:
            register_ingest(broker, IngestState(redis, ttl_seconds=settings.dedup_ttl_seconds))
            yield
        finally:
            await redis.aclose()
    elif kind == "logger":
        from services.analytics.logger_store import ConversationLogStore
        from services.analytics.logger_worker import register as register_logger

        await migrate_database(settings)
        pool = await create_pool(settings)
        try:
            register_logger(broker, ConversationLogStore(pool))
            yield
        finally:
            await pool.close()
    else:
        raise ValueError(f"unknown worker kind {kind!r}; known: {', '.join(WORKER_KINDS)}")


async def run_worker(kind: str, settings: Settings, *, ready: Callable[[], None] | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await create_topics(settings)
    broker = create_broker(settings)
    async with worker_resources(kind, settings, broker):
        await broker.start()
        log.info("worker started", extra={"kind": kind})
        if ready is not None:
            ready()
        try:
            await stop.wait()
        finally:
            # Stopping the broker finishes the batch in hand and commits it before closing.
            await broker.stop()
            log.info("worker stopped", extra={"kind": kind})
