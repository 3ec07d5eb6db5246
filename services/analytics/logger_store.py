"""The conversation logger's PostgreSQL adapter: one transaction per batch, COPY in, idempotent upserts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from services.analytics.logger_core import ANALYSIS_COLUMNS, MESSAGE_COLUMNS, OUTCOME_COLUMNS


def _column_list(columns: Sequence[str]) -> str:
    return ", ".join(columns)


# Temporary staging tables let COPY (fast) feed INSERT ... ON CONFLICT (idempotent).
STAGING = {
    "messages": MESSAGE_COLUMNS,
    "message_analyses": ANALYSIS_COLUMNS,
    "outcomes": OUTCOME_COLUMNS,
}
# Only module-constant identifiers are interpolated here; every value goes through COPY or $n parameters.
UPSERTS = {
    "messages": f"INSERT INTO messages ({_column_list(MESSAGE_COLUMNS)}) "  # noqa: S608
    f"SELECT {_column_list(MESSAGE_COLUMNS)} FROM staging_messages ON CONFLICT (event_id) DO NOTHING",
    "outcomes": f"INSERT INTO outcomes ({_column_list(OUTCOME_COLUMNS)}) "  # noqa: S608
    f"SELECT {_column_list(OUTCOME_COLUMNS)} FROM staging_outcomes ON CONFLICT (event_id) DO NOTHING",
    # An ML-path analysis supersedes the fast one; a redelivered fast one changes nothing.
    "message_analyses": f"INSERT INTO message_analyses ({_column_list(ANALYSIS_COLUMNS)}) "  # noqa: S608
    f"SELECT {_column_list(ANALYSIS_COLUMNS)} FROM staging_message_analyses "
    "ON CONFLICT (message_event_id) DO UPDATE SET "
    + ", ".join(f"{column} = EXCLUDED.{column}" for column in ANALYSIS_COLUMNS[1:])
    + ", logged_at = clock_timestamp() "
    "WHERE message_analyses.path = 'fast' AND EXCLUDED.path = 'ml'",
}


async def refresh_conversation_logs(connection: asyncpg.Connection, conversations: Sequence[UUID]) -> None:
    """Rebuild the `conversation_logs` rows of these conversations, inside the caller's transaction.

    Every writer of something the row shows (messages, analyses, outcomes, surveys, labels) calls this.
    """
    if not conversations:
        return
    ordered = sorted(set(conversations), key=str)
    # Serialise rebuilds of one conversation across writers: turns, analyses and surveys of one
    # conversation can be read by different processes. Locks are taken in one order, so no deadlock.
    await connection.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(id::text, 0)) FROM unnest($1::uuid[]) AS id", ordered
    )
    await connection.execute("SELECT refresh_conversation_logs($1::uuid[])", ordered)


class ConversationLogStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def write_batch(
        self,
        *,
        messages: Sequence[tuple[Any, ...]] = (),
        analyses: Sequence[tuple[Any, ...]] = (),
        outcomes: Sequence[tuple[Any, ...]] = (),
        conversations: Sequence[UUID] = (),
    ) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            for table, rows in (
                ("messages", messages),
                ("message_analyses", analyses),
                ("outcomes", outcomes),
            ):
                if not rows:
                    continue
                staging = f"staging_{table}"
                await connection.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
                    f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
                await connection.copy_records_to_table(staging, records=rows, columns=list(STAGING[table]))
                await connection.execute(UPSERTS[table])
            await refresh_conversation_logs(connection, conversations)
