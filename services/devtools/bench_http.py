"""`teppan bench http`: requests/s, events/s and latency of `POST /v1/events`, through the real server.

It starts its own embedded Tansu (memory only, gone after the run), creates the topics, and runs the
front door as `teppan serve` does (uvicorn, one process) in a child process, so the load generator
does not share the server's event loop. Each simulated client is its own `httpx.AsyncClient` with one
keep-alive connection, as separate front ends would be, and waits for each 202 before its next post.

Scenarios, in one run: single events from one client, single events from 32 concurrent clients, and
batches of 100 from one client. The named baseline runs the same scenarios against the front door as
it was before the fix: the same app with the workers' shared producer (`linger_ms=5`) and a hop into
the thread pool per request (the token check was a plain `def` dependency). Only localhost traffic;
every scenario is bounded by a request count and a time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import secrets
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.devtools.bench import chat_message, percentile
from shared.embedded import EmbeddedServers, free_port, wait_for_port
from shared.kafka import create_topics
from shared.settings import Settings

BASELINE_NAME = "pre-fix: shared producer (linger_ms=5), token check in the thread pool"
FIXED_NAME = "front door: create_http_producer (linger_ms=0), async token check"


@dataclass(frozen=True)
class Scenario:
    name: str
    clients: int
    batch_size: int
    requests: int


def scenarios(single_requests: int, concurrent_requests: int, batch_requests: int) -> list[Scenario]:
    return [
        Scenario("single_1_client", 1, 1, single_requests),
        Scenario("single_32_clients", 32, 1, concurrent_requests),
        Scenario("batch_100_1_client", 1, 100, batch_requests),
    ]


def _process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of another process (Linux /proc); None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _without_sniffio_lookups() -> None:
    """Make httpcore's per-request `import sniffio` fail at once when sniffio is not installed.

    httpcore imports sniffio in every call that asks which async library runs (several per request);
    a failed import is not cached, so each one searched sys.path: about 15 % of the client's CPU in a
    profile of this benchmark, and on a 2-core machine that CPU is taken from the server under test.
    A None entry in sys.modules makes the same import fail at once, as it failed anyway.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def _bodies(scenario: Scenario, count: int) -> list[bytes]:
    conversation_id = str(uuid.uuid4())
    size = scenario.batch_size
    if size == 1:
        return [json.dumps(chat_message(conversation_id, index)).encode() for index in range(count)]
    return [
        json.dumps([chat_message(conversation_id, index * size + n) for n in range(size)]).encode()
        for index in range(count)
    ]


async def _post_all(
    client: httpx.AsyncClient, requests: list[httpx.Request], deadline: float, latencies: list[float]
) -> int:
    """One front end: sends each request after the previous one's 202, until done or past the deadline."""
    failures = 0
    for request in requests:
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        response = await client.send(request)
        if response.status_code == 202:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            failures += 1
    return failures


async def run_scenario(
    base_url: str, token: str, scenario: Scenario, *, max_seconds: float, server_pid: int | None = None
) -> dict[str, Any]:
    """Run one scenario; clients connect and requests are built before the clock starts."""
    _without_sniffio_lookups()
    share, extra = divmod(scenario.requests, scenario.clients)
    bodies = [_bodies(scenario, share + (1 if n < extra else 0)) for n in range(scenario.clients)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    # One keep-alive connection per client, as separate front ends would have.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    # Plain HTTP needs no certificates, but every httpx client loads the CA bundle unless given a context:
    # tens of milliseconds each, so 32 clients share one.
    tls = ssl.create_default_context()
    latencies: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30, verify=tls)
            )
            for _ in range(scenario.clients)
        ]
        # Open every connection first: connecting is not what the scenario measures.
        await asyncio.gather(*(client.get("/healthz") for client in clients))
        # Requests are built before the clock too: URL merging and header assembly are the load
        # generator's own cost (about a sixth of httpx's time per request here), not the server's.
        requests = [
            [client.build_request("POST", "/v1/events", content=body) for body in client_bodies]
            for client, client_bodies in zip(clients, bodies, strict=True)
        ]
        deadline = time.monotonic() + max_seconds
        server_cpu = _process_cpu_seconds(server_pid) if server_pid else None
        client_cpu = time.process_time()
        started = time.perf_counter()
        failures = await asyncio.gather(
            *(
                _post_all(client, client_requests, deadline, latencies)
                for client, client_requests in zip(clients, requests, strict=True)
            )
        )
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
        server_end = _process_cpu_seconds(server_pid) if server_pid else None
        server_cpu = server_end - server_cpu if server_cpu is not None and server_end is not None else None
    latencies.sort()
    done = len(latencies) + sum(failures)
    return {
        "clients": scenario.clients,
        "events_per_request": scenario.batch_size,
        "requests": len(latencies),
        "failed_requests": sum(failures),
        "seconds": round(elapsed, 2),
        "events_per_s": round(len(latencies) * scenario.batch_size / elapsed, 1),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms": {
            name: round(percentile(latencies, q), 2)
            for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
        },
        # CPU time per request shows where a core's budget goes, whatever else the machine runs.
        "cpu_ms_per_request": {
            "server": round(server_cpu * 1000 / done, 3) if server_cpu is not None and done else None,
            "load_generator": round(client_cpu * 1000 / done, 3) if done else None,
        },
    }


def _start_server(env: dict[str, str], port: int, *, baseline: bool) -> subprocess.Popen[bytes]:
    command = (
        [sys.executable, "-m", "services.devtools.bench_http", "serve-baseline", str(port)]
        if baseline
        else [sys.executable, "-m", "services.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    )
    process = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        wait_for_port(port, timeout=60, process=process)
    except BaseException:
        _stop_server(process)
        raise
    return process


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]


async def _serve(
    env: dict[str, str], token: str, *, baseline: bool, warmup: int, max_seconds: float
) -> Server:
    port = free_port()
    process = await asyncio.to_thread(_start_server, env, port, baseline=baseline)
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        # Warm-up: the producer's first metadata fetch and connections are start-up cost.
        await run_scenario(server.url, token, Scenario("warmup", 4, 1, warmup), max_seconds=max_seconds)
    except BaseException:
        await asyncio.to_thread(_stop_server, process)
        raise
    return server


async def run_http_benchmark(
    *,
    single_requests: int = 2_000,
    concurrent_requests: int = 20_000,
    batch_requests: int = 200,
    baseline: bool = True,
    max_seconds: float = 20.0,
    warmup: int = 200,
) -> dict[str, Any]:
    """Run every scenario against the front door and (if `baseline`) against the pre-fix one.

    Both servers run side by side and each scenario runs on one, then at once on the other, so a
    change in what else the machine runs affects both alike rather than whichever came second.
    """
    token = secrets.token_urlsafe(16)
    plan = scenarios(single_requests, concurrent_requests, batch_requests)
    result: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="teppan-bench-http-") as scratch:
        servers = EmbeddedServers()
        started: list[Server] = []
        await asyncio.to_thread(servers.start_tansu, Path(scratch) / "logs")
        try:
            assert servers.kafka_bootstrap_servers is not None
            await create_topics(Settings(KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap_servers))
            env = {
                **os.environ,
                "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap_servers,
                # No database: the front door needs one only for /metrics.
                "DATABASE_URL": "",
                "TEPPAN_API_TOKEN": token,
                "TEPPAN_DATA_DIR": scratch,
                "TEPPAN_LOG_LEVEL": "WARNING",
            }
            for is_baseline in (False, True) if baseline else (False,):
                started.append(
                    await _serve(env, token, baseline=is_baseline, warmup=warmup, max_seconds=max_seconds)
                )
            runs: list[dict[str, Any]] = [{} for _ in started]
            for scenario in plan:
                for server, figures in zip(started, runs, strict=True):
                    figures[scenario.name] = await run_scenario(
                        server.url, token, scenario, max_seconds=max_seconds, server_pid=server.process.pid
                    )
        finally:
            for server in started:
                await asyncio.to_thread(_stop_server, server.process)
            await asyncio.to_thread(servers.stop)
    result["server"] = {"name": FIXED_NAME, "process": "uvicorn, 1 process (teppan serve)"}
    result["scenarios"] = runs[0]
    if baseline:
        result["baseline"] = {"name": BASELINE_NAME, "scenarios": runs[1]}
        result["speedup_events_per_s"] = {
            name: round(figures["events_per_s"] / runs[1][name]["events_per_s"], 2)
            if runs[1][name]["events_per_s"]
            else None
            for name, figures in runs[0].items()
        }
    result["machine"]["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    return result


def summary_lines(result: dict[str, Any]) -> list[str]:
    """One readable line per scenario (the JSON stays the machine-readable result)."""
    runs = [(result["server"]["name"], result["scenarios"])]
    if "baseline" in result:
        runs.append((f"baseline: {result['baseline']['name']}", result["baseline"]["scenarios"]))
    lines = []
    for title, figures_by_name in runs:
        lines.append(title)
        for name, figures in figures_by_name.items():
            latency = figures["latency_ms"]
            lines.append(
                f"  {name}: {figures['events_per_s']:,.0f} events/s, {figures['requests_per_s']:,.0f} requests/s, "
                f"p50/p95/p99 {latency['p50']}/{latency['p95']}/{latency['p99']} ms; CPU ms/request "
                f"server {figures['cpu_ms_per_request']['server']}, "
                f"load generator {figures['cpu_ms_per_request']['load_generator']}"
            )
    return lines


async def _serve_baseline(port: int) -> None:
    """The front door as it was, rebuilt from today's app with the two costs the fix removed.

    The workers' shared producer (5 ms linger), and one hop into FastAPI's thread pool per request,
    which is what the token check cost while it was a plain `def` dependency.
    """
    import uvicorn
    from starlette.concurrency import run_in_threadpool
    from starlette.types import Receive, Scope, Send

    from services.ingest.http import create_app
    from shared.kafka import create_producer
    from shared.settings import load_settings

    settings = load_settings()
    # aiokafka clients must be made inside the running loop.
    app = create_app(settings, producer=create_producer(settings))

    async def pre_fix(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/events":
            await run_in_threadpool(lambda: None)
        await app(scope, receive, send)

    server = uvicorn.Server(
        uvicorn.Config(pre_fix, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    await server.serve()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve-baseline"]:
        asyncio.run(_serve_baseline(int(sys.argv[2])))
    else:
        raise SystemExit(
            "usage: python -m services.devtools.bench_http serve-baseline PORT (or run `teppan bench http`)"
        )
