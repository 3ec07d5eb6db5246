"""Ingest's thin Kafka edge: claims each input event in Redis and republishes it, validated, downstream."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from schemas import topics
from schemas.events import BookingOutcome, ChatMessage, ServiceCall, SurveyResponse, Turn
from schemas.workers import consumer_group
from services.common.experiments import Experiment, assign_variants, load_experiments
from services.ingest.core import (
    INPUT_TOPIC_MODELS,
    VALIDATED_TOPICS,
    build_turn,
    looks_like_correction,
    model_for_topic,
)
from services.ingest.state import IngestState
from shared.consumer import Consumed, decode_json_model, publish_events, subscribe_batch
from shared.redis_client import create_redis
from shared.settings import Settings

GROUP_ID = consumer_group("ingest")


IngestedEvent = ChatMessage | BookingOutcome | SurveyResponse | ServiceCall


def conversation_key(event: IngestedEvent) -> bytes:
    return str(event.conversation_id).encode()


class IngestHandler:
    def __init__(
        self, broker: KafkaBroker, state: IngestState, experiments: Sequence[Experiment] = ()
    ) -> None:
        self._broker = broker
        self._state = state
        self._experiments = experiments

    async def __call__(self, batch: list[Consumed[IngestedEvent]]) -> None:
        events = [item.event for item in batch]
        claims = await self._state.claim(
            [
                (
                    event.event_id,
                    event if isinstance(event, ChatMessage) else None,
                    isinstance(event, ChatMessage) and looks_like_correction(event),
                )
                for event in events
            ]
        )
        outgoing: dict[str, list[BaseModel]] = defaultdict(list)
        published_ids = []
        for event, claim in zip(events, claims, strict=True):
            if claim.status == "duplicate":
                continue
            if isinstance(event, ChatMessage):
                variants = assign_variants(
                    self._experiments,
                    customer_id=None if event.customer_id is None else str(event.customer_id),
                    conversation_id=str(event.conversation_id),
                    at=event.occurred_at,
                )
                outgoing[topics.CHAT_TURNS].append(build_turn(event, claim.position, experiments=variants))
            else:
                outgoing[VALIDATED_TOPICS[type(event)]].append(event)
            published_ids.append(event.event_id)
        for topic, topic_events in outgoing.items():
            await publish_events(self._broker, topic, topic_events, key_of=conversation_key)
        await self._state.mark_published(published_ids)


def register(broker: KafkaBroker, state: IngestState, experiments: Sequence[Experiment] = ()) -> None:
    subscribe_batch(
        broker,
        models=INPUT_TOPIC_MODELS,
        group_id=GROUP_ID,
        stage="ingest",
        dlq_topic=topics.INGEST_DLQ,
        decode=decode_json_model(model_for_topic, INPUT_TOPIC_MODELS),
        handle=IngestHandler(broker, state, experiments),
        outputs={topic: Turn if model is ChatMessage else model for model, topic in VALIDATED_TOPICS.items()},
        title="ingest",
        description="Validates and de-duplicates chat input, numbers turns, and publishes chat.turns.v1.",
    )


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    redis = create_redis(settings)
    try:
        register(
            broker,
            IngestState(redis, ttl_seconds=settings.dedup_ttl_seconds),
            load_experiments(settings.experiments_file),
        )
        yield
    finally:
        await redis.aclose()
