"""Plays the seeded demo conversations onto the input topics in real time, over the Kafka protocol."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from services.ingest.demo_traffic import iter_events
from shared.kafka import create_producer
from shared.settings import Settings

# Conversations are generated in windows of this many seconds, so an endless demo needs bounded memory.
WINDOW_SECONDS = 300.0


async def produce_demo(settings: Settings, *, rate: float, duration: float | None, seed: int) -> dict[str, int]:
    producer = create_producer(settings)
    await producer.start()
    counts: Counter[str] = Counter()
    started = time.monotonic()
    wall_start = datetime.now(UTC)
    window = 0
    try:
        while duration is None or window * WINDOW_SECONDS < duration:
            window_length = WINDOW_SECONDS if duration is None else min(WINDOW_SECONDS, duration - window * WINDOW_SECONDS)
            window_offset = window * WINDOW_SECONDS
            start = wall_start + timedelta(seconds=window_offset)
            for offset, topic, event in iter_events(
                seed=seed + window, start=start, rate_per_s=rate, duration_s=window_length
            ):
                delay = window_offset + offset - (time.monotonic() - started)
                if delay > 0:
                    await asyncio.sleep(delay)
                await producer.send(
                    topic, json.dumps(event).encode(), key=str(event["conversation_id"]).encode()
                )
                counts[topic] += 1
            window += 1
    finally:
        await producer.flush()
        await producer.stop()
    return dict(counts)
