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
from services.analytics.metrics.windows import DAY, HOUR, MetricsWindow, rollup_windows
from shared.db import insert_rows, lock_keys, quote, update_rows

# The column of `message_analyses` holding the model's answer for each labelled task.
ANSWER_COLUMNS = {"tone": "detected_tone", "intent": "detected_intent"}
# Idempotent by construction (the larger count, either handoff), so progress needs no claim.
PROGRESS_CONFLICT = (
    "(conversation_id) DO UPDATE SET turns = greatest(metrics_conversations.turns, EXCLUDED.turns), "
    "human_handoff = metrics_conversations.human_handoff OR EXCLUDED.human_handoff"
)
# The stored windows: one-minute ones, and the same counts rolled up per UTC hour and per UTC day (same
# columns), which is what a dashboard reads for a day (24 rows) or a month (30 rows rather than 43,200).
MINUTE_WINDOWS = "metrics_windows"
ROLLUPS = (("metrics_hourly_windows", HOUR), ("metrics_daily_windows", DAY))
# Advisory-lock space of the conversations whose LLM usage a batch adds to `llm_usage_hourly`.
USAGE_LOCK_SPACE = 4_211
# `llm_usage_hourly` holds the priced tokens per UTC hour, provider and model, under the costs report's rule
# (reports/queries.py USAGE_SQL): a conversation's LLM ServiceCalls, or its AI messages when it reports no LLM
# ServiceCall. A batch adds, for each conversation it touched, that rule's total over the conversation's rows
# now less the same over its rows without the batch's new ones ($2): the first ServiceCall of a conversation
# takes its AI messages back out. Prices stay out of it: they apply when read, per model and UTC day.
USAGE_HOURLY_DELTA_SQL = """
WITH rows AS (
    SELECT u.*, u.event_id = ANY($2::uuid[]) AS new,
           bool_or(u.source = 'service_call') OVER (PARTITION BY u.conversation_id) AS calls_now,
           coalesce(bool_or(u.source = 'service_call') FILTER (WHERE u.event_id <> ALL($2::uuid[]))
                    OVER (PARTITION BY u.conversation_id), false) AS calls_before
    FROM llm_usage u
    WHERE u.conversation_id = ANY($1::uuid[])
),
signed AS (
    SELECT date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour_start, provider, model,
           tokens_in, tokens_out,
           (source = 'service_call' OR NOT calls_now)::int
             - (NOT new AND (source = 'service_call' OR NOT calls_before))::int AS sign
    FROM rows
)
INSERT INTO llm_usage_hourly (hour_start, provider, model, tokens_in, tokens_out)
SELECT hour_start, provider, model, sum(sign * tokens_in), sum(sign * tokens_out)
FROM signed WHERE sign <> 0
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
ON CONFLICT (hour_start, provider, model) DO UPDATE SET
    tokens_in = llm_usage_hourly.tokens_in + EXCLUDED.tokens_in,
    tokens_out = llm_usage_hourly.tokens_out + EXCLUDED.tokens_out
"""


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
        await self._store_usage(facts.usage)
        for table, columns, rows in (
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

    async def _store_usage(self, rows: Sequence[UsageRow]) -> None:
        """The usage rows, and what the new ones change in the hourly priced tokens.

        The touched conversations are locked first: a replica adding a ServiceCall and another adding an AI
        message of the same conversation would each miss the other's row and count the message's tokens.
        """
        if not rows:
            return
        conversations = sorted({row.conversation_id for row in rows}, key=str)
        await lock_keys(self._connection, conversations, space=USAGE_LOCK_SPACE)
        new = await insert_rows(
            self._connection,
            "llm_usage",
            UsageRow._fields,
            rows,
            conflict="(event_id) DO NOTHING",
            returning=("event_id",),
        )
        if new:
            await self._connection.execute(
                USAGE_HOURLY_DELTA_SQL, conversations, [row["event_id"] for row in new]
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
        merged = await self._merge_into(MINUTE_WINDOWS, windows)
        # The rollups in the same transaction, after the minute rows: every replica locks minutes first,
        # then hours, then days, each in start order, so none can wait for another in a cycle.
        for table, length in ROLLUPS:
            await self._merge_into(table, rollup_windows(windows, length))
        return merged

    async def _merge_into(self, table: str, windows: Sequence[MetricsWindow]) -> list[MetricsWindow]:
        """Adds partial windows into `table`'s stored ones; returns the stored windows as they now are."""
        connection = self._connection
        starts = [window.start for window in windows]
        await insert_rows(
            connection,
            table,
            ("window_start", "window_end", "state"),
            [
                (window.start, window.end, json.dumps(MetricsWindow(window.start, window.end).to_json()))
                for window in windows
            ],
            conflict="(window_start) DO NOTHING",
        )
        # Locked in start order, so replicas merging into the same windows cannot deadlock. The table name
        # is one of this module's constants.
        rows = await connection.fetch(
            f"SELECT window_start, state FROM {quote(table)} "  # noqa: S608
            "WHERE window_start = ANY($1::timestamptz[]) ORDER BY window_start FOR UPDATE",
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
            table,
            "window_start",
            ("state",),
            [(window.start, json.dumps(window.to_json())) for window in merged],
            stamp="updated_at",
        )
        return merged


async def rebuild_rollups(connection: asyncpg.Connection) -> int:
    """Rebuilds the hourly and daily rollups from the stored one-minute windows, and the hourly LLM usage from
    `llm_usage`; returns the hours written.

    For a database whose minute windows were written before the rollups existed (migration 0005), or loaded
    around the metrics worker. Run it in a transaction; it locks the rollups against the worker meanwhile.
    """
    for table, _ in ROLLUPS:
        await connection.execute(f"LOCK TABLE {quote(table)} IN EXCLUSIVE MODE")
    rows = await connection.fetch(f"SELECT state FROM {quote(MINUTE_WINDOWS)} ORDER BY window_start")  # noqa: S608
    minutes = [MetricsWindow.from_json(json.loads(row["state"])) for row in rows]
    written = {}
    for table, length in ROLLUPS:
        rolled = rollup_windows(minutes, length)
        await connection.execute(f"DELETE FROM {quote(table)}")  # noqa: S608
        await insert_rows(
            connection,
            table,
            ("window_start", "window_end", "state"),
            [(window.start, window.end, json.dumps(window.to_json())) for window in rolled],
        )
        written[length] = len(rolled)
    await rebuild_usage_hourly(connection)
    return written[HOUR]


# Migration 0005's backfill: the whole of `llm_usage` under the costs report's rule, per hour and model.
USAGE_HOURLY_REBUILD_SQL = """
INSERT INTO llm_usage_hourly (hour_start, provider, model, tokens_in, tokens_out)
SELECT date_trunc('hour', u.occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', u.provider, u.model,
       sum(u.tokens_in), sum(u.tokens_out)
FROM llm_usage u
WHERE u.source = 'service_call' OR NOT EXISTS (
    SELECT 1 FROM llm_usage c WHERE c.conversation_id = u.conversation_id AND c.source = 'service_call')
GROUP BY 1, 2, 3
"""


async def rebuild_usage_hourly(connection: asyncpg.Connection) -> None:
    """Rebuilds `llm_usage_hourly` from `llm_usage` (rows loaded around the metrics worker, e.g. by COPY).
    Run it in a transaction; it locks the rollup against the worker meanwhile."""
    await connection.execute("LOCK TABLE llm_usage_hourly IN EXCLUSIVE MODE")
    await connection.execute("DELETE FROM llm_usage_hourly")
    await connection.execute(USAGE_HOURLY_REBUILD_SQL)


class PostgresMetricsStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresMetricsWrites]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield PostgresMetricsWrites(connection)
