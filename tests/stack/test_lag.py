"""Consumer lag counts every record not yet committed, even where the broker's ListOffsets under-reports."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from services.devtools.stack_status import StatusReader
from shared.kafka import create_producer, create_topics
from shared.settings import Settings

pytestmark = pytest.mark.stack


async def test_lag_is_the_known_count_of_uncommitted_records(stack: Settings, db: asyncpg.Pool) -> None:
    topic, group = f"test.lag.{uuid.uuid4().hex[:8]}", f"test-lag-{uuid.uuid4().hex[:8]}"
    await create_topics(stack, [topic])
    partition = TopicPartition(topic, 0)
    await produce_two_batches(stack, [topic])
    committer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap_servers, group_id=group)
    await committer.start()
    try:
        committer.assign([partition])
        await committer.commit({partition: OffsetAndMetadata(40, "")})
    finally:
        await committer.stop()

    reader = StatusReader(stack, db)
    try:
        reported = await reader.reported_end_offsets((topic,))
        ends = await reader.end_offsets((topic,))
        assert ends[partition] == 107
        assert await reader.group_lag(group, {partition: ends[partition]}) == 107 - 40
        # A reader that has fetched one topic still sees every other: its metadata must not shrink.
        other = f"test.lag-other.{uuid.uuid4().hex[:8]}"
        await create_topics(stack, [other])
        producer = create_producer(stack)
        await producer.start()
        try:
            await (await producer.send(other, b"y", partition=0))
        finally:
            await producer.stop()
        both = await reader.end_offsets((topic, other))
        assert both[partition] == 107 and both[TopicPartition(other, 0)] == 1
        # Many under-reported partitions at once: one fetch answer can come before the others, and each
        # partition still gets its true end (a partition left without a high watermark once kept 101).
        many = [f"test.lag-many.{uuid.uuid4().hex[:8]}" for _ in range(6)]
        await create_topics(stack, many)
        await produce_two_batches(stack, many)
        for _ in range(3):
            found = await reader.end_offsets((topic, *many))
            first_partitions = {tp.topic: end for tp, end in found.items() if tp.partition == 0}
            assert first_partitions == dict.fromkeys((topic, *many), 107)
    finally:
        await reader.close()
    # Tansu says less (the last batch's first offset + 1); a correct broker says 107 too.
    assert reported[partition] <= ends[partition]


async def produce_two_batches(settings: Settings, names: list[str]) -> None:
    """107 records on partition 0 of each topic, in a batch of 100 and one of 7: Tansu's ListOffsets then
    answers with the last batch's first offset + 1 (101)."""
    producer = create_producer(settings)
    await producer.start()
    try:
        for name in names:
            for burst in (100, 7):
                futures = [await producer.send(name, b"x", partition=0) for _ in range(burst)]
                for future in futures:
                    await future
    finally:
        await producer.stop()
