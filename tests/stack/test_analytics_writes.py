"""The one way workers write, against real PostgreSQL: `insert_rows` through typed arrays and through COPY
gives the same rows, honours its ON CONFLICT clause and RETURNING, and refuses names the table lacks;
`update_rows` sets columns by key.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from shared.db import insert_rows, lock_keys, update_rows

pytestmark = pytest.mark.stack

T0 = datetime(2031, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
COLUMNS = (
    "event_id",
    "conversation_id",
    "customer_id",
    "booked",
    "booking_id",
    "total_value",
    "offered_upsells",
    "accepted_upsells",
    "occurred_at",
)


def outcome_rows(count: int) -> list[tuple[object, ...]]:
    conversation = uuid.uuid4()
    return [
        (
            uuid.uuid4(),
            conversation,
            None if i % 2 else 7,
            i % 3 == 0,
            f"BK{i}",
            12.5 * i,
            json.dumps(["sake"]),
            json.dumps([]),
            T0,
        )
        for i in range(count)
    ]


async def stored(connection: asyncpg.Connection, rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    records = await connection.fetch(
        f"SELECT {', '.join(COLUMNS)} FROM outcomes WHERE event_id = ANY($1::uuid[]) ORDER BY booking_id",
        [row[0] for row in rows],
    )
    return [
        (
            *record[:5],
            float(record["total_value"]),
            record["offered_upsells"],
            record["accepted_upsells"],
            record["occurred_at"],
        )
        for record in records
    ]


@contextlib.asynccontextmanager
async def rolled_back(connection: asyncpg.Connection) -> AsyncIterator[None]:
    """A transaction that leaves nothing behind for the other tests' counts."""
    transaction = connection.transaction()
    await transaction.start()
    try:
        yield
    finally:
        await transaction.rollback()


@pytest.mark.parametrize("copy", [False, True])
async def test_insert_rows_writes_each_row_once_and_returns_the_new_ones(
    db: asyncpg.Pool, copy: bool
) -> None:
    rows = outcome_rows(5)
    async with db.acquire() as connection, rolled_back(connection):
        returned = await insert_rows(
            connection,
            "outcomes",
            COLUMNS,
            rows,
            conflict="(event_id) DO NOTHING",
            returning=("event_id",),
            copy=copy,
        )
        assert {r["event_id"] for r in returned} == {row[0] for row in rows}
        assert await stored(connection, rows) == sorted(rows, key=lambda row: str(row[4]))
        again = await insert_rows(
            connection,
            "outcomes",
            COLUMNS,
            [*rows, *outcome_rows(1)],
            conflict="(event_id) DO NOTHING",
            returning=("event_id",),
            copy=copy,
        )
        assert len(again) == 1
        assert await insert_rows(connection, "outcomes", COLUMNS, [], copy=copy) == []


async def test_conflict_updates_and_update_rows_set_columns_by_key(db: asyncpg.Pool) -> None:
    name = f"test-{uuid.uuid4()}"
    async with db.acquire() as connection:
        await insert_rows(
            connection, "alert_state", ("name", "state"), [(name, "{}")], conflict="(name) DO NOTHING"
        )
        await insert_rows(
            connection,
            "alert_state",
            ("name", "state"),
            [(name, '{"a": 1}')],
            conflict="(name) DO UPDATE SET state = EXCLUDED.state",
        )
        assert json.loads(
            await connection.fetchval("SELECT state FROM alert_state WHERE name = $1", name)
        ) == {"a": 1}
        before = await connection.fetchval("SELECT updated_at FROM alert_state WHERE name = $1", name)
        await update_rows(
            connection, "alert_state", "name", ("state",), [(name, '{"b": 2}')], stamp="updated_at"
        )
        row = await connection.fetchrow("SELECT state, updated_at FROM alert_state WHERE name = $1", name)
        assert json.loads(row["state"]) == {"b": 2} and row["updated_at"] > before
        await connection.execute("DELETE FROM alert_state WHERE name = $1", name)


async def test_names_the_table_lacks_are_refused_and_copy_needs_a_transaction(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        with pytest.raises(ValueError, match="no column 'nope'"):
            await insert_rows(connection, "outcomes", ("event_id", "nope"), [(uuid.uuid4(), 1)])
        with pytest.raises(ValueError, match="no table"):
            await insert_rows(
                connection, 'outcomes"; DROP TABLE outcomes; --', ("event_id",), [(uuid.uuid4(),)]
            )
        with pytest.raises(RuntimeError, match="needs a transaction"):
            await insert_rows(connection, "outcomes", COLUMNS, outcome_rows(1), copy=True)
        with pytest.raises(ValueError, match="values"):
            await insert_rows(connection, "outcomes", COLUMNS, [(uuid.uuid4(),)])
        async with connection.transaction():
            await lock_keys(connection, [uuid.uuid4(), uuid.uuid4()], space=0)
            await lock_keys(connection, [], space=1)


async def test_the_conversation_log_keeps_the_ml_reading_when_one_batch_holds_both(db: asyncpg.Pool) -> None:
    # The logger's batch can hold a message's fast reading and its ML one (the slow path answered before
    # the logger fetched the fast one): PostgreSQL refuses two upserts of one key in one statement, and the
    # ML reading must be the one that stays, as it is when they come in separate batches.
    from services.analytics.conversation_log.core import log_batch
    from services.analytics.conversation_log.store import PostgresConversationLog
    from tests.analytics.events import analysis, turn

    store = PostgresConversationLog(db)
    message = turn(uuid.uuid4())
    fast, ml = analysis(message, path="fast"), analysis(message, path="ml", tone="formal")
    await store.write_batch(log_batch([message, fast, ml]))
    await store.write_batch(log_batch([fast]))
    row = await db.fetchrow(
        "SELECT path, detected_tone, analysis_event_id FROM message_analyses WHERE message_event_id = $1",
        message.event_id,
    )
    assert (row["path"], row["detected_tone"], row["analysis_event_id"]) == ("ml", "formal", ml.event_id)
