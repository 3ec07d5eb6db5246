"""`teppan up`: starts the servers it must, one process per worker kind plus HTTP, and shows a live summary.

A child that exits is restarted with exponential backoff, and nothing a child does can stop the
supervisor. It records itself and every process it started (stack.env, stack.pids.json), so after an
unclean stop the next `teppan up` recognises its own leftovers, stops them and starts fresh.
On Ctrl-C or SIGTERM it stops the workers first (so they commit what they finished), then the servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import psutil
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from schemas.workers import WORKER_KINDS
from services.devtools.stack_status import StackStatus, StatusReader
from shared.db import create_pool, migrate_database
from shared.embedded import EmbeddedServers, child_environment, start_missing
from shared.kafka import create_topics
from shared.settings import (
    STACK_PID_KEY,
    STACK_PID_STARTED_KEY,
    Settings,
    process_is_alive,
    read_stack_env,
    stack_env_is_live,
    write_stack_env,
)

log = logging.getLogger(__name__)

# A crashed child is restarted after 1 s, then 2, 4 … up to 30 s while it keeps crashing; one that ran
# for a while before exiting starts again from 1 s.
RESTART_BACKOFF_INITIAL_SECONDS = 1.0
RESTART_BACKOFF_MAX_SECONDS = 30.0
HEALTHY_RUN_SECONDS = 30.0
STOP_GRACE_SECONDS = 15.0
PIDS_FILE_NAME = "stack.pids.json"
EMBEDDED_BROKER_NOTICE = (
    "Note: the embedded broker (Tansu) keeps topics in memory only. Events not yet written to PostgreSQL "
    "are lost when `teppan up` stops; for durability point KAFKA_BOOTSTRAP_SERVERS at a real Kafka "
    "(docker-compose.yml runs one)."
)


class StackAlreadyRunning(RuntimeError):
    pass


def demo_argv(teppan: list[str], rate: float, *, run_started: float) -> list[str]:
    """The demo producer's command line for one `teppan up` run. Each run plays its own seed: the same seed
    replays the same event ids, which ingest drops as duplicates of the last run's, and the page then shows
    nothing new. A restart of the demo within the run keeps the run's seed, so it only replays."""
    return [*teppan, "demo", "--rate", str(rate), "--duration", "0", "--seed", str(int(run_started))]


@dataclass
class ChildProcess:
    name: str
    argv: list[str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = field(default_factory=time.monotonic)
    # Crashes in a row without a healthy run between them; sets the backoff before the next start.
    consecutive_crashes: int = 0
    exited_at: float | None = None

    def restart_delay(self) -> float:
        if self.consecutive_crashes == 0:
            return 0.0
        return min(
            RESTART_BACKOFF_MAX_SECONDS, RESTART_BACKOFF_INITIAL_SECONDS * 2 ** (self.consecutive_crashes - 1)
        )


def log_path(log_dir: Path, child_name: str) -> Path:
    """`worker nlp` logs to `logs/worker-nlp.log`."""
    return log_dir / (child_name.replace(" ", "-") + ".log")


def _open_child_output(log_file: Path) -> BinaryIO:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # The caller closes it once the child holds its own copy of the descriptor.
    return open(log_file.with_suffix(".out"), "ab")


async def _spawn(child: ChildProcess, env: dict[str, str], log_dir: Path) -> None:
    # Each child logs JSON lines to its own rotated file, so the terminal keeps only the live summary;
    # whatever it prints outside logging (a crash's traceback, progress bars) goes to a `.out` beside it.
    log_file = log_path(log_dir, child.name)
    with _open_child_output(log_file) as output:
        # Each child gets its own session, so a terminal's Ctrl-C reaches only us and we stop them in order.
        child.process = await asyncio.create_subprocess_exec(
            *child.argv,
            env={**env, "TEPPAN_LOG_FILE": str(log_file)},
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    child.started_at = time.monotonic()
    child.exited_at = None


def _process_record(pid: int, name: str) -> dict[str, Any] | None:
    with contextlib.suppress(psutil.Error):
        return {"pid": pid, "name": name, "started": psutil.Process(pid).create_time()}
    return None


def record_processes(path: Path, servers: EmbeddedServers, children: list[ChildProcess]) -> None:
    """Write every process this stack started, so a later start can stop them after an unclean exit."""
    records = [_process_record(os.getpid(), "supervisor")]
    records += [_process_record(pid, "server") for pid in servers.process_ids]
    records += [
        _process_record(child.process.pid, child.name)
        for child in children
        if child.process is not None and child.process.returncode is None
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([record for record in records if record is not None]))
    tmp.replace(path)


def clear_stale_stack(data_dir: Path) -> list[int]:
    """Refuse to start beside a live stack; stop what a dead one left running. Returns the PIDs stopped."""
    stack_env = data_dir / "stack.env"
    values = read_stack_env(stack_env)
    if values and STACK_PID_KEY in values and stack_env_is_live(values):
        raise StackAlreadyRunning(
            f"teppan up already runs in {data_dir} (pid {values[STACK_PID_KEY]}); stop it first"
            " or set TEPPAN_DATA_DIR to another folder"
        )
    pids_file = data_dir / PIDS_FILE_NAME
    leftovers: list[psutil.Process] = []
    with contextlib.suppress(FileNotFoundError, ValueError):
        for record in json.loads(pids_file.read_text()):
            if record["pid"] != os.getpid() and process_is_alive(record["pid"], record["started"]):
                leftovers.append(psutil.Process(record["pid"]))
    for process in leftovers:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, still_running = psutil.wait_procs(leftovers, timeout=STOP_GRACE_SECONDS)
    for process in still_running:
        with contextlib.suppress(psutil.Error):
            process.kill()
    if values or leftovers:
        log.warning(
            "found a stack that did not stop cleanly; stopped its leftovers and starting fresh",
            extra={"stopped_pids": [process.pid for process in leftovers]},
        )
    stack_env.unlink(missing_ok=True)
    pids_file.unlink(missing_ok=True)
    return [process.pid for process in leftovers]


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


def page_url(http_url: str) -> str:
    """The owner's dashboard as a browser reaches it: a wildcard bind address is reached on localhost."""
    return http_url.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://127.0.0.1:") + "/"


def render_summary(status: StackStatus, children: list[ChildProcess], urls: dict[str, str]) -> Text:
    """A few lines: where the page is, whether messages flow, and whether every process is up.

    The figures themselves are on the page; the terminal only says the pipeline is alive and where to look.
    """
    down = [child.name for child in children if child.process is None or child.process.returncode is not None]
    restarts = sum(child.restarts for child in children)
    lag = sum(status.consumer_lag.values())
    summary = Text()
    summary.append("Teppan is running: open ", style="bold")
    summary.append(page_url(urls["HTTP_URL"]), style="bold cyan underline")
    summary.append("  (Ctrl-C stops it)\n")
    # The broker's counts start at zero with each run; "logged" counts this run's rows too.
    summary.append(
        f"messages in {status.messages_in:,} · logged {status.rows_logged:,} · "
        f"conversations {status.conversations_logged:,} · lag {lag:,} · dead letters {status.dead_letters:,}\n"
    )
    processes = f"{len(children) - len(down)} of {len(children)} processes up"
    if restarts:
        processes += f", {restarts} restarts"
    summary.append(processes, style="red" if down else "green")
    if down:
        summary.append(f" (down: {', '.join(down)})", style="red")
    return summary


async def build_nlp_artefacts(settings: Settings, *, live: bool) -> None:
    """Train the NLP artefacts before any worker starts, in plain sight, when they are missing or stale."""
    from services.common.textmodel.artefacts import is_built
    from services.ml.training import ensure_built

    path = settings.nlp_artifacts_path
    if is_built(path):
        return
    # Bound to the real stderr now: training silences the libraries' own bars by swapping sys.stderr.
    console = Console(file=sys.stderr)
    console.print(f"NLP artefacts are missing in {path}: training them once before the workers start.")
    if not live:
        await asyncio.to_thread(
            ensure_built, path, lambda stage, fraction: log.info(f"training NLP artefacts: {stage} {fraction:.0%}")
        )
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("training NLP artefacts", total=1.0)

        def show(stage: str, fraction: float) -> None:
            bar.update(task, completed=fraction, description=f"training NLP artefacts: {stage}")

        await asyncio.to_thread(ensure_built, path, show)


def stack_worker_kinds(settings: Settings) -> tuple[str, ...]:
    """The worker kinds `teppan up` starts: every kind, except the escalation worker while its model is
    not built (fine-tuning takes minutes, so it is an explicit step; escalated turns wait on their topic)."""
    from services.ml.escalation.model import is_built

    if is_built(settings.escalation_model_path):
        return WORKER_KINDS
    return tuple(kind for kind in WORKER_KINDS if kind != "escalation")


ESCALATION_MODEL_MISSING = (
    "No escalation model in {path}: the slow path is not running. Build it with `teppan ml train escalation`"
    " (up to 15 minutes on 2 cores), then restart `teppan up`. Escalated turns wait on ml.escalations.v1 for"
    " the worker on a real Kafka; the embedded broker forgets them when `teppan up` stops."
)


async def run_stack(settings: Settings, *, demo: bool, demo_rate: float, live: bool) -> int:
    data_dir = settings.data_dir
    try:
        clear_stale_stack(data_dir)
    except StackAlreadyRunning as error:
        Console(stderr=True).print(f"[red]{error}[/red]")
        return 1
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
        await build_nlp_artefacts(settings, live=live)
        http_port = settings.http_port
        http_url = f"http://{settings.http_host}:{http_port}"
        urls = {
            "KAFKA_BOOTSTRAP_SERVERS": str(servers.kafka_bootstrap_servers),
            "DATABASE_URL": str(servers.database_url),
            "REDIS_URL": str(servers.redis_url),
            "HTTP_URL": http_url,
        }
        started = psutil.Process(os.getpid()).create_time()
        write_stack_env(
            settings.stack_env_path,
            {**urls, STACK_PID_KEY: str(os.getpid()), STACK_PID_STARTED_KEY: repr(started)},
        )
        if settings.kafka_bootstrap_servers is None:
            Console(stderr=True).print(f"[yellow]{EMBEDDED_BROKER_NOTICE}[/yellow]")
        env = child_environment(servers, TEPPAN_DATA_DIR=str(data_dir), HTTP_URL=http_url)
        teppan = [sys.executable, "-m", "services.cli"]
        kinds = stack_worker_kinds(settings)
        if "escalation" not in kinds:
            Console(stderr=True).print(f"[yellow]{ESCALATION_MODEL_MISSING.format(path=settings.escalation_model_path)}[/yellow]")
        children = [ChildProcess(f"worker {kind}", [*teppan, "worker", kind]) for kind in kinds]
        children.append(ChildProcess("http", [*teppan, "serve", "--port", str(http_port)]))
        if demo:
            children.append(ChildProcess("demo", demo_argv(teppan, demo_rate, run_started=started)))
        log_dir = data_dir / "logs"
        for child in children:
            await _spawn(child, env, log_dir)
        if live:
            Console(stderr=True).print(f"Worker logs: {log_dir}/<process>.log")
        # Said once even with --quiet: the page is where a new user looks next.
        Console(stderr=True).print(f"Dashboard: {page_url(http_url)}")
        pids_file = data_dir / PIDS_FILE_NAME
        record_processes(pids_file, servers, children)
        pool = await create_pool(running, max_size=1)
        reader = StatusReader(running, pool, since=datetime.now(UTC))
        console = Console()
        try:
            with (
                Live(console=console, auto_refresh=False, transient=False)
                if live
                else contextlib.nullcontext() as display
            ):
                status = StackStatus()
                while not stop.is_set():
                    # Nothing a child does, and no hiccup reading the status, may stop the supervisor.
                    try:
                        if await _restart_crashed(children, env, log_dir):
                            record_processes(pids_file, servers, children)
                    except Exception:
                        log.exception("restarting a child failed; trying again in a second")
                    if display is not None:
                        try:
                            status = await reader.read()
                        except Exception as error:
                            log.warning("could not read the stack's status", extra={"error": str(error)})
                        display.update(render_summary(status, children, urls), refresh=True)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            await reader.close()
            await pool.close()
        return 0
    finally:
        await _stop_children(children)
        settings.stack_env_path.unlink(missing_ok=True)
        await asyncio.to_thread(servers.stop)
        (data_dir / PIDS_FILE_NAME).unlink(missing_ok=True)


async def _restart_crashed(children: list[ChildProcess], env: dict[str, Any], log_dir: Path) -> bool:
    """Restart each child that exited, once its backoff has passed; True if any was restarted."""
    restarted = False
    now = time.monotonic()
    for child in children:
        process = child.process
        if process is None or process.returncode is None:
            continue
        if child.name == "demo" and process.returncode == 0:
            continue
        if child.exited_at is None:
            child.exited_at = now
            ran_for = now - child.started_at
            child.consecutive_crashes = 1 if ran_for >= HEALTHY_RUN_SECONDS else child.consecutive_crashes + 1
            # `child`, not `process`: the latter is a reserved LogRecord attribute and raises KeyError.
            log.error(
                "child exited; restarting after backoff",
                extra={
                    "child": child.name,
                    "exit_code": process.returncode,
                    "ran_s": round(ran_for, 1),
                    "backoff_s": child.restart_delay(),
                },
            )
        if now - child.exited_at < child.restart_delay():
            continue
        child.restarts += 1
        await _spawn(child, env, log_dir)
        restarted = True
    return restarted
