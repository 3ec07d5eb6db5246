"""Paging's ledger: its port, and the PostgreSQL adapter recording in `alerts_sent` which alerts were sent."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol
from uuid import UUID

import asyncpg

from services.analytics.paging.core import SentAlertRow
from shared.db import insert_rows, update_rows


class PagingTransaction(Protocol):
    """Claims and sends of one batch; they commit together, or none does."""

    async def claim(self, alerts: Sequence[SentAlertRow]) -> set[UUID]:
        """Claims alerts for sending; returns the event ids no earlier batch had claimed."""
        ...

    async def record_sent(self, page_ids: Mapping[UUID, str | None]) -> None:
        """Records each claimed alert's page id at the receiving end (None when it was only logged)."""
        ...


class PagingLedger(Protocol):
    def transaction(self) -> contextlib.AbstractAsyncContextManager[PagingTransaction]:
        """A transaction that commits when the block exits without an exception."""
        ...


class PostgresPagingTransaction:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def claim(self, alerts: Sequence[SentAlertRow]) -> set[UUID]:
        claimed = await insert_rows(
            self._connection,
            "alerts_sent",
            SentAlertRow._fields,
            alerts,
            conflict="(event_id) DO NOTHING",
            returning=("event_id",),
        )
        return {row["event_id"] for row in claimed}

    async def record_sent(self, page_ids: Mapping[UUID, str | None]) -> None:
        await update_rows(
            self._connection, "alerts_sent", "event_id", ("sentry_event_id",), list(page_ids.items())
        )


class PostgresPagingLedger:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresPagingTransaction]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield PostgresPagingTransaction(connection)
