"""The conversation log's store: its port, and the PostgreSQL adapter that writes a batch in one transaction.

Rows are COPYed in and upserted idempotently; `conversation_logs` is then rebuilt for the touched
conversations, which every other writer of what that row shows (surveys, labels) does as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

import asyncpg

from services.analytics.conversation_log.core import (
    ANALYSIS_COLUMNS,
    MESSAGE_COLUMNS,
    OUTCOME_COLUMNS,
    LogBatch,
)
from shared.db import insert_rows, lock_keys

# The advisory-lock space of conversation rebuilds (each writer serialising on its own keys has its own).
CONVERSATION_LOCKS = 0
# An ML-path analysis supersedes the fast one; a redelivered fast one changes nothing.
ANALYSIS_CONFLICT = (
    "(message_event_id) DO UPDATE SET "
    + ", ".join(f"{column} = EXCLUDED.{column}" for column in ANALYSIS_COLUMNS[1:])
    + ", logged_at = clock_timestamp() WHERE message_analyses.path = 'fast' AND EXCLUDED.path = 'ml'"
)


class ConversationLogStore(Protocol):
    """Writes a batch's rows, idempotent on their keys, and rebuilds the touched conversations' log rows."""

    async def write_batch(self, batch: LogBatch) -> None: ...


async def refresh_conversation_logs(connection: asyncpg.Connection, conversations: Sequence[UUID]) -> None:
    """Rebuild the `conversation_logs` rows of these conversations, inside the caller's transaction."""
    if not conversations:
        return
    # Serialise rebuilds of one conversation across writers: turns, analyses and surveys of one
    # conversation can be read by different processes.
    await lock_keys(connection, conversations, space=CONVERSATION_LOCKS)
    await connection.execute(
        "SELECT refresh_conversation_logs($1::uuid[])", sorted(set(conversations), key=str)
    )


class PostgresConversationLog:
    """The conversation log in PostgreSQL: `messages`, `message_analyses`, `outcomes`, `conversation_logs`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def write_batch(self, batch: LogBatch) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            # COPY: the logger takes the whole stream's turns, where it beats array parameters.
            await insert_rows(
                connection,
                "messages",
                MESSAGE_COLUMNS,
                batch.messages,
                conflict="(event_id) DO NOTHING",
                copy=True,
            )
            await insert_rows(
                connection,
                "message_analyses",
                ANALYSIS_COLUMNS,
                batch.analyses,
                conflict=ANALYSIS_CONFLICT,
                copy=True,
            )
            await insert_rows(
                connection,
                "outcomes",
                OUTCOME_COLUMNS,
                batch.outcomes,
                conflict="(event_id) DO NOTHING",
                copy=True,
            )
            await refresh_conversation_logs(connection, batch.conversations)
