"""Helpers for tests against the real stack: produce with aiokafka, wait for rows, read a DLQ."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import topics
from schemas.events import DeadLetter
from shared.embedded import EmbeddedServers, child_environment
from shared.kafka import create_producer
from shared.settings import Settings


def chat_message(conversation_id: str, index: int, **fields: Any) -> dict[str, Any]:
    message = {
        "event_id": str(uuid.uuid4()),
        "event_type": "chat.message",
        "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "conversation_id": conversation_id,
        "customer_id": 42,
        "role": "customer" if index % 2 == 0 else "ai",
        "text": f"message {index}: Hey! I wanna book for 30 people",
        "channel": "web",
    }
    if message["role"] == "ai":
        message.update(tone_used="warm", suggested_upsells=["gyoza"], requested_slots=["date"])
    message.update(fields)
    return message


async def produce_raw(
    settings: Settings, topic: str, records: Sequence[tuple[bytes | None, bytes]]
) -> list[Any]:
    """Produce (key, value) records as they are; returns their RecordMetadata (topic, partition, offset)."""
    producer = create_producer(settings)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        return [await future for future in futures]
    finally:
        await producer.stop()


async def produce_events(settings: Settings, topic: str, events: Sequence[dict[str, Any]]) -> list[Any]:
    return await produce_raw(
        settings,
        topic,
        [(str(event["conversation_id"]).encode(), json.dumps(event).encode()) for event in events],
    )


async def produce_chat_messages(
    settings: Settings, conversation_ids: Sequence[str], *, per_conversation: int
) -> list[dict[str, Any]]:
    events = [
        chat_message(conversation_id, index)
        for conversation_id in conversation_ids
        for index in range(per_conversation)
    ]
    await produce_events(settings, topics.CHAT_MESSAGES, events)
    return events


async def wait_until_logged(pool: asyncpg.Pool, event_ids: Sequence[str], *, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    found = 0
    while time.monotonic() < deadline:
        found = await pool.fetchval(
            "SELECT count(*) FROM messages WHERE event_id = ANY($1::uuid[])", list(event_ids)
        )
        if found >= len(event_ids):
            return int(found)
        await asyncio.sleep(0.1)
    raise AssertionError(f"only {found} of {len(event_ids)} messages were logged within {timeout_s}s")


async def wait_for(condition: Any, *, timeout_s: float = 30, interval_s: float = 0.1) -> Any:
    """Poll an async callable until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await condition()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval_s)


async def dead_letters_at(
    settings: Settings, topic: str, positions: Sequence[Any], *, timeout_s: float = 60
) -> dict[tuple[str, int, int], DeadLetter]:
    """A dead letter on `topic` for each record's (topic, partition, offset), or a failure naming how many lack one."""
    from services.devtools.dead_letters import dead_letters_at as read_dead_letters_at

    wanted = [(meta.topic, meta.partition, meta.offset) for meta in positions]
    assert settings.kafka_bootstrap_servers is not None
    found = await read_dead_letters_at(settings.kafka_bootstrap_servers, topic, wanted, timeout_s=timeout_s)
    missing = set(wanted) - set(found)
    assert not missing, f"{len(missing)} of {len(wanted)} records have no dead letter on {topic}"
    return found


def original_bytes(letter: DeadLetter) -> bytes:
    return base64.b64decode(letter.original_b64)


def topics_read_by(kind: str) -> list[str]:
    """The topics a worker kind's consumer group reads, as its spec declares them."""
    from schemas.workers import WORKERS_BY_KIND

    return list(WORKERS_BY_KIND[kind].consumes)


async def wait_until_caught_up(settings: Settings, kinds: Sequence[str], *, timeout_s: float = 60) -> None:
    """Wait until each kind's group has committed every record on its topics, kind after kind (in order,
    so what one kind publishes for the next is on the topics before the next one is checked)."""
    from schemas.workers import consumer_group

    reader = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    await reader.start()
    deadline = time.monotonic() + timeout_s
    try:
        await reader.topics()
        for kind in kinds:
            partitions = [
                TopicPartition(topic, partition)
                for topic in topics_read_by(kind)
                for partition in sorted(reader.partitions_for_topic(topic) or ())
            ]
            ends = {tp: end for tp, end in (await reader.end_offsets(partitions)).items() if end > 0}
            probe = AIOKafkaConsumer(
                bootstrap_servers=settings.kafka_bootstrap_servers,
                group_id=consumer_group(kind),
                enable_auto_commit=False,
            )
            await probe.start()
            try:
                while True:
                    behind = [tp for tp, end in ends.items() if ((await probe.committed(tp)) or 0) < end]
                    if not behind:
                        break
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{kind} did not catch up within {timeout_s}s: {behind[:5]}")
                    await asyncio.sleep(0.2)
            finally:
                await probe.stop()
    finally:
        await reader.stop()


@asynccontextmanager
async def serving_app(app: Any, *, timeout_s: float = 30) -> AsyncIterator[str]:
    """An ASGI app under uvicorn on a free port, as `teppan serve` runs it; yields its base URL.

    Start-up is bounded and watched: a server that dies or never listens fails the test with its error.
    """
    from shared.embedded import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + timeout_s
    try:
        while not server.started:
            if task.done():
                await task  # start-up failed: raise its error here
                raise RuntimeError("uvicorn exited during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError(f"uvicorn did not start within {timeout_s}s")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class WorkerProcesses:
    """The pipeline's workers as real OS processes, so a test can SIGKILL and restart one."""

    def __init__(
        self, settings: Settings, servers: EmbeddedServers, kinds: tuple[str, ...], **env: str
    ) -> None:
        self.env = child_environment(
            servers, TEPPAN_LOG_LEVEL="WARNING", TEPPAN_DATA_DIR=str(settings.data_dir), **env
        )
        self.kinds = kinds
        self.processes: dict[str, asyncio.subprocess.Process] = {}

    async def start(self, kind: str) -> None:
        self.processes[kind] = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            "worker",
            kind,
            env=self.env,
            cwd=Path(__file__).resolve().parents[2],  # the repository root
        )

    async def kill(self, kind: str) -> None:
        process = self.processes.pop(kind)
        process.kill()
        await process.wait()

    async def stop_all(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        await asyncio.gather(*(process.wait() for process in self.processes.values()))
        self.processes.clear()
