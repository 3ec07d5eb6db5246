"""Runs one worker kind until SIGINT/SIGTERM: builds its adapters, registers its handlers, drains on stop."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import Callable

from faststream.kafka import KafkaBroker

from schemas.workers import WORKER_KINDS, WORKERS_BY_KIND
from shared.gc_tuning import freeze_start_up_heap
from shared.kafka import create_broker, create_topics
from shared.settings import Settings

# Builds a worker's adapters, registers its handlers on the broker, and closes them on exit.
WorkerLifespan = Callable[[Settings, KafkaBroker], contextlib.AbstractAsyncContextManager[None]]

log = logging.getLogger(__name__)


def worker_lifespan(kind: str) -> WorkerLifespan:
    spec = WORKERS_BY_KIND.get(kind)
    if spec is None:
        raise ValueError(f"unknown worker kind {kind!r}; known: {', '.join(WORKER_KINDS)}")
    lifespan: WorkerLifespan = importlib.import_module(spec.module).lifespan
    return lifespan


async def run_worker(kind: str, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await create_topics(settings)
    broker = create_broker(settings)
    async with worker_lifespan(kind)(settings, broker):
        freeze_start_up_heap()
        await broker.start()
        log.info("worker started", extra={"kind": kind})
        try:
            await stop.wait()
        finally:
            # Stopping the broker finishes the batch in hand and commits it before closing.
            await broker.stop()
            log.info("worker stopped", extra={"kind": kind})
