"""`GET /metrics`: the analytics figures of the last hour in Prometheus' text format, as a router to mount.

The app layer mounts it on the HTTP server behind the front door's token. Only this route reads the
database, so its connection pool lives here, in the router's lifespan.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from fastapi import APIRouter, HTTPException, status
from fastapi.responses import Response

from services.analytics.metrics.prometheus import render_prometheus
from services.analytics.reports.queries import merged_window
from shared.db import create_pool
from shared.settings import Settings

log = logging.getLogger(__name__)

# `/metrics` shows the stored one-minute windows of this span merged: enough traffic for stable rates
# and percentiles, recent enough to be "current".
METRICS_SPAN = timedelta(hours=1)
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A database that does not answer must not hold a scrape longer than Prometheus' default timeout (10 s).
METRICS_QUERY_TIMEOUT_S = 5.0


def metrics_router(settings: Settings) -> APIRouter:
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        nonlocal pool
        # min_size=0 connects on the first scrape, so a database that is down costs /metrics a 503 and
        # never stops the server from starting or the front door from taking events.
        pool = await create_pool(settings, min_size=0, max_size=2) if settings.database_url else None
        try:
            yield
        finally:
            if pool is not None:
                await pool.close()

    router = APIRouter(lifespan=lifespan)

    @router.get("/metrics")
    async def metrics() -> Response:
        if pool is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no database is configured")
        now = datetime.now(UTC)
        try:
            async with asyncio.timeout(METRICS_QUERY_TIMEOUT_S):
                window = await merged_window(pool, now - METRICS_SPAN, now)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as error:
            log.warning("metrics query failed", extra={"error": type(error).__name__})
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the database is unavailable") from None
        body = render_prometheus(window.figures() if window else None)
        return Response(body, media_type=PROMETHEUS_CONTENT_TYPE)

    return router
