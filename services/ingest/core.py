"""Ingest's pure core: which topic an input event belongs on, and how an accepted message becomes a Turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from schemas import topics
from schemas.events import (
    BookingOutcome,
    ChatMessage,
    ServiceCall,
    SurveyResponse,
    Turn,
    TurnContext,
)
from services.common.corrections import is_correction
from shared.consumer import UndecodableRecord

INPUT_TOPIC_MODELS: dict[str, type[BaseModel]] = {
    topics.CHAT_MESSAGES: ChatMessage,
    topics.CHAT_OUTCOMES: BookingOutcome,
    topics.CHAT_SURVEYS: SurveyResponse,
    topics.CHAT_SERVICE_CALLS: ServiceCall,
}
EVENT_TYPE_TOPICS: dict[str, str] = {
    model.model_fields["event_type"].default: topic for topic, model in INPUT_TOPIC_MODELS.items()
}
# Where ingest republishes each validated, de-duplicated input.
VALIDATED_TOPICS: dict[type[BaseModel], str] = {
    ChatMessage: topics.CHAT_TURNS,
    BookingOutcome: topics.INGEST_OUTCOMES,
    SurveyResponse: topics.INGEST_SURVEYS,
    ServiceCall: topics.INGEST_SERVICE_CALLS,
}


def model_for_topic(topic: str, payload: Any) -> type[BaseModel]:
    """The model a record on an input topic must validate as; a wrong `event_type` is undecodable."""
    model = INPUT_TOPIC_MODELS.get(topic)
    if model is None:
        raise UndecodableRecord(f"ingest does not consume topic {topic!r}")
    event_type = payload.get("event_type")
    expected = model.model_fields["event_type"].default
    if event_type != expected:
        if isinstance(event_type, str) and event_type in EVENT_TYPE_TOPICS:
            raise UndecodableRecord(
                f"event_type {event_type!r} belongs on {EVENT_TYPE_TOPICS[event_type]}, not {topic}"
            )
        raise UndecodableRecord(f"unknown event_type {event_type!r} on {topic} (expected {expected!r})")
    return model


def looks_like_correction(message: ChatMessage) -> bool:
    """A customer revising what they said, by the same detector the NLP fast path flags messages with."""
    return message.role == "customer" and is_correction(message.text)


@dataclass(frozen=True)
class ConversationPosition:
    """What Redis said about one message: its number in the conversation and the state before it."""

    turn_index: int
    corrections: int
    requested_slots: list[str]


def build_turn(message: ChatMessage, position: ConversationPosition, experiments: dict[str, str]) -> Turn:
    fields = message.model_dump(exclude={"event_type"})
    return Turn(
        **fields,
        turn_index=position.turn_index,
        experiments=experiments,
        context=TurnContext(
            requested_slots=position.requested_slots,  # type: ignore[arg-type]
            corrections=position.corrections,
        ),
    )
