"""asyncpg pool factory and a small numbered-SQL migration runner.

Why not Alembic: Teppan has no ORM models to autogenerate from, and plain numbered SQL files are
reviewable as they run. Each file runs once, in order, in its own transaction; an advisory lock
lets several workers start at once without racing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg

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


async def migrate_database(settings: Settings) -> list[int]:
    connection = await asyncpg.connect(database_url(settings))
    try:
        return await migrate(connection)
    finally:
        await connection.close()
