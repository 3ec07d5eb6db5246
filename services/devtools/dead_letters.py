"""Reading a dead-letter queue back: which records, by their original position, ended up there and why.

Used by the fault benchmark and by the tests, which check that every bad record they sent has its letter.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer

from schemas.events import DeadLetter

Position = tuple[str, int, int]  # the original record's topic, partition and offset


async def dead_letters_at(
    bootstrap_servers: str, dlq_topic: str, positions: Iterable[Position], *, timeout_s: float = 60
) -> dict[Position, DeadLetter]:
    """Read `dlq_topic` from the start until it holds a letter for each position, or the time is up."""
    wanted = set(positions)
    found: dict[Position, DeadLetter] = {}
    consumer = AIOKafkaConsumer(
        dlq_topic,
        bootstrap_servers=bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"dead-letter-reader-{uuid.uuid4()}",
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    deadline = time.monotonic() + timeout_s
    try:
        while wanted - set(found) and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    letter = DeadLetter.model_validate_json(record.value)
                    position = (letter.source_topic, letter.partition, letter.offset)
                    if position in wanted:
                        found[position] = letter
    finally:
        await consumer.stop()
    return found
