"""`teppan db backup|restore`: the client choice and archive header (pure), and a real round trip into a
fresh database that must bring back every row of every table.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.operations.backup import (
    BackupError,
    ClientTools,
    archive_header,
    choose_client,
    count_table_data_entries,
    dump_to,
    find_client_tools,
    libpq_target,
    major_of,
)
from shared.embedded import EmbeddedServers
from shared.settings import Settings
from tests.operations.helpers import (
    scratch_database,
    seed_aggregates,
    seed_conversation,
    snapshot,
    teppan_command,
    teppan_json,
    with_database,
)


def tools(major: int, origin: str = "PATH") -> ClientTools:
    return ClientTools(Path(f"/opt/pg{major}/bin"), major, origin)


def test_client_is_the_closest_major_not_older_than_the_server() -> None:
    candidates = [tools(18, "embedded wheel"), tools(15), tools(16, "distribution")]
    assert choose_client(candidates, at_least=15, purpose="backup").major == 15
    assert choose_client(candidates, at_least=16, purpose="backup").major == 16
    assert choose_client(candidates, at_least=17, purpose="backup").origin == "embedded wheel"
    # Equal majors: the first listed (the embedded wheel) wins.
    assert choose_client([tools(18, "embedded wheel"), tools(18)], at_least=18, purpose="x").origin == (
        "embedded wheel"
    )


def test_no_fitting_client_names_what_was_found_and_what_is_needed() -> None:
    with pytest.raises(BackupError) as raised:
        choose_client([tools(15), tools(16)], at_least=17, purpose="backup")
    message = str(raised.value)
    assert "major version 17 or newer" in message
    assert "15 (PATH: /opt/pg15/bin)" in message and "16 (PATH: /opt/pg16/bin)" in message
    assert "postgresql-client-17" in message
    with pytest.raises(BackupError, match="found: none"):
        choose_client([], at_least=16, purpose="restore")


def test_password_travels_in_the_environment_not_the_command_line() -> None:
    target, env = libpq_target("postgresql://teppan:s%40cret@db.internal:5432/teppan?sslmode=require")
    assert target == "postgresql://teppan@db.internal:5432/teppan?sslmode=require"
    assert env == {"PGPASSWORD": "s@cret"}
    # The embedded server's socket URL has an empty password: nothing to carry.
    target, env = libpq_target("postgresql://postgres:@/postgres?host=/tmp/pg")
    assert target == "postgresql://postgres@/postgres?host=/tmp/pg" and env == {}
    assert libpq_target("postgresql:///teppan") == ("postgresql:///teppan", {})


def _int(value: int, size: int = 4) -> bytes:
    return bytes([1 if value < 0 else 0]) + abs(value).to_bytes(size, "little")


def _str(text: str) -> bytes:
    return _int(len(text.encode())) + text.encode()


def _header(minor: int, *, dumped_by: str, server: str = "15.20 (Debian 15.20-0+deb12u1)") -> bytes:
    compression = b"\x01" if minor >= 15 else _int(-1)
    created = b"".join(_int(part) for part in (51, 24, 13, 2, 11, 126, 0))
    return (
        b"PGDMP"
        + bytes([1, minor, 0, 4, 8, 1])
        + compression
        + created
        + _str("teppan")
        + _str(server)
        + _str(dumped_by)
    )


def test_archive_header_reads_old_and_new_formats() -> None:
    old = archive_header(_header(14, dumped_by="15.20 (Debian 15.20-0+deb12u1)"))
    assert old.format_version == (1, 14, 0) and old.database == "teppan" and old.dumped_by_major == 15
    new = archive_header(_header(16, dumped_by="18.6"))
    assert new.format_version == (1, 16, 0) and new.server_version.startswith("15.20")
    assert new.dumped_by_major == 18


def test_archive_header_rejects_what_is_not_a_custom_format_dump() -> None:
    with pytest.raises(ValueError, match="PGDMP"):
        archive_header(b"-- PostgreSQL database dump\n")
    with pytest.raises(ValueError, match="custom format"):
        archive_header(b"PGDMP" + bytes([1, 16, 0, 4, 8, 5]) + b"\x00" * 64)
    with pytest.raises(ValueError, match="truncated|ends inside"):
        archive_header(_header(16, dumped_by="18.6")[:40])


def test_versions_and_listing() -> None:
    assert major_of("pg_dump (PostgreSQL) 18.6") == 18
    assert major_of("15.20 (Debian 15.20-0+deb12u1)") == 15
    listing = (
        ";\n; Archive created at 2026-01-01\n;     Dumped by pg_dump version: 18.6\n"
        "215; 1259 16390 TABLE public messages postgres\n"
        "3390; 0 16390 TABLE DATA public messages postgres\n"
        "3391; 0 16401 TABLE DATA public outcomes postgres\n"
    )
    assert count_table_data_entries(listing) == 2


async def _seed_every_table(url: str) -> dict[str, list[str]]:
    connection = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        for customer_id, days_ago in ((101, 1), (102, 200)):
            await seed_conversation(
                connection, customer_id=customer_id, started_at=now - timedelta(days=days_ago)
            )
        await seed_aggregates(connection, now)
        await connection.execute(
            "INSERT INTO alert_state (name, state) VALUES ('high_latency', $1)",
            json.dumps({"episode": True, "since": now.isoformat()}),
        )
        return await snapshot(connection)
    finally:
        await connection.close()


async def _snapshot_of(url: str) -> dict[str, list[str]]:
    connection = await asyncpg.connect(url)
    try:
        return await snapshot(connection)
    finally:
        await connection.close()


@pytest.mark.stack
async def test_restore_into_a_fresh_database_brings_back_every_row(
    ops_settings: Settings, stack_servers: EmbeddedServers, tmp_path: Path
) -> None:
    assert ops_settings.database_url and stack_servers.database_url
    source = await _seed_every_table(ops_settings.database_url)
    assert all(source.values()), (
        f"every table needs rows to compare: {[t for t, r in source.items() if not r]}"
    )

    archive = tmp_path / "backups" / "teppan.dump"
    backup = await teppan_json(ops_settings, "db", "backup", str(archive))
    assert backup["path"] == str(archive.resolve()) and backup["bytes"] == archive.stat().st_size
    assert backup["tables"] == len(source)
    assert backup["client"]["major"] >= backup["server_major"]
    assert archive_header(archive.read_bytes()[:4096]).dumped_by_major == backup["client"]["major"]
    assert not list(archive.parent.glob("*.partial"))

    async with scratch_database(stack_servers.database_url, migrated=False) as target_url:
        target = Settings(
            DATABASE_URL=target_url, REDIS_URL=ops_settings.redis_url, TEPPAN_DATA_DIR=ops_settings.data_dir
        )
        restored = await teppan_json(target, "db", "restore", str(archive))
        assert restored["archive"]["dumped_by"].startswith(str(backup["client"]["major"]))
        assert await _snapshot_of(target_url) == source

        # The schema's function and view came back too: the pipeline can go on writing here.
        connection = await asyncpg.connect(target_url)
        try:
            conversation = await connection.fetchval("SELECT id FROM conversation_logs LIMIT 1")
            await connection.execute("SELECT refresh_conversation_logs($1::uuid[])", [conversation])
            assert await connection.fetchval("SELECT count(*) FROM conversation_surveys") == 2
            await connection.execute("DELETE FROM messages")
        finally:
            await connection.close()

        # A database that already holds tables is refused, and left as it was ...
        status, _, error = await teppan_command(target, "db", "restore", str(archive))
        assert status == 1 and "already holds" in error and "--clean" in error
        assert (await _snapshot_of(target_url))["messages"] == []
        # ... unless --clean, which replaces the backup's objects.
        await teppan_json(target, "db", "restore", str(archive), "--clean")
        assert await _snapshot_of(target_url) == source


@pytest.mark.stack
async def test_restore_explains_a_missing_or_foreign_file(ops_settings: Settings, tmp_path: Path) -> None:
    status, _, error = await teppan_command(ops_settings, "db", "restore", str(tmp_path / "nope.dump"))
    assert status == 1 and "no backup at" in error
    plain = tmp_path / "plain.sql"
    plain.write_text("-- PostgreSQL database dump\nSELECT 1;\n")
    status, _, error = await teppan_command(ops_settings, "db", "restore", str(plain))
    assert status == 1 and "not a pg_dump archive" in error
    # A database that does not exist: one line naming it, and no archive.
    absent = f"absent_{uuid.uuid4().hex[:8]}"
    assert ops_settings.database_url
    missing = ops_settings.model_copy(
        update={"database_url": with_database(ops_settings.database_url, absent)}
    )
    status, _, error = await teppan_command(missing, "db", "backup", str(tmp_path / "out.dump"))
    assert status == 1 and absent in error and "Traceback" not in error
    assert not (tmp_path / "out.dump").exists()


def test_a_failed_dump_leaves_neither_archive_nor_partial_file(tmp_path: Path) -> None:
    client = max(find_client_tools(), key=lambda tools: tools.major)
    archive = tmp_path / "teppan.dump"
    with pytest.raises(BackupError, match="pg_dump failed"):
        # Port 1 on loopback: nothing listens, so pg_dump itself fails.
        dump_to(client, "postgresql://teppan:secret@127.0.0.1:1/teppan", archive)
    assert list(tmp_path.iterdir()) == []
