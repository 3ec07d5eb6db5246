"""asyncpg pool factory, the one way workers write rows in bulk, and a small numbered-SQL migration runner.

Why not Alembic: Teppan has no ORM models to autogenerate from, and plain numbered SQL files are
reviewable as they run. Each file runs once, in order, in its own transaction; an advisory lock
lets several workers start at once without racing. Migrations run in one place (`teppan db migrate`,
`teppan up`, the deployment's migrate job), never in a worker.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any
from uuid import UUID

import asyncpg
from asyncpg.utils import _quote_ident

from shared.settings import Settings

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every process migrating this database.
MIGRATION_LOCK_ID = 7_347_726


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def database_url(settings: Settings) -> str:
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set and no stack.env was found; run `teppan up` or set it.")
    return settings.database_url


async def create_pool(
    settings: Settings, *, min_size: int = 1, max_size: int = 4, **options: Any
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database_url(settings), min_size=min_size, max_size=max_size, **options)
    assert pool is not None
    return pool


def load_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("shared.migrations").iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text()))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


async def migrate(connection: asyncpg.Connection) -> list[int]:
    """Apply pending migrations; returns the versions applied now."""
    applied_now = []
    await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done = {row["version"] for row in await connection.fetch("SELECT version FROM schema_migrations")}
        for migration in load_migrations():
            if migration.version in done:
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            log.info("applied migration", extra={"version": migration.version, "migration": migration.name})
            applied_now.append(migration.version)
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied_now


@asynccontextmanager
async def transaction(connection: asyncpg.Connection, *, dry_run: bool = False) -> AsyncIterator[None]:
    """A transaction that commits when its block succeeds, unless `dry_run`: then, as on any error, it rolls
    back, so a dry run does exactly the real work and reports exact counts, and leaves nothing behind."""
    running = connection.transaction()
    await running.start()
    try:
        yield
    except BaseException:
        await running.rollback()
        raise
    if dry_run:
        await running.rollback()
    else:
        await running.commit()


async def migrate_database(settings: Settings) -> list[int]:
    connection = await asyncpg.connect(database_url(settings))
    try:
        return await migrate(connection)
    finally:
        await connection.close()


# Bulk writes. Every value travels as a query parameter (typed arrays for `unnest`) or through COPY;
# identifiers are checked against the table's real columns in the catalog and quoted, and the only
# SQL text a caller adds is its ON CONFLICT clause, a constant of its own code.

# Column types by table, read from the catalog once per process: migrations run before workers start,
# and a column missing here is looked up again before it is refused.
_column_types: dict[str, dict[str, str]] = {}


def quote(identifier: str) -> str:
    """A table or column name as a quoted SQL identifier (asyncpg's quoting, as COPY uses)."""
    return str(_quote_ident(identifier))


async def column_types(connection: asyncpg.Connection, table: str, columns: Iterable[str]) -> dict[str, str]:
    """`table`'s SQL type of each of `columns`; a table or column the database does not have is refused."""
    wanted = list(columns)
    known = _column_types.get(table, {})
    if not set(wanted) <= known.keys():
        rows = await connection.fetch(
            "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
            "WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
            quote(table),
        )
        known = _column_types[table] = {row["attname"]: row["type"] for row in rows}
        if not known:
            raise ValueError(f"no table {table!r}")
        unknown = [column for column in wanted if column not in known]
        if unknown:
            raise ValueError(f"table {table!r} has no column {', '.join(map(repr, unknown))}")
    return {column: known[column] for column in wanted}


def _typed_unnest(types: Sequence[str]) -> str:
    return "unnest(" + ", ".join(f"${number}::{type_}[]" for number, type_ in enumerate(types, 1)) + ")"


def _columns_of(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    columns = [list(column) for column in zip(*rows, strict=True)]
    if len(columns) != width:
        raise ValueError(f"rows have {len(columns)} values, the columns are {width}")
    return columns


async def insert_rows(
    connection: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    conflict: str = "DO NOTHING",
    returning: Sequence[str] = (),
    copy: bool = False,
) -> list[asyncpg.Record]:
    """`INSERT INTO table (columns) ... ON CONFLICT <conflict>` of many rows in one statement.

    Each row holds one value per column, in order (a NamedTuple row type with the columns as its
    fields fits). `conflict` is the clause after ON CONFLICT, e.g. "(event_id) DO NOTHING"; `returning`
    names columns of the rows actually written, returned as records. Rows travel as typed arrays
    through `unnest`, one round trip; `copy=True` streams them with COPY into a temporary table first,
    which is faster for large batches and needs the caller's transaction (the table empties on commit).
    """
    if not rows:
        return []
    types = await column_types(connection, table, [*columns, *returning])
    column_list = ", ".join(map(quote, columns))
    if copy:
        if not connection.is_in_transaction():
            raise RuntimeError(
                "insert_rows(copy=True) needs a transaction: its staging table empties on commit"
            )
        staging = f"staging_{table}"
        await connection.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {quote(staging)} "
            f"(LIKE {quote(table)} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        await connection.copy_records_to_table(staging, records=rows, columns=list(columns))
        # Identifiers are checked and quoted and the types come from the catalog: no value is in the text.
        source, arguments = f"SELECT {column_list} FROM {quote(staging)}", []  # noqa: S608
    else:
        source = "SELECT * FROM " + _typed_unnest([types[column] for column in columns])  # noqa: S608
        arguments = _columns_of(rows, len(columns))
    statement = f"INSERT INTO {quote(table)} ({column_list}) {source} ON CONFLICT {conflict}"
    if returning:
        return list(
            await connection.fetch(f"{statement} RETURNING {', '.join(map(quote, returning))}", *arguments)
        )
    await connection.execute(statement, *arguments)
    return []


async def update_rows(
    connection: asyncpg.Connection,
    table: str,
    key: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    stamp: str | None = None,
) -> None:
    """Sets `columns` of the rows of `table` whose `key` matches, from (key, *values) rows, in one statement.

    `stamp` names a column set to the write's `clock_timestamp()`.
    """
    if not rows:
        return
    types = await column_types(connection, table, [key, *columns, *([stamp] if stamp else [])])
    names = [key, *columns]
    assignments = [f"{quote(column)} = v.{quote(column)}" for column in columns]
    if stamp:
        assignments.append(f"{quote(stamp)} = clock_timestamp()")
    await connection.execute(
        f"UPDATE {quote(table)} SET {', '.join(assignments)} "  # noqa: S608
        f"FROM {_typed_unnest([types[name] for name in names])} AS v({', '.join(map(quote, names))}) "
        f"WHERE {quote(table)}.{quote(key)} = v.{quote(key)}",
        *_columns_of(rows, len(names)),
    )


async def lock_keys(connection: asyncpg.Connection, keys: Iterable[UUID], *, space: int) -> None:
    """Transaction-scoped advisory locks on `keys` within lock `space`, taken in one (sorted) order.

    Writers that lock in the same order wait for each other and never deadlock.
    """
    ordered = sorted({str(key) for key in keys})
    if ordered:
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(key, $2)) FROM unnest($1::text[]) AS key",
            ordered,
            space,
        )
