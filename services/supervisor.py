"""`teppan up`: starts the servers it must, one process per worker kind plus HTTP, and shows a live summary.

On Ctrl-C or SIGTERM it stops the workers first (so they commit what they finished), then the servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from services.stack_status import StackStatus, StatusReader
from services.worker_kinds import WORKER_KINDS
from shared.db import create_pool, migrate_database
from shared.embedded import EmbeddedServers, child_environment, start_missing
from shared.kafka import create_topics
from shared.settings import Settings, write_stack_env

log = logging.getLogger(__name__)

# A crashing worker is restarted, but not faster than this, so a persistent fault does not spin.
RESTART_BACKOFF_SECONDS = 2.0
STOP_GRACE_SECONDS = 15.0


@dataclass
class ChildProcess:
    name: str
    argv: list[str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = field(default_factory=time.monotonic)


async def _spawn(child: ChildProcess, env: dict[str, str]) -> None:
    # Each child gets its own session, so a terminal's Ctrl-C reaches only us and we stop them in order.
    child.process = await asyncio.create_subprocess_exec(*child.argv, env=env, start_new_session=True)
    child.started_at = time.monotonic()


async def _stop_children(children: list[ChildProcess]) -> None:
    running = [c.process for c in children if c.process is not None and c.process.returncode is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)), STOP_GRACE_SECONDS)
    except TimeoutError:
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await asyncio.gather(*(p.wait() for p in running))


def render_summary(status: StackStatus, children: list[ChildProcess], urls: dict[str, str]) -> Table:
    table = Table(title="Teppan — live (Ctrl-C to stop)", show_header=False, min_width=60)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("messages in", f"{status.messages_in:,}")
    table.add_row("turns published", f"{status.turns_published:,}")
    table.add_row("messages logged", f"{status.rows_logged:,}")
    table.add_row("conversations logged", f"{status.conversations_logged:,}")
    table.add_row("dead letters", f"{status.dead_letters:,}")
    for group, lag in sorted(status.consumer_lag.items()):
        table.add_row(f"lag {group}", f"{lag:,}")
    for child in children:
        alive = child.process is not None and child.process.returncode is None
        table.add_row(
            f"process {child.name}",
            ("up" if alive else "down") + (f" ({child.restarts} restarts)" if child.restarts else ""),
        )
    for name, url in urls.items():
        table.add_row(name, url)
    return table


async def run_stack(settings: Settings, *, demo: bool, demo_rate: float, live: bool) -> int:
    data_dir = settings.data_dir
    servers: EmbeddedServers = await asyncio.to_thread(
        start_missing,
        data_dir,
        kafka=settings.kafka_bootstrap_servers,
        database=settings.database_url,
        redis=settings.redis_url,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    children: list[ChildProcess] = []
    try:
        running = settings.model_copy(
            update={
                "kafka_bootstrap_servers": servers.kafka_bootstrap_servers,
                "database_url": servers.database_url,
                "redis_url": servers.redis_url,
            }
        )
        await create_topics(running)
        await migrate_database(running)
        http_port = settings.http_port
        http_url = f"http://{settings.http_host}:{http_port}"
        urls = {
            "KAFKA_BOOTSTRAP_SERVERS": str(servers.kafka_bootstrap_servers),
            "DATABASE_URL": str(servers.database_url),
            "REDIS_URL": str(servers.redis_url),
            "HTTP_URL": http_url,
        }
        write_stack_env(settings.stack_env_path, urls)
        env = child_environment(servers, TEPPAN_DATA_DIR=str(data_dir), HTTP_URL=http_url)
        teppan = [sys.executable, "-m", "services.cli"]
        children = [ChildProcess(f"worker {kind}", [*teppan, "worker", kind]) for kind in WORKER_KINDS]
        children.append(ChildProcess("http", [*teppan, "serve", "--port", str(http_port)]))
        if demo:
            children.append(
                ChildProcess("demo", [*teppan, "demo", "--rate", str(demo_rate), "--duration", "0"])
            )
        for child in children:
            await _spawn(child, env)
        pool = await create_pool(running, max_size=1)
        reader = StatusReader(running, pool)
        console = Console()
        try:
            with (
                Live(console=console, auto_refresh=False, transient=False)
                if live
                else contextlib.nullcontext() as display
            ):
                while not stop.is_set():
                    await _restart_crashed(children, env)
                    if display is not None:
                        status = await reader.read()
                        display.update(render_summary(status, children, urls), refresh=True)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            await reader.close()
            await pool.close()
        return 0
    finally:
        await _stop_children(children)
        with contextlib.suppress(FileNotFoundError):
            settings.stack_env_path.unlink()
        await asyncio.to_thread(servers.stop)


async def _restart_crashed(children: list[ChildProcess], env: dict[str, Any]) -> None:
    for child in children:
        process = child.process
        if process is None or process.returncode is None:
            continue
        if child.name == "demo" and process.returncode == 0:
            continue
        if time.monotonic() - child.started_at < RESTART_BACKOFF_SECONDS:
            continue
        log.error("process exited; restarting", extra={"process": child.name, "code": process.returncode})
        child.restarts += 1
        await _spawn(child, env)
