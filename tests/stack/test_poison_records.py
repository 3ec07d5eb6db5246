"""Records that once stalled a partition for good: each is a dead letter now, and the stream flows past it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from schemas import topics
from shared.consumer import Consumed, subscribe_batch
from shared.faults import RetryPolicy
from shared.kafka import create_broker, create_topics
from shared.settings import Settings
from tests.stack.helpers import (
    WorkerProcesses,
    chat_message,
    dead_letters_at,
    original_bytes,
    produce_events,
    produce_raw,
    wait_for,
    wait_until_logged,
)

pytestmark = pytest.mark.stack


async def test_records_that_wedged_ingest_and_the_logger_are_dead_lettered_and_valid_ones_land(
    stack: Settings, db: asyncpg.Pool, pipeline: WorkerProcesses
) -> None:
    conversations = [str(uuid.uuid4()) for _ in range(60)]
    valid = [chat_message(conversation, index) for conversation in conversations for index in range(10)]
    poison_conversation = str(uuid.uuid4())
    key = poison_conversation.encode()
    base = chat_message(poison_conversation, 0)
    poison = [
        (key, b"[" * 5000 + b"]" * 5000),  # RecursionError in json.loads
        (key, b'{"event_type": "chat.message", "customer_id": ' + b"9" * 5000 + b"}"),  # int digits
        (key, json.dumps({**base, "occurred_at": "9999-12-31T23:59:59-12:00"}).encode()),  # OverflowError
        (key, json.dumps({**chat_message(poison_conversation, 0), "customer_id": 2**40}).encode()),  # int32
        (b"another-conversation", json.dumps(chat_message(poison_conversation, 0)).encode()),  # wrong key
    ]
    # Interleaved: the poison sits in the same batches and partitions as valid messages.
    await produce_events(stack, topics.CHAT_MESSAGES, valid[:300])
    metadata = await produce_raw(stack, topics.CHAT_MESSAGES, poison)
    await produce_events(stack, topics.CHAT_MESSAGES, valid[300:])

    await wait_until_logged(db, [event["event_id"] for event in valid], timeout_s=90)
    letters = await dead_letters_at(stack, topics.INGEST_DLQ, metadata)
    reasons = []
    for (_, value), meta in zip(poison, metadata, strict=True):
        letter = letters[(meta.topic, meta.partition, meta.offset)]
        assert original_bytes(letter) == value
        reasons.append(letter.error)
    assert "nested deeper than" in reasons[0]
    assert "4300 digits" in reasons[1]
    assert "occurred_at" in reasons[2]
    assert "customer_id" in reasons[3]
    assert "key" in reasons[4]


class Probe(BaseModel):
    """A test event: a handler fails on it when `text` says so."""

    conversation_id: uuid.UUID
    text: str


class FlakyHandler:
    """Raises for poison texts every time, and as if the database were down for its first calls."""

    def __init__(self, outage_calls: int) -> None:
        self.outage_calls = outage_calls
        self.calls = 0
        self.handled: list[str] = []

    async def __call__(self, batch: list[Consumed[Probe]]) -> None:
        self.calls += 1
        if self.calls <= self.outage_calls:
            raise ConnectionResetError("connection reset by peer (simulated outage)")
        for item in batch:
            if item.event.text == "recurse":
                raise RecursionError("maximum recursion depth exceeded")
            if item.event.text == "overflow":
                raise OverflowError("value out of int32 range")
            if item.event.text == "lookup":
                raise KeyError("surprise")
        self.handled.extend(item.event.text for item in batch)


@contextlib.asynccontextmanager
async def probe_consumer(stack: Settings, handler: FlakyHandler) -> AsyncIterator[tuple[str, str, str]]:
    topic, dlq = f"test.probe.{uuid.uuid4().hex[:8]}", f"test.probe-dlq.{uuid.uuid4().hex[:8]}"
    group = f"test-probe-{uuid.uuid4().hex[:8]}"
    await create_topics(stack, [topic, dlq])
    broker: KafkaBroker = create_broker(stack)
    subscribe_batch(
        broker,
        models={topic: Probe},
        group_id=group,
        stage="probe",
        dlq_topic=dlq,
        handle=handler,
        retry_policy=RetryPolicy(world_backoff_initial_s=0.05, world_backoff_max_s=0.2, record_retry_pause_s=0),
    )
    await broker.start()
    try:
        yield topic, dlq, group
    finally:
        await broker.stop()


async def committed_everything(stack: Settings, group: str, topic: str) -> bool:
    probe = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap_servers, group_id=group)
    await probe.start()
    try:
        await probe.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(probe.partitions_for_topic(topic) or ())]
        ends = await probe.end_offsets(partitions)
        committed = [(await probe.committed(tp)) or 0 for tp in ends]
        return bool(ends) and all(done >= end for done, end in zip(committed, ends.values(), strict=True))
    finally:
        await probe.stop()


async def test_a_handler_that_raises_on_one_record_dead_letters_it_with_its_traceback(stack: Settings) -> None:
    handler = FlakyHandler(outage_calls=4)
    async with probe_consumer(stack, handler) as (topic, dlq, _group):
        conversation = str(uuid.uuid4())
        texts = [f"ok {n}" for n in range(200)]
        for index, bad in ((20, "recurse"), (110, "overflow"), (170, "lookup")):
            texts[index] = bad
        records: list[tuple[bytes | None, bytes]] = [
            (conversation.encode(), json.dumps({"conversation_id": conversation, "text": text}).encode())
            for text in texts
        ]
        metadata = await produce_raw(stack, topic, records)

        good = [text for text in texts if text.startswith("ok")]

        async def all_good_handled() -> bool:
            return set(good) <= set(handler.handled)

        assert await wait_for(all_good_handled, timeout_s=60)
        bad_positions = [metadata[20], metadata[110], metadata[170]]
        letters = await dead_letters_at(stack, dlq, bad_positions)
        errors = [letters[(m.topic, m.partition, m.offset)].error for m in bad_positions]
        assert "RecursionError" in errors[0] and "Traceback" in errors[0]
        assert "OverflowError" in errors[1]
        assert "KeyError" in errors[2]
        # The simulated outage was waited out: nothing good was dead-lettered for it.
        assert not any(
            original_bytes(letter) == records[i][1]
            for letter in letters.values()
            for i in range(len(records))
            if texts[i].startswith("ok")
        )
    assert handler.calls > 4


async def test_the_stream_keeps_moving_after_a_poison_record(stack: Settings) -> None:
    """Offsets are committed past the dead letter, so a restart does not meet the poison again."""
    handler = FlakyHandler(outage_calls=0)
    async with probe_consumer(stack, handler) as (topic, _dlq, group):
        conversation = str(uuid.uuid4())
        await produce_raw(
            stack,
            topic,
            [
                (conversation.encode(), json.dumps({"conversation_id": conversation, "text": t}).encode())
                for t in ("ok a", "recurse", "ok b")
            ],
        )

        async def handled_both() -> bool:
            return {"ok a", "ok b"} <= set(handler.handled)

        assert await wait_for(handled_both, timeout_s=30)

        async def committed() -> bool:
            return await committed_everything(stack, group, topic)

        assert await wait_for(committed, timeout_s=30)
        calls_after = handler.calls
        await asyncio.sleep(0.5)
        # No hot loop: once isolated and committed past, the poison is not handled again.
        assert handler.calls == calls_after
