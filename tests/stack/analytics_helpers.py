"""Helpers for the analytics stack tests: run `teppan` commands against the test stack, read topics back."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

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


async def teppan_command(settings: Settings, *args: str, **env: str) -> tuple[int, str, str]:
    """Runs `teppan ARGS` in a subprocess as a user would; returns (exit status, stdout, stderr)."""
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
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def teppan(settings: Settings, *args: str, **env: str) -> str:
    """Runs `teppan ARGS` as a user would; returns its stdout, failing on a non-zero exit."""
    status, out, err = await teppan_command(settings, *args, **env)
    assert status == 0, f"teppan {' '.join(args)} failed: {err[-2000:]}"
    return out


async def teppan_json(settings: Settings, *args: str, **env: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(await teppan(settings, *args, "--json", **env))
    return document


async def read_topic(
    settings: Settings,
    topic: str,
    keep: Callable[[dict[str, Any]], bool],
    *,
    timeout_s: float = 30,
) -> list[tuple[bytes | None, bytes]]:
    """Every (key, value) on `topic` whose JSON `keep` accepts: read from the start to the high watermark.

    The end is each partition's high watermark from the broker's fetch responses (its ListOffsets answer
    can be short on Tansu), not a pause in traffic, so a slow broker cannot cut the reading short.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[tuple[bytes | None, bytes]] = []
    deadline = time.monotonic() + timeout_s
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                found.extend((r.key, r.value) for r in records if keep(json.loads(r.value)))
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(consumer.highwater(tp) is not None and positions[tp] >= consumer.highwater(tp) for tp in partitions):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic} was not read to its end within {timeout_s}s")
    finally:
        await consumer.stop()
