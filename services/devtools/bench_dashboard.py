"""`teppan bench dashboard`: is the owner's page still responsive with 1,000,000 messages in the database?

It starts its own embedded servers (a fresh PostgreSQL, Tansu for the server's producer), runs
`teppan serve` as a child process, and seeds the database with `dashboard_seed` in two steps. After each
step it measures what the page costs:

- **server time** of every request a dashboard refresh makes (overview, readiness, experiments, costs,
  alerts), of the labelling queue's requests and of a conversation search, read from the `Server-Timing`
  header the server sets on every `/api/` answer (the handler's own time, without the network or the
  client); and a whole refresh's wall time as the page makes it (its requests together);
- **first paint** and **figures shown** of the dashboard in Debian's Chromium (when installed): the
  browser's first-contentful-paint entry, and the moment the overview's first figure holds a number.

The named baseline is the same measurement on the same server after the first step, a database of
`baseline_messages` (10,000 by default): how much the page slows as the database grows 100-fold.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from services.devtools.bench import percentile
from services.devtools.bench_http import machine
from services.devtools.dashboard_seed import seed
from shared.db import create_pool, migrate_database
from shared.embedded import child_environment, free_port, start_missing, wait_for_port
from shared.kafka import create_topics
from shared.settings import Settings

GOALS = {"first_paint_ms": 1000.0, "refresh_server_ms": 200.0}
# What one dashboard refresh asks for (dashboard.js), for each range the page offers.
REFRESH_PATHS = (
    "/api/overview?range={range}",
    "/api/readiness",
    "/api/experiments",
    "/api/costs?range={range}",
    "/api/alerts?limit=50",
)
RANGES = ("day", "week", "month")
# The labelling queue's requests and a search, measured the same way.
OTHER_PATHS = (
    "/api/queue?labeller=bench&limit=50",
    "/api/labelling",
    "/api/vocabulary",
    "/api/conversations?limit=20",
    "/api/conversations?q=birthday&limit=20",
    "/api/conversations?customer_id=4242&limit=20",
)


def server_ms(response: httpx.Response) -> float | None:
    """The `app;dur=` of the Server-Timing header, in milliseconds."""
    for part in response.headers.get("server-timing", "").split(","):
        name, _, params = part.strip().partition(";")
        if name == "app" and params.startswith("dur="):
            return float(params[4:])
    return None


async def _timed(client: httpx.AsyncClient, path: str) -> tuple[float, float]:
    response = await client.get(path)
    response.raise_for_status()
    measured = server_ms(response)
    if measured is None:
        raise RuntimeError(f"{path} answered without a Server-Timing header")
    return measured, response.elapsed.total_seconds() * 1000


async def measure_requests(base_url: str, token: str, repeats: int) -> dict[str, Any]:
    """Per path p50/p95 of server time; per range, a refresh's requests together (as the page sends them)."""
    headers = {"Authorization": f"Bearer {token}"}
    result: dict[str, Any] = {"paths": {}, "refresh": {}}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        ranged = [path for path in REFRESH_PATHS if "{range}" in path]
        paths = [path.format(range=name) for name in RANGES for path in ranged]
        paths += [path for path in REFRESH_PATHS if path not in ranged] + list(OTHER_PATHS)
        for path in paths:
            # The first answer computes what later ones may reuse (the readiness and experiment reports are
            # recomputed in the background every 30 s): its time is what that recomputation costs.
            first, _ = await _timed(client, path)
            samples = [(await _timed(client, path))[0] for _ in range(repeats)]
            result["paths"][path] = {
                "first_server_ms": round(first, 1),
                "server_ms_p50": round(percentile(sorted(samples), 0.5), 1),
                "server_ms_p95": round(percentile(sorted(samples), 0.95), 1),
            }
        for name in RANGES:
            refresh_paths = [path.format(range=name) for path in REFRESH_PATHS]
            server_totals, walls = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                timings = await asyncio.gather(*(_timed(client, path) for path in refresh_paths))
                walls.append((time.perf_counter() - started) * 1000)
                server_totals.append(sum(server for server, _ in timings))
            result["refresh"][name] = {
                "server_ms_sum_p50": round(percentile(sorted(server_totals), 0.5), 1),
                "server_ms_sum_p95": round(percentile(sorted(server_totals), 0.95), 1),
                "wall_ms_p50": round(percentile(sorted(walls), 0.5), 1),
                "wall_ms_p95": round(percentile(sorted(walls), 0.95), 1),
            }
    return result


def chromium_path() -> str | None:
    return os.environ.get("TEPPAN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


async def measure_first_paint(base_url: str, token: str, runs: int = 3) -> dict[str, Any] | None:
    """Median first-contentful-paint and time to the first overview figure, logged in, fresh page each run."""
    chromium = chromium_path()
    if chromium is None:
        return None
    from playwright.async_api import async_playwright

    paints, figures = [], []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--disable-dev-shm-usage"])
        try:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 900}, extra_http_headers={"Authorization": f"Bearer {token}"}
            )
            for _ in range(runs):
                page = await context.new_page()
                started = time.perf_counter()
                await page.goto(base_url + "/")
                await page.wait_for_function(
                    "() => { const f = document.querySelector('[data-figure=\"conversations\"]');"
                    " return f && f.dataset.value !== undefined && f.dataset.value !== ''; }",
                    timeout=30_000,
                )
                figures.append((time.perf_counter() - started) * 1000)
                paint = await page.evaluate(
                    "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime ?? null"
                )
                if paint is not None:
                    paints.append(float(paint))
                await page.close()
        finally:
            await browser.close()
    return {
        "first_contentful_paint_ms": round(sorted(paints)[len(paints) // 2], 1) if paints else None,
        "figures_shown_ms": round(sorted(figures)[len(figures) // 2], 1),
        "runs": runs,
    }


def _start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        start_new_session=True,
    )
    try:
        wait_for_port(port, timeout=60, process=process)
    except BaseException:
        process.kill()
        raise
    return process


def _stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


async def run_dashboard_benchmark(
    *,
    messages: int = 1_000_000,
    baseline_messages: int = 10_000,
    repeats: int = 20,
    browser: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    say = progress or (lambda _: None)
    token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="teppan-bench-dashboard-") as folder:
        servers = await asyncio.to_thread(start_missing, Path(folder), kafka=None, database=None, redis=None)
        server: subprocess.Popen[bytes] | None = None
        try:
            settings = Settings(
                KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap_servers, DATABASE_URL=servers.database_url
            )
            await create_topics(settings)
            await migrate_database(settings)
            port = free_port()
            env = child_environment(
                servers, TEPPAN_API_TOKEN=token, TEPPAN_DATA_DIR=folder, TEPPAN_LOG_LEVEL="WARNING"
            )
            base_url = f"http://127.0.0.1:{port}"
            pool = await create_pool(settings, max_size=2)
            stages: dict[str, Any] = {}
            try:
                seeded = 0
                for name, target in (("baseline", baseline_messages), ("full", messages)):
                    say(f"seeding {target - seeded:,} messages")
                    summary = await seed(pool, messages=target - seeded, seed_value=len(stages) + 11)
                    seeded = target
                    say(f"measuring with {target:,} messages")
                    # A fresh server per stage: nothing the baseline computed is reused by the full run.
                    server = _start_server(env, port)
                    try:
                        stage = {"messages": target, "seed_seconds": summary.seconds}
                        stage.update(await measure_requests(base_url, token, repeats))
                        stage["browser"] = await measure_first_paint(base_url, token) if browser else None
                    finally:
                        _stop_server(server)
                        server = None
                    stages[name] = stage
            finally:
                await pool.close()
        finally:
            if server is not None:
                _stop_server(server)
            await asyncio.to_thread(servers.stop)
    full = stages["full"]
    worst_refresh = max(value["server_ms_sum_p95"] for value in full["refresh"].values())
    paint = (full["browser"] or {}).get("first_contentful_paint_ms")
    return {
        "benchmark": "dashboard",
        "machine": machine(),
        "goals": GOALS,
        "baseline_name": f"the same server and requests with {baseline_messages:,} messages",
        "baseline": stages["baseline"],
        "result": full,
        "refresh_server_ms_p95_worst_range": worst_refresh,
        "meets_refresh_goal": worst_refresh < GOALS["refresh_server_ms"],
        "meets_first_paint_goal": None if paint is None else paint < GOALS["first_paint_ms"],
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for name in ("baseline", "result"):
        stage = result[name]
        refresh = ", ".join(
            f"{key} {value['server_ms_sum_p95']} ms" for key, value in stage["refresh"].items()
        )
        browser = stage.get("browser") or {}
        lines.append(
            f"{stage['messages']:>9,} messages: refresh server time p95 ({refresh}); first paint "
            f"{browser.get('first_contentful_paint_ms', 'n/a')} ms, figures shown {browser.get('figures_shown_ms', 'n/a')} ms"
        )
    return lines


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run_dashboard_benchmark(messages=20_000, baseline_messages=2_000, repeats=3))))
