"""The logger's handler on the consumer loop, against the in-memory conversation log."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel

from services.analytics.conversation_log.worker import LoggerHandler
from shared.consumer import Consumed
from tests.analytics.conversation_log.fakes import InMemoryConversationLog
from tests.analytics.events import analysis, outcome, turn


def consumed(*events: BaseModel) -> list[Consumed[Any]]:
    return [Consumed(event, "topic", 0, offset) for offset, event in enumerate(events)]


async def test_a_batch_is_one_write_and_redelivery_changes_nothing() -> None:
    store = InMemoryConversationLog()
    handler = LoggerHandler(store)
    conversation = uuid.uuid4()
    first, second = turn(conversation), turn(conversation, 1, role="ai", text="How many?")
    batch = consumed(first, analysis(first), second, outcome(conversation))
    await handler(batch)
    assert set(store.messages) == {first.event_id, second.event_id}
    assert list(store.analyses) == [first.event_id] and len(store.outcomes) == 1
    assert store.rebuilt == [[conversation]]
    snapshot = (dict(store.messages), dict(store.analyses), dict(store.outcomes))
    await handler(batch)
    assert (store.messages, store.analyses, store.outcomes) == snapshot


async def test_an_ml_analysis_supersedes_the_fast_one_never_the_reverse() -> None:
    store = InMemoryConversationLog()
    handler = LoggerHandler(store)
    message = turn(uuid.uuid4())
    fast, ml = analysis(message, path="fast", tone="casual"), analysis(message, path="ml", tone="formal")
    await handler(consumed(fast))
    await handler(consumed(ml))
    await handler(consumed(fast))
    assert store.analyses[message.event_id].detected_tone == "formal"


async def test_an_ml_analysis_in_the_same_batch_as_the_fast_one_is_kept() -> None:
    # The slow path can answer before the logger has fetched the fast reading: both then come in one batch.
    store = InMemoryConversationLog()
    handler = LoggerHandler(store)
    message = turn(uuid.uuid4())
    fast, ml = analysis(message, path="fast", tone="casual"), analysis(message, path="ml", tone="formal")
    await handler(consumed(message, fast, ml))
    assert (store.analyses[message.event_id].path, store.analyses[message.event_id].detected_tone) == ("ml", "formal")
