"""Plays the seeded demo conversations onto the input topics in real time, over the Kafka protocol."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from datetime import UTC, datetime

from services.devtools.demo_traffic import iter_events
from shared.kafka import create_producer
from shared.settings import Settings


async def produce_demo(
    settings: Settings, *, rate: float, duration: float | None, seed: int, label_share: float = 0.0
) -> dict[str, int]:
    """Produce until `duration` seconds have passed (None: until stopped); returns events sent per topic."""
    producer = create_producer(settings)
    await producer.start()
    counts: Counter[str] = Counter()
    started = time.monotonic()
    try:
        # The generator is lazy, so an endless demo holds only the conversations still open.
        for offset, topic, event in iter_events(
            seed=seed,
            start=datetime.now(UTC),
            rate_per_s=rate,
            duration_s=math.inf if duration is None else duration,
            label_share=label_share,
        ):
            delay = offset - (time.monotonic() - started)
            if delay > 0:
                await asyncio.sleep(delay)
            await producer.send(topic, json.dumps(event).encode(), key=str(event["conversation_id"]).encode())
            counts[topic] += 1
    finally:
        await producer.flush()
        await producer.stop()
    return dict(counts)
