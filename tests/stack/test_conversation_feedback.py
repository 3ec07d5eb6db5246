"""Surveys and human labels reach the seed's `performance_metrics` in `conversation_logs`."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from schemas import topics
from schemas.events import Label, MessageAnalysis
from shared.settings import Settings
from tests.stack.helpers import WorkerProcesses, chat_message, produce_events, produce_raw, wait_for

pytestmark = pytest.mark.stack


def survey(conversation: str, rating: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "survey.response",
        "conversation_id": conversation,
        "rating": rating,
        "understood": True,
        "tone_appropriate": None,
        "free_text": None,
    }


async def test_mean_rating_and_tone_accuracy_fill_performance_metrics(
    stack: Settings, db: asyncpg.Pool, analytics: WorkerProcesses
) -> None:
    conversation = str(uuid.uuid4())
    first = chat_message(conversation, 0, role="customer", text="hi, 20 people next friday")
    second = chat_message(conversation, 2, role="customer", text="and gyoza please")
    await produce_events(stack, topics.CHAT_MESSAGES, [first, second])
    analyses = [
        MessageAnalysis(
            conversation_id=uuid.UUID(conversation),
            message_event_id=uuid.UUID(message["event_id"]),
            turn_index=index,
            tone="casual",
            intent="booking_inquiry",
            sentiment="positive",
            confidence=0.9,
        )
        for index, message in enumerate((first, second))
    ]
    # A human agrees with the first tone and corrects the second: accuracy 0.5.
    labels = [
        Label(
            conversation_id=uuid.UUID(conversation),
            message_event_id=a.message_event_id,
            field="tone",
            value=value,
        )
        for a, value in zip(analyses, ("casual", "warm"), strict=True)
    ]
    key = conversation.encode()
    await produce_raw(stack, topics.NLP_ANALYSES, [(key, a.model_dump_json().encode()) for a in analyses])
    ratings = [survey(conversation, 5), survey(conversation, 4)]
    # The second survey is sent twice: a redelivery must not move the mean.
    await produce_events(stack, topics.CHAT_SURVEYS, [*ratings, ratings[1]])
    await produce_raw(stack, topics.LABELS, [(key, label.model_dump_json().encode()) for label in labels])

    async def metrics() -> dict[str, Any] | None:
        raw = await db.fetchval(
            "SELECT conversation_data->'performance_metrics' FROM conversation_logs WHERE id = $1",
            uuid.UUID(conversation),
        )
        figures = json.loads(raw) if raw else None
        if figures and figures["customer_satisfaction"] is not None and figures["tone_accuracy"] is not None:
            return figures
        return None

    figures = await wait_for(metrics, timeout_s=60)
    assert figures is not None, "performance_metrics never got the survey and label figures"
    assert figures["customer_satisfaction"] == pytest.approx(4.5)
    assert figures["tone_accuracy"] == pytest.approx(0.5)
