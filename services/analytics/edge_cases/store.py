"""The edge-case flagger's store: its port, and the PostgreSQL adapter (`edge_cases`, `prediction_inputs`,
`predictions`), where each batch is one transaction holding its messages' locks.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from services.analytics.edge_cases.core import (
    EdgeCaseBatch,
    FlagRow,
    PredictionInputRow,
    PredictionRow,
    ReadyPrediction,
)
from shared.db import insert_rows, lock_keys, update_rows

# The advisory-lock space of messages (conversation rebuilds use space 0).
MESSAGE_LOCKS = 1


class EdgeCaseWrites(Protocol):
    """The writes of one batch; they all commit together, or none does."""

    async def add(self, batch: EdgeCaseBatch) -> list[FlagRow]:
        """Stores the batch's flags, inputs and predictions; returns the flags that are new."""
        ...

    async def ready_predictions(self, messages: Sequence[UUID]) -> list[ReadyPrediction]:
        """The analyses of `messages` whose input is known and that are not in the prediction log yet."""
        ...

    async def mark_written(self, records: Mapping[UUID, Mapping[str, Any]]) -> None:
        """Records, by analysis event id, that these prediction-log records were appended."""
        ...


class EdgeCaseStore(Protocol):
    def transaction(self, messages: Sequence[UUID]) -> contextlib.AbstractAsyncContextManager[EdgeCaseWrites]:
        """A transaction that holds `messages`' locks: it commits when the block exits without an exception."""
        ...


class PostgresEdgeCaseWrites:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def add(self, batch: EdgeCaseBatch) -> list[FlagRow]:
        inserted = await insert_rows(
            self._connection,
            "edge_cases",
            FlagRow._fields,
            batch.flags,
            conflict="(conversation_id, reason) DO NOTHING",
            returning=("conversation_id", "reason"),
        )
        await insert_rows(
            self._connection,
            "prediction_inputs",
            PredictionInputRow._fields,
            batch.inputs,
            conflict="(message_event_id) DO NOTHING",
        )
        await insert_rows(
            self._connection,
            "predictions",
            PredictionRow._fields,
            batch.predictions,
            conflict="(analysis_event_id) DO NOTHING",
        )
        fresh = {(row["conversation_id"], row["reason"]) for row in inserted}
        return [flag for flag in batch.flags if (flag.conversation_id, flag.reason) in fresh]

    async def ready_predictions(self, messages: Sequence[UUID]) -> list[ReadyPrediction]:
        rows = await self._connection.fetch(
            "SELECT p.analysis_event_id, p.analysis, i.user_text, i.requested_slots "
            "FROM predictions p JOIN prediction_inputs i ON i.message_event_id = p.message_event_id "
            "WHERE p.message_event_id = ANY($1::uuid[]) AND p.written_at IS NULL "
            "ORDER BY p.occurred_at, p.analysis_event_id FOR UPDATE OF p",
            messages,
        )
        return [
            ReadyPrediction(
                row["analysis_event_id"],
                json.loads(row["analysis"]),
                row["user_text"],
                json.loads(row["requested_slots"]),
            )
            for row in rows
        ]

    async def mark_written(self, records: Mapping[UUID, Mapping[str, Any]]) -> None:
        await update_rows(
            self._connection,
            "predictions",
            "analysis_event_id",
            ("record",),
            [(analysis_id, json.dumps(record)) for analysis_id, record in records.items()],
            stamp="written_at",
        )


class PostgresEdgeCaseStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @contextlib.asynccontextmanager
    async def transaction(self, messages: Sequence[UUID]) -> AsyncIterator[PostgresEdgeCaseWrites]:
        async with self._pool.acquire() as connection, connection.transaction():
            # A turn and its analysis may be read by two replicas at once; serialising on the message
            # makes the second transaction see the first one's half and write the record.
            await lock_keys(connection, messages, space=MESSAGE_LOCKS)
            yield PostgresEdgeCaseWrites(connection)
