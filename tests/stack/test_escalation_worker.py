"""The escalation worker in the running pipeline: escalated turns get an ML analysis in `message_analyses`
and `conversation_logs`, a redelivered request adds nothing, and a killed worker loses nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from schemas import topics
from shared.embedded import EmbeddedServers
from shared.settings import Settings
from tests.stack.analytics_helpers import read_topic
from tests.stack.helpers import WorkerProcesses, chat_message, produce_events, produce_raw, wait_for

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
async def slow_path(
    stack: Settings,
    stack_servers: EmbeddedServers,
    pipeline: WorkerProcesses,
    nlp_artifacts_dir: Path,
    escalation_model_dir: Path,
) -> AsyncIterator[WorkerProcesses]:
    # A threshold of 1 escalates every customer turn, so each one takes the slow path.
    workers = WorkerProcesses(
        stack,
        stack_servers,
        ("nlp", "escalation"),
        TEPPAN_NLP_ARTIFACTS_DIR=str(nlp_artifacts_dir),
        TEPPAN_ESCALATION_MODEL_DIR=str(escalation_model_dir),
        TEPPAN_ESCALATION_THRESHOLD="1",
    )
    for kind in workers.kinds:
        await workers.start(kind)
    try:
        yield workers
    finally:
        await workers.stop_all()


async def ml_rows(db: asyncpg.Pool, message_ids: list[str]) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            "SELECT message_event_id, detected_tone, detected_intent, confidence, path, logged_at"
            " FROM message_analyses WHERE message_event_id = ANY($1::uuid[]) AND path = 'ml'",
            message_ids,
        )
    )


async def wait_for_ml_rows(
    db: asyncpg.Pool, message_ids: list[str], timeout_s: float = 120
) -> list[asyncpg.Record]:
    async def all_there() -> list[asyncpg.Record] | None:
        rows = await ml_rows(db, message_ids)
        return rows if len(rows) == len(message_ids) else None

    rows = await wait_for(all_there, timeout_s=timeout_s, interval_s=0.2)
    if not rows:
        got = len(await ml_rows(db, message_ids))
        raise AssertionError(
            f"{len(message_ids) - got} of {len(message_ids)} escalated turns got no ML analysis within {timeout_s}s"
        )
    return list(rows)


async def test_escalated_turns_get_an_ml_analysis_in_the_tables_and_the_log(
    stack: Settings, db: asyncpg.Pool, slow_path: WorkerProcesses
) -> None:
    conversation = str(uuid.uuid4())
    turns = [
        chat_message(
            conversation, 0, text="my mom's turning 70 and we were thinking something fun for 30 people"
        ),
        chat_message(conversation, 1, text="Sure! What date?"),
        chat_message(conversation, 2, text="prob the 14th?? not sure yet lol"),
    ]
    await produce_events(stack, topics.CHAT_MESSAGES, turns)
    customer_ids = [turns[0]["event_id"], turns[2]["event_id"]]
    rows = {str(row["message_event_id"]): row for row in await wait_for_ml_rows(db, customer_ids)}

    async def logged() -> dict[str, Any] | None:
        raw = await db.fetchval(
            "SELECT conversation_data FROM conversation_logs WHERE id = $1", uuid.UUID(conversation)
        )
        data = json.loads(raw) if raw else None
        if data and len(data["messages"]) == 3 and data["messages"][2].get("detected_intent") is not None:
            first = data["messages"][0]
            if first.get("confidence") == pytest.approx(float(rows[turns[0]["event_id"]]["confidence"])):
                return data
        return None

    data = await wait_for(logged, timeout_s=60)
    assert data is not None, "conversation_logs did not take the ML analysis"
    first = data["messages"][0]
    assert first["detected_tone"] == rows[turns[0]["event_id"]]["detected_tone"]
    assert first["detected_intent"] == rows[turns[0]["event_id"]]["detected_intent"]
    # The model has no slot head: the rules' party size stays.
    assert first["entities_extracted"]["party_size"]["value"] == 30


async def test_a_redelivered_request_adds_nothing(
    stack: Settings, db: asyncpg.Pool, slow_path: WorkerProcesses
) -> None:
    conversation = str(uuid.uuid4())
    turn = chat_message(conversation, 0, text="can u guys do halal chicken for like twenty ppl")
    await produce_events(stack, topics.CHAT_MESSAGES, [turn])
    [before] = await wait_for_ml_rows(db, [turn["event_id"]])
    # Its ML analysis is logged, so the request it answered is on the topic, below the high watermark.
    [(request_key, request_value)] = await read_topic(
        stack, topics.ML_ESCALATIONS, lambda event: event.get("message_event_id") == turn["event_id"]
    )
    # The same request again, then a fresh one behind it on the same partition (same conversation key):
    # once the fresh one is analysed, so was the repeat.
    marker = {
        **json.loads(request_value),
        "event_id": str(uuid.uuid4()),
        "message_event_id": str(uuid.uuid4()),
    }
    await produce_raw(
        stack,
        topics.ML_ESCALATIONS,
        [(request_key, request_value), (request_key, json.dumps(marker).encode())],
    )
    await wait_for_ml_rows(db, [marker["message_event_id"]])
    [after] = await ml_rows(db, [turn["event_id"]])
    assert after["logged_at"] == before["logged_at"], "the repeat rewrote the ML analysis"
    count = await db.fetchval(
        "SELECT count(*) FROM message_analyses WHERE message_event_id = $1", uuid.UUID(turn["event_id"])
    )
    assert count == 1


async def test_a_killed_escalation_worker_loses_nothing(
    stack: Settings, db: asyncpg.Pool, slow_path: WorkerProcesses
) -> None:
    turns = [
        chat_message(
            str(uuid.uuid4()), 0, text=f"hey could we maybe do {n % 30 + 5} ppl sometime next month?"
        )
        for n in range(300)
    ]
    await produce_events(stack, topics.CHAT_MESSAGES, turns)
    message_ids = [turn["event_id"] for turn in turns]

    async def some_done() -> bool:
        return bool(await ml_rows(db, message_ids))

    assert await wait_for(some_done, timeout_s=120)
    await slow_path.kill("escalation")
    await slow_path.start("escalation")
    await wait_for_ml_rows(db, message_ids, timeout_s=180)
