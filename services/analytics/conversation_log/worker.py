"""The `logger` worker kind: turns, analyses and outcomes from Kafka into the conversation log, per batch."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from schemas import topics
from schemas.events import BookingOutcome, MessageAnalysis, Turn
from schemas.workers import consumer_group
from services.analytics.conversation_log.core import log_batch
from services.analytics.conversation_log.store import ConversationLogStore, PostgresConversationLog
from shared.consumer import Consumed, subscribe_batch
from shared.db import create_pool
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
        await self._store.write_batch(log_batch([item.event for item in batch]))


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
    pool = await create_pool(settings)
    try:
        register(broker, PostgresConversationLog(pool))
        yield
    finally:
        await pool.close()
