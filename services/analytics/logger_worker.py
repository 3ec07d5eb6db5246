"""The conversation logger's thin Kafka edge: turns, analyses and outcomes into PostgreSQL, per batch."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from schemas import topics
from schemas.events import BookingOutcome, MessageAnalysis, Turn
from services.analytics.logger_core import (
    analysis_row,
    message_row,
    outcome_row,
    touched_conversations,
    unique_by_first_column,
)
from services.analytics.logger_store import ConversationLogStore
from services.worker_kinds import consumer_group
from shared.consumer import Consumed, subscribe_batch
from shared.db import create_pool, migrate_database
from shared.settings import Settings

GROUP_ID = consumer_group("logger")
TOPIC_MODELS: dict[str, type[BaseModel]] = {
    topics.CHAT_TURNS: Turn,
    topics.NLP_ANALYSES: MessageAnalysis,
    topics.INGEST_OUTCOMES: BookingOutcome,
}


class LoggerHandler:
    def __init__(self, store: ConversationLogStore) -> None:
        self._store = store

    async def __call__(self, batch: list[Consumed[BaseModel]]) -> None:
        messages = unique_by_first_column(message_row(c.event) for c in batch if isinstance(c.event, Turn))
        analyses = unique_by_first_column(
            analysis_row(c.event) for c in batch if isinstance(c.event, MessageAnalysis)
        )
        outcomes = unique_by_first_column(
            outcome_row(c.event) for c in batch if isinstance(c.event, BookingOutcome)
        )
        conversations = touched_conversations([*messages, *outcomes], 1) + touched_conversations(analyses, 2)
        await self._store.write_batch(
            messages=messages,
            analyses=analyses,
            outcomes=outcomes,
            conversations=sorted(set(conversations), key=str),
        )


def register(broker: KafkaBroker, store: ConversationLogStore) -> None:
    subscribe_batch(
        broker,
        models=TOPIC_MODELS,
        group_id=GROUP_ID,
        stage="logger",
        dlq_topic=topics.ANALYTICS_DLQ,
        handle=LoggerHandler(store),
        title="logger",
        description="Writes messages, analyses and outcomes to PostgreSQL and rebuilds conversation_logs.",
    )


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    await migrate_database(settings)
    pool = await create_pool(settings)
    try:
        register(broker, ConversationLogStore(pool))
        yield
    finally:
        await pool.close()
