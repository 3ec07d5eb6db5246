"""The edge-case handler against the in-memory store, prediction log and publisher: what is stored,
written and announced, in either arrival order, once, and again after a failed publish.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import BaseModel

from schemas.events import EdgeCaseFlagged
from services.analytics.edge_cases.core import LOW_CONFIDENCE, EdgeCaseThresholds
from services.analytics.edge_cases.worker import EdgeCaseHandler
from shared.consumer import Consumed
from tests.analytics.edge_cases.fakes import InMemoryEdgeCaseStore, InMemoryPredictionLog
from tests.analytics.events import analysis, turn
from tests.analytics.fakes import Publisher


class Room:
    def __init__(self, thresholds: EdgeCaseThresholds | None = None) -> None:
        self.store = InMemoryEdgeCaseStore()
        self.log = InMemoryPredictionLog()
        self.publisher: Publisher[EdgeCaseFlagged] = Publisher()
        self.handler = EdgeCaseHandler(
            self.store, self.log, self.publisher, thresholds or EdgeCaseThresholds()
        )

    async def handle(self, *events: BaseModel) -> None:
        batch: list[Consumed[Any]] = [Consumed(e, "topic", 0, offset) for offset, e in enumerate(events)]
        await self.handler(batch)


@pytest.mark.parametrize("turn_first", [True, False])
async def test_a_prediction_is_logged_once_its_turn_and_analysis_are_both_seen(turn_first: bool) -> None:
    room = Room()
    message = turn(uuid.uuid4(), text="30 people, ring 415-555-0123")
    reading = analysis(message)
    first, second = (message, reading) if turn_first else (reading, message)
    await room.handle(first)
    assert room.log.lines == []
    await room.handle(second)
    (record,) = room.log.lines
    assert record["event_id"] == str(reading.event_id)
    assert record["input"]["user_text"] == "30 people, ring [phone]"
    assert room.store.written == {reading.event_id: record}
    assert room.store.locked[-1] == [message.event_id]


async def test_flags_are_stored_and_announced_once() -> None:
    room = Room()
    message = turn(uuid.uuid4())
    low = analysis(message, confidence=0.4)
    await room.handle(message, low)
    (flagged,) = room.publisher.published
    assert (flagged.conversation_id, flagged.message_event_id, flagged.reasons) == (
        message.conversation_id,
        message.event_id,
        [LOW_CONFIDENCE],
    )
    assert list(room.store.flags) == [(message.conversation_id, LOW_CONFIDENCE)]
    await room.handle(message, low)
    await room.handle(analysis(turn(message.conversation_id, 2), confidence=0.3))
    assert len(room.publisher.published) == 1
    # The later analysis waits for its turn's text before it is logged.
    assert len(room.log.lines) == 1


async def test_thresholds_come_from_the_handler() -> None:
    room = Room(EdgeCaseThresholds(min_confidence=0.3))
    message = turn(uuid.uuid4())
    await room.handle(message, analysis(message, confidence=0.4))
    assert room.publisher.published == [] and room.store.flags == {}


async def test_a_failed_publish_rolls_the_batch_back_so_redelivery_announces_the_same_event() -> None:
    room = Room()
    message = turn(uuid.uuid4())
    low = analysis(message, confidence=0.4)
    room.publisher.fail = True
    with pytest.raises(ConnectionError):
        await room.handle(message, low)
    assert room.store.flags == {} and room.store.written == {}
    # The line was appended before the rollback: the log may hold a line twice, never lose one.
    assert len(room.log.lines) == 1
    await room.handle(message, low)
    (flagged,) = room.publisher.published
    assert flagged.reasons == [LOW_CONFIDENCE]
    assert [line["event_id"] for line in room.log.lines] == [str(low.event_id)] * 2
    await room.handle(message, low)
    assert len(room.log.lines) == 2 and len(room.publisher.published) == 1
