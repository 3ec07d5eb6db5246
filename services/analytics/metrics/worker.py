"""The `metrics` worker kind: turns, analyses, outcomes, surveys, service calls and labels into one-minute
windows in PostgreSQL, each changed window published as a MetricsSnapshot.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from schemas import topics
from schemas.events import (
    BookingOutcome,
    Label,
    MessageAnalysis,
    MetricsSnapshot,
    ServiceCall,
    SurveyResponse,
    Turn,
)
from schemas.workers import consumer_group
from services.analytics.metrics.core import (
    MetricsEvent,
    claims,
    count_windows,
    ended_conversations,
    labelled_messages,
    metrics_facts,
    snapshot,
)
from services.analytics.metrics.store import MetricsStore, PostgresMetricsStore
from services.analytics.metrics.windows import MetricsWindow
from shared.consumer import BACKGROUND_FETCH_WAIT_MS, Consumed, publish_events, subscribe_batch
from shared.db import create_pool
from shared.settings import Settings

GROUP_ID = consumer_group("metrics")
TOPIC_MODELS: dict[str, type[BaseModel]] = {
    topics.CHAT_TURNS: Turn,
    topics.NLP_ANALYSES: MessageAnalysis,
    topics.INGEST_OUTCOMES: BookingOutcome,
    topics.INGEST_SURVEYS: SurveyResponse,
    topics.INGEST_SERVICE_CALLS: ServiceCall,
    topics.LABELS: Label,
}

PublishSnapshots = Callable[[Sequence[MetricsSnapshot]], Awaitable[None]]


class MetricsHandler:
    def __init__(self, store: MetricsStore, publish: PublishSnapshots) -> None:
        self._store = store
        self._publish = publish

    async def __call__(self, batch: list[Consumed[MetricsEvent]]) -> None:
        events = list({item.event.event_id: item.event for item in batch}.values())
        changed = await self.count(events)
        # Published after the commit: a snapshot is the window's current state, and the next batch
        # touching the window publishes a newer one anyway.
        await self._publish([snapshot(window) for window in changed])

    async def count(self, events: Sequence[MetricsEvent]) -> list[MetricsWindow]:
        """Counts the events no batch has counted yet into their stored windows; returns the windows changed.

        Claiming the event ids and merging into the windows happen in one transaction, so a redelivered
        event is never counted twice and a failed batch leaves no trace.
        """
        facts = metrics_facts(events)
        async with self._store.transaction() as writes:
            await writes.store_facts(facts)
            claimed = await writes.claim(claims(events))
            fresh = [event for event in events if event.event_id in claimed]
            if not fresh:
                return []
            conversations = await writes.conversations(ended_conversations(fresh))
            answers = await writes.model_answers(labelled_messages(fresh))
            return await writes.merge(count_windows(fresh, conversations, answers))


def _snapshot_key(event: MetricsSnapshot) -> bytes:
    return event.window_start.isoformat().encode()


def register(broker: KafkaBroker, store: MetricsStore) -> None:
    publish = partial(publish_events, broker, topics.ANALYTICS_METRICS, key_of=_snapshot_key)
    subscribe_batch(
        broker,
        models=TOPIC_MODELS,
        group_id=GROUP_ID,
        stage="metrics",
        dlq_topic=topics.ANALYTICS_DLQ,
        handle=MetricsHandler(store, publish),
        outputs={topics.ANALYTICS_METRICS: MetricsSnapshot},
        title="metrics",
        description="One-minute metrics windows with mergeable sketches; LLM usage, surveys and labels.",
        fetch_wait_ms=BACKGROUND_FETCH_WAIT_MS,
    )


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    pool = await create_pool(settings)
    try:
        register(broker, PostgresMetricsStore(pool))
        yield
    finally:
        await pool.close()
