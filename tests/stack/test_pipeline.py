"""The spine end to end, through real processes: Tansu, the ingest and logger workers, Redis, PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from schemas import topics
from schemas.events import MessageAnalysis
from shared.settings import Settings
from tests.stack.helpers import (
    WorkerProcesses,
    chat_message,
    dead_letters_at,
    original_bytes,
    produce_chat_messages,
    produce_events,
    produce_raw,
    wait_for,
    wait_until_logged,
)

pytestmark = pytest.mark.stack


async def conversation_log(db: asyncpg.Pool, conversation_id: str) -> dict[str, Any] | None:
    row = await db.fetchrow(
        "SELECT conversation_data, outcome_data, customer_id FROM conversation_logs WHERE id = $1",
        uuid.UUID(conversation_id),
    )
    if row is None:
        return None
    return {
        "conversation_data": json.loads(row["conversation_data"]),
        "outcome_data": json.loads(row["outcome_data"]) if row["outcome_data"] else None,
        "customer_id": row["customer_id"],
    }


async def test_thousand_messages_reach_messages_and_conversation_logs(
    stack: Settings, db: asyncpg.Pool, pipeline: WorkerProcesses
) -> None:
    conversations = [str(uuid.uuid4()) for _ in range(100)]
    events = await produce_chat_messages(stack, conversations, per_conversation=10)
    assert len(events) == 1000

    await wait_until_logged(db, [event["event_id"] for event in events], timeout_s=120)

    async def all_conversations_complete() -> bool:
        lengths = await db.fetch(
            "SELECT jsonb_array_length(conversation_data->'messages') AS n FROM conversation_logs "
            "WHERE id = ANY($1::uuid[])",
            conversations,
        )
        return len(lengths) == 100 and all(row["n"] == 10 for row in lengths)

    assert await wait_for(all_conversations_complete, timeout_s=30)
    turn_indexes = await db.fetch(
        "SELECT conversation_id, array_agg(turn_index ORDER BY turn_index) AS turns FROM messages "
        "WHERE conversation_id = ANY($1::uuid[]) GROUP BY conversation_id",
        conversations,
    )
    assert all(list(row["turns"]) == list(range(10)) for row in turn_indexes)

    log = await conversation_log(db, conversations[0])
    assert log is not None
    data = log["conversation_data"]
    assert data["id"] == conversations[0]
    assert data["customer_id"] == 42 and log["customer_id"] == 42
    customer, ai = data["messages"][0], data["messages"][1]
    assert customer["role"] == "customer" and customer["content"].startswith("message 0")
    assert set(customer) >= {"detected_tone", "detected_intent", "entities_extracted", "confidence"}
    assert customer["detected_tone"] is None  # no NLP analysis in this test
    assert ai["role"] == "ai" and ai["tone_used"] == "warm" and ai["suggested_upsells"] == ["gyoza"]
    assert "performance_metrics" in data


async def test_redelivered_event_is_logged_once(
    stack: Settings, db: asyncpg.Pool, pipeline: WorkerProcesses
) -> None:
    conversation = str(uuid.uuid4())
    first = chat_message(conversation, 0)
    await produce_events(stack, topics.CHAT_MESSAGES, [first])
    await wait_until_logged(db, [first["event_id"]])
    # The same event again, later, mixed with a new one.
    second = chat_message(conversation, 1)
    await produce_events(stack, topics.CHAT_MESSAGES, [first, second, first])
    await wait_until_logged(db, [second["event_id"]])

    rows = await db.fetchval(
        "SELECT count(*) FROM messages WHERE conversation_id = $1", uuid.UUID(conversation)
    )
    assert rows == 2
    log = await conversation_log(db, conversation)
    assert log is not None
    assert [m["event_id"] for m in log["conversation_data"]["messages"]] == [
        first["event_id"],
        second["event_id"],
    ]
    turns = await db.fetch(
        "SELECT turn_index FROM messages WHERE conversation_id = $1 ORDER BY turn_index",
        uuid.UUID(conversation),
    )
    assert [row["turn_index"] for row in turns] == [0, 1]


async def test_bad_input_is_dead_lettered_or_stored_safely(
    stack: Settings, db: asyncpg.Pool, pipeline: WorkerProcesses
) -> None:
    conversation = str(uuid.uuid4())
    key = conversation.encode()
    wrong_shape = {"event_type": "chat.message", "conversation_id": conversation, "role": "robot"}
    unknown_type = {**chat_message(conversation, 0), "event_type": "chat.telepathy"}
    huge = chat_message(conversation, 0, text="x" * (2 * 1024 * 1024))
    raw_nul = b'{"event_type": "chat.message", "text": "a\x00b"}'
    bad = [
        (key, b"this is not json {"),
        (key, json.dumps(wrong_shape).encode()),
        (key, json.dumps(unknown_type).encode()),
        (key, json.dumps(huge).encode()),
        (key, raw_nul),
        (key, json.dumps([1, 2, 3]).encode()),
    ]
    metadata = await produce_raw(stack, topics.CHAT_MESSAGES, bad)

    nul_escaped = chat_message(conversation, 0, text="party of 8\u0000 please")
    injection = chat_message(conversation, 2, text="Robert'); DROP TABLE messages;-- for 20 guests")
    after = chat_message(conversation, 4, text="still working?")
    await produce_events(stack, topics.CHAT_MESSAGES, [nul_escaped, injection, after])
    await wait_until_logged(db, [nul_escaped["event_id"], injection["event_id"], after["event_id"]])

    stored = {
        str(row["event_id"]): row["text"]
        for row in await db.fetch(
            "SELECT event_id, text FROM messages WHERE conversation_id = $1", uuid.UUID(conversation)
        )
    }
    assert stored[nul_escaped["event_id"]] == "party of 8 please"
    assert stored[injection["event_id"]] == injection["text"]
    assert await db.fetchval("SELECT to_regclass('messages') IS NOT NULL")

    # Read until each bad record's own dead letter is found (the DLQ also holds other tests' letters).
    by_position = await dead_letters_at(stack, topics.INGEST_DLQ, metadata)
    reasons = []
    for (_, value), meta in zip(bad, metadata, strict=True):
        letter = by_position.get((meta.topic, meta.partition, meta.offset))
        assert letter is not None, f"no dead letter for offset {meta.offset}"
        assert letter.stage == "ingest"
        assert original_bytes(letter) == value
        reasons.append(letter.error)
    assert "not UTF-8 JSON" in reasons[0]
    assert "role" in reasons[1]
    assert "unknown event_type 'chat.telepathy'" in reasons[2]
    assert "text" in reasons[3] and "16000" in reasons[3]
    assert "not UTF-8 JSON" in reasons[4]
    assert "expected a JSON object" in reasons[5]


async def test_worker_killed_mid_stream_loses_nothing(
    stack: Settings, db: asyncpg.Pool, pipeline: WorkerProcesses
) -> None:
    conversations = [str(uuid.uuid4()) for _ in range(60)]
    producing = asyncio.create_task(_produce_slowly(stack, conversations, per_conversation=50))

    def logged_at_least(count: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            logged = await db.fetchval(
                "SELECT count(*) FROM messages WHERE conversation_id = ANY($1::uuid[])", conversations
            )
            return bool(logged >= count)

        return check

    # Kill each worker mid-stream, once the stream is visibly flowing through it (not after a fixed sleep).
    assert await wait_for(logged_at_least(300), timeout_s=60, interval_s=0.02)
    await pipeline.kill("ingest")
    assert not producing.done(), "the stream ended before the kills: nothing was killed mid-stream"
    await pipeline.start("ingest")
    assert await wait_for(logged_at_least(900), timeout_s=60, interval_s=0.02)
    await pipeline.kill("logger")  # with ingest's backlog still flowing into it
    await pipeline.start("logger")
    events = await producing

    await wait_until_logged(db, [event["event_id"] for event in events], timeout_s=180)
    counts = await db.fetchrow(
        "SELECT count(*) AS rows, count(DISTINCT event_id) AS distinct_ids FROM messages "
        "WHERE conversation_id = ANY($1::uuid[])",
        conversations,
    )
    assert counts["rows"] == counts["distinct_ids"] == len(events)

    async def logs_complete() -> bool:
        entries = await db.fetchval(
            "SELECT coalesce(sum(jsonb_array_length(conversation_data->'messages')), 0) FROM conversation_logs "
            "WHERE id = ANY($1::uuid[])",
            conversations,
        )
        return int(entries) == len(events)

    assert await wait_for(logs_complete, timeout_s=30)
    turns = await db.fetch(
        "SELECT array_agg(turn_index ORDER BY turn_index) AS turns FROM messages "
        "WHERE conversation_id = ANY($1::uuid[]) GROUP BY conversation_id",
        conversations,
    )
    assert all(list(row["turns"]) == list(range(50)) for row in turns)


async def _produce_slowly(
    settings: Settings, conversations: list[str], *, per_conversation: int
) -> list[dict[str, Any]]:
    events = []
    for index in range(per_conversation):
        batch = [chat_message(conversation, index) for conversation in conversations]
        await produce_events(settings, topics.CHAT_MESSAGES, batch)
        events.extend(batch)
        await asyncio.sleep(0.1)  # about five seconds in all, so the first kill lands mid-stream
    return events


async def test_outcome_and_analysis_fill_the_conversation_log(
    stack: Settings, db: asyncpg.Pool, pipeline: WorkerProcesses
) -> None:
    conversation = str(uuid.uuid4())
    customer = chat_message(conversation, 0, text="Hey! I wanna book for 30 people")
    analysis = MessageAnalysis(
        conversation_id=uuid.UUID(conversation),
        message_event_id=uuid.UUID(customer["event_id"]),
        turn_index=0,
        tone="casual",
        intent="booking_inquiry",
        sentiment="positive",
        entities={"party_size": {"surface": "30 people", "value": 30, "confidence": 0.95}},
        confidence=0.85,
    )
    outcome = {
        "event_id": str(uuid.uuid4()),
        "event_type": "booking.outcome",
        "occurred_at": "2026-11-22T15:00:00Z",
        "conversation_id": conversation,
        "customer_id": 42,
        "booked": True,
        "booking_id": "BK123",
        "total_value": 1950.0,
        "offered_upsells": ["gyoza", "third_protein"],
        "accepted_upsells": ["gyoza"],
    }
    # The analysis is published before the turn is logged: the logger must not lose it.
    await produce_raw(
        stack, topics.NLP_ANALYSES, [(conversation.encode(), analysis.model_dump_json().encode())]
    )
    await produce_events(stack, topics.CHAT_MESSAGES, [customer])
    await produce_events(stack, topics.CHAT_OUTCOMES, [outcome])

    async def complete() -> dict[str, Any] | None:
        log = await conversation_log(db, conversation)
        if log and log["outcome_data"] and log["conversation_data"]["messages"]:
            return log
        return None

    log = await wait_for(complete, timeout_s=30)
    assert log is not None
    message = log["conversation_data"]["messages"][0]
    assert message["detected_tone"] == "casual"
    assert message["detected_intent"] == "booking_inquiry"
    assert message["entities_extracted"] == {"party_size": {"text": "30 people", "value": 30}}
    assert message["confidence"] == pytest.approx(0.85)
    assert log["outcome_data"] == {
        "booked": True,
        "booking_id": "BK123",
        "total_value": 1950.0,
        "accepted_upsells": ["gyoza"],
        "offered_upsells": ["gyoza", "third_protein"],
    }
