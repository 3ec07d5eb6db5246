"""Factories for the faststream Kafka broker, plain aiokafka clients, and topic creation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from schemas.topics import ALL_TOPICS
from shared.settings import Settings

log = logging.getLogger(__name__)

# Large enough for a dead letter that carries a 2 MB paste base64-encoded, which is the point of a DLQ.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


def bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap_servers:
        raise RuntimeError(
            "KAFKA_BOOTSTRAP_SERVERS is not set and no stack.env was found; run `teppan up` or set it."
        )
    return settings.kafka_bootstrap_servers


class Broker(KafkaBroker):
    """A faststream KafkaBroker that also knows how its consumers keep their group membership and how long
    a latency-path fetch waits, so every consumer `shared.consumer.subscribe_batch` registers on it gets the
    configured values without each worker passing them along."""

    def __init__(self, *args: Any, session_timeout_ms: int, fetch_wait_ms: int, **options: Any) -> None:
        super().__init__(*args, **options)
        self.session_timeout_ms = session_timeout_ms
        self.fetch_wait_ms = fetch_wait_ms


def create_broker(settings: Settings, **options: Any) -> Broker:
    # Tansu has no InitProducerId, and the design relies on idempotent consumers instead.
    # No linger: a publish goes out at once (records still batch while a request is in flight), which took
    # about 20 ms off each hop at the demo's rate and left flat-out throughput within its noise
    # (docs/benchmarks.md, 2026-12-07).
    return Broker(
        bootstrap(settings),
        session_timeout_ms=settings.kafka_session_timeout_ms,
        fetch_wait_ms=settings.kafka_fetch_wait_ms,
        enable_idempotence=False,
        max_request_size=MAX_MESSAGE_BYTES,
        linger_ms=0,
        logger=logging.getLogger("teppan.broker"),
        **options,
    )


def create_producer(settings: Settings, **options: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap(settings),
        enable_idempotence=False,
        max_request_size=MAX_MESSAGE_BYTES,
        linger_ms=0,
        **options,
    )


async def create_topics(
    settings: Settings, topics: Iterable[str] = ALL_TOPICS, *, attempts: int = 50
) -> None:
    """Create the topics that do not exist yet; waits for a broker that is still starting."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(settings))
    for attempt in range(attempts):
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in topics if name not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(name, num_partitions=settings.partitions, replication_factor=1)
                        for name in missing
                    ]
                )
            except TopicAlreadyExistsError:
                log.info("topics created concurrently by another process")
    finally:
        await admin.close()
