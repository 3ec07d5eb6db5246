"""The metrics handler against the in-memory store: each event counted once, windows merged across
batches, a snapshot of every changed window, and a failed batch leaving no trace.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import BaseModel

from schemas.events import MetricsSnapshot
from services.analytics.metrics.worker import MetricsHandler
from shared.consumer import Consumed
from tests.analytics.events import analysis, outcome, turn
from tests.analytics.fakes import Publisher
from tests.analytics.metrics.fakes import InMemoryMetricsStore


class Room:
    def __init__(self, store: InMemoryMetricsStore | None = None) -> None:
        self.store = store or InMemoryMetricsStore()
        self.publisher: Publisher[MetricsSnapshot] = Publisher()
        self.handler = MetricsHandler(self.store, self.publisher)

    async def handle(self, *events: BaseModel) -> None:
        batch: list[Consumed[Any]] = [Consumed(e, "topic", 0, offset) for offset, e in enumerate(events)]
        await self.handler(batch)


async def test_redelivered_events_change_no_figure_and_publish_nothing() -> None:
    room = Room()
    conversation = uuid.uuid4()
    first = turn(conversation)
    events = [first, first, analysis(first), turn(conversation, 1, role="ai", text="How many?")]
    await room.handle(*events)
    (published,) = room.publisher.published
    assert published.figures["conversation.turns"] == 2.0
    assert published.figures["model.analyses"] == 1.0
    await room.handle(*events)
    assert len(room.publisher.published) == 1
    assert room.store.windows[published.window_start].turns == 2


async def test_windows_merge_across_batches_and_outcomes_read_the_progress_so_far() -> None:
    room = Room()
    conversation = uuid.uuid4()
    await room.handle(turn(conversation), turn(conversation, 1, role="human_agent", text="Sam here"))
    await room.handle(
        turn(conversation, 2), outcome(conversation, occurred_at=turn(conversation).occurred_at)
    )
    latest = room.publisher.published[-1]
    assert latest.figures["conversation.turns"] == 3.0
    assert latest.figures["conversation.avg_turns"] == 3.0
    assert latest.figures["conversation.task_completion_rate"] == 0.0


async def test_a_failed_batch_leaves_no_trace_and_counts_on_redelivery() -> None:
    room = Room()
    message = turn(uuid.uuid4())

    async def broken_merge(windows: Any) -> Any:
        raise ConnectionError("database gone")

    healthy_merge = room.store.merge
    room.store.merge = broken_merge  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await room.handle(message)
    assert room.store.claimed == {} and room.store.windows == {} and room.store.progress == {}
    room.store.merge = healthy_merge  # type: ignore[method-assign]
    await room.handle(message)
    assert room.publisher.published[0].figures["conversation.turns"] == 1.0
