"""The NLP worker in the running pipeline: customer turns get analysed, and the log shows the analysis."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from schemas import topics
from schemas.events import MessageAnalysis
from shared.settings import Settings
from tests.stack.helpers import WorkerProcesses, chat_message, produce_events, wait_for

pytestmark = pytest.mark.stack


async def analyses_for(
    settings: Settings, message_ids: set[str], *, timeout_s: float = 60
) -> list[MessageAnalysis]:
    consumer = AIOKafkaConsumer(
        topics.NLP_ANALYSES,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"test-{uuid.uuid4()}",
    )
    await consumer.start()
    found: list[MessageAnalysis] = []
    try:

        async def collect() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    analysis = MessageAnalysis.model_validate_json(record.value)
                    if str(analysis.message_event_id) in message_ids:
                        found.append(analysis)
            return {str(a.message_event_id) for a in found} >= message_ids

        await wait_for(collect, timeout_s=timeout_s)
    finally:
        await consumer.stop()
    return found


async def test_customer_turns_are_analysed_and_logged(
    stack: Settings, db: asyncpg.Pool, nlp_worker: WorkerProcesses
) -> None:
    conversation = str(uuid.uuid4())
    opening = chat_message(
        conversation, 0, role="customer", text="Hey! I wanna book hibachi for 30 people next Saturday at 7pm"
    )
    question = chat_message(
        conversation, 1, role="ai", text="Awesome! How many guests exactly?", requested_slots=["people"]
    )
    bare_number = chat_message(conversation, 2, role="customer", text="13")
    await produce_events(stack, topics.CHAT_MESSAGES, [opening, question, bare_number])

    customer_ids = {opening["event_id"], bare_number["event_id"]}
    analyses = {str(a.message_event_id): a for a in await analyses_for(stack, customer_ids, timeout_s=120)}
    assert set(analyses) == customer_ids, "every customer turn is analysed, the AI turn is not"
    first = analyses[opening["event_id"]]
    assert first.intent == "booking_inquiry"
    assert first.entities["party_size"].value == 30
    assert first.path == "fast" and 0 <= first.confidence <= 1
    # The assistant had just asked for the head count, so a bare "13" is a party size.
    assert analyses[bare_number["event_id"]].entities["party_size"].value == 13

    async def logged() -> dict[str, Any] | None:
        raw = await db.fetchval(
            "SELECT conversation_data FROM conversation_logs WHERE id = $1", uuid.UUID(conversation)
        )
        data = json.loads(raw) if raw else None
        if data and len(data["messages"]) == 3 and data["messages"][2]["detected_intent"] is not None:
            return data
        return None

    data = await wait_for(logged, timeout_s=60)
    assert data is not None
    customer = data["messages"][0]
    assert customer["detected_intent"] == "booking_inquiry"
    assert customer["detected_tone"] == first.tone
    assert customer["entities_extracted"]["party_size"]["value"] == 30
    assert customer["confidence"] == pytest.approx(first.confidence)
    assert data["messages"][1]["role"] == "ai" and "detected_tone" not in data["messages"][1]


async def test_an_easter_message_is_analysed_and_every_partition_keeps_flowing(
    stack: Settings, db: asyncpg.Pool, nlp_worker: WorkerProcesses
) -> None:
    """An ordinary catering request once raised in the date rules and stalled analysis on five partitions."""
    easter_conversation = str(uuid.uuid4())
    easter = chat_message(
        easter_conversation, 0, role="customer", text="Can you cater our Easter brunch for 20 people?"
    )
    await produce_events(stack, topics.CHAT_MESSAGES, [easter])
    # Then 1,000 customer turns over 200 conversations, which spread over every partition.
    later = [
        chat_message(str(uuid.uuid4()), 0, role="customer", text=f"Hi! Party of {n % 40 + 2} on Easter Sunday?")
        for n in range(1000)
    ]
    await produce_events(stack, topics.CHAT_MESSAGES, later)

    analyses = await analyses_for(stack, {easter["event_id"]}, timeout_s=60)
    assert analyses and analyses[0].entities["party_size"].value == 20
    assert "date" in analyses[0].entities

    async def all_analysed() -> bool:
        count = await db.fetchval(
            "SELECT count(*) FROM message_analyses WHERE message_event_id = ANY($1::uuid[])",
            [event["event_id"] for event in later],
        )
        return bool(count == len(later))

    # 1,000 conversation keys land on every one of the six partitions.
    assert await wait_for(all_analysed, timeout_s=60), "the turns after the Easter message were not all analysed"
