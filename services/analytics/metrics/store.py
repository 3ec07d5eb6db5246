"""The metrics worker's store: its port, and the PostgreSQL adapter (`metrics_windows`, `metrics_events`,
`metrics_conversations`, `llm_usage`, `surveys`, `labels`), where a batch is one transaction.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Protocol
from uuid import UUID

import asyncpg

from services.analytics.conversation_log.store import refresh_conversation_logs
from services.analytics.metrics.core import (
    ConversationProgress,
    EventClaim,
    LabelRow,
    MetricsFacts,
    ModelAnswer,
    SurveyRow,
    UsageRow,
)
from services.analytics.metrics.windows import MetricsWindow
from shared.db import insert_rows, update_rows

# The column of `message_analyses` holding the model's answer for each labelled task.
ANSWER_COLUMNS = {"tone": "detected_tone", "intent": "detected_intent"}
# Idempotent by construction (the larger count, either handoff), so progress needs no claim.
PROGRESS_CONFLICT = (
    "(conversation_id) DO UPDATE SET turns = greatest(metrics_conversations.turns, EXCLUDED.turns), "
    "human_handoff = metrics_conversations.human_handoff OR EXCLUDED.human_handoff"
)


class MetricsWrites(Protocol):
    """The writes of one batch; they all commit together, or none does."""

    async def store_facts(self, facts: MetricsFacts) -> None:
        """Stores usage, surveys, labels and conversation progress, idempotently."""
        ...

    async def claim(self, claims: Sequence[EventClaim]) -> set[UUID]:
        """Claims events for counting; returns the ids that no earlier batch had claimed."""
        ...

    async def conversations(self, ids: Sequence[UUID]) -> dict[UUID, ConversationProgress]:
        """The stored progress of these conversations (those known)."""
        ...

    async def model_answers(self, message_ids: Sequence[UUID]) -> dict[UUID, ModelAnswer]:
        """The model's answers for these messages (those analysed)."""
        ...

    async def merge(self, windows: Sequence[MetricsWindow]) -> list[MetricsWindow]:
        """Adds partial windows into the stored ones; returns the stored windows as they now are."""
        ...


class MetricsStore(Protocol):
    def transaction(self) -> contextlib.AbstractAsyncContextManager[MetricsWrites]:
        """A transaction that commits when the block exits without an exception."""
        ...


class PostgresMetricsWrites:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def store_facts(self, facts: MetricsFacts) -> None:
        connection = self._connection
        for table, columns, rows in (
            ("llm_usage", UsageRow._fields, facts.usage),
            ("surveys", SurveyRow._fields, facts.surveys),
            ("labels", LabelRow._fields, facts.labels),
        ):
            await insert_rows(connection, table, columns, rows, conflict="(event_id) DO NOTHING")
        await refresh_conversation_logs(connection, facts.feedback_conversations)
        # Applied before the batch's outcomes read them.
        await insert_rows(
            connection,
            "metrics_conversations",
            ConversationProgress._fields,
            facts.progress,
            conflict=PROGRESS_CONFLICT,
        )

    async def claim(self, claims: Sequence[EventClaim]) -> set[UUID]:
        claimed = await insert_rows(
            self._connection,
            "metrics_events",
            EventClaim._fields,
            claims,
            conflict="(event_id) DO NOTHING",
            returning=("event_id",),
        )
        return {row["event_id"] for row in claimed}

    async def conversations(self, ids: Sequence[UUID]) -> dict[UUID, ConversationProgress]:
        if not ids:
            return {}
        rows = await self._connection.fetch(
            "SELECT conversation_id, turns, human_handoff FROM metrics_conversations "
            "WHERE conversation_id = ANY($1::uuid[])",
            ids,
        )
        return {row["conversation_id"]: ConversationProgress(*row) for row in rows}

    async def model_answers(self, message_ids: Sequence[UUID]) -> dict[UUID, ModelAnswer]:
        if not message_ids:
            return {}
        rows = await self._connection.fetch(
            "SELECT message_event_id, detected_tone, detected_intent FROM message_analyses "
            "WHERE message_event_id = ANY($1::uuid[])",
            message_ids,
        )
        return {
            row["message_event_id"]: {task: row[column] for task, column in ANSWER_COLUMNS.items()}
            for row in rows
        }

    async def merge(self, windows: Sequence[MetricsWindow]) -> list[MetricsWindow]:
        connection = self._connection
        starts = [window.start for window in windows]
        await insert_rows(
            connection,
            "metrics_windows",
            ("window_start", "window_end", "state"),
            [
                (window.start, window.end, json.dumps(MetricsWindow(window.start, window.end).to_json()))
                for window in windows
            ],
            conflict="(window_start) DO NOTHING",
        )
        # Locked in start order, so replicas merging into the same windows cannot deadlock.
        rows = await connection.fetch(
            "SELECT window_start, state FROM metrics_windows WHERE window_start = ANY($1::timestamptz[]) "
            "ORDER BY window_start FOR UPDATE",
            starts,
        )
        stored = {row["window_start"]: MetricsWindow.from_json(json.loads(row["state"])) for row in rows}
        merged = []
        for window in windows:
            total = stored[window.start]
            total.merge(window)
            merged.append(total)
        await update_rows(
            connection,
            "metrics_windows",
            "window_start",
            ("state",),
            [(window.start, json.dumps(window.to_json())) for window in merged],
            stamp="updated_at",
        )
        return merged


class PostgresMetricsStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresMetricsWrites]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield PostgresMetricsWrites(connection)
