"""Helpers for the analytics stack tests: run `teppan` commands against the test stack, read topics back."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def cli_environment(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers or "",
        DATABASE_URL=settings.database_url or "",
        REDIS_URL=settings.redis_url or "",
        TEPPAN_DATA_DIR=str(settings.data_dir),
        TEPPAN_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


async def teppan(settings: Settings, *args: str, **env: str) -> str:
    """Runs `teppan ARGS` as a user would; returns its stdout, failing on a non-zero exit."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        *args,
        env=cli_environment(settings, **env),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, f"teppan {' '.join(args)} failed: {err.decode()[-2000:]}"
    return out.decode()


async def teppan_json(settings: Settings, *args: str, **env: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(await teppan(settings, *args, "--json", **env))
    return document


async def read_topic(
    settings: Settings,
    topic: str,
    keep: Callable[[dict[str, Any]], bool],
    *,
    settle_s: float = 1.5,
    timeout_s: float = 30,
) -> list[tuple[bytes | None, bytes]]:
    """Every (key, value) on `topic` whose JSON `keep` accepts, read from the start until quiet."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"test-reader-{uuid.uuid4()}",
    )
    await consumer.start()
    found: list[tuple[bytes | None, bytes]] = []
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline and time.monotonic() - quiet_since < settle_s:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                quiet_since = time.monotonic()
                found.extend((r.key, r.value) for r in records if keep(json.loads(r.value)))
    finally:
        await consumer.stop()
    return found
