"""Small valid events for the analytics unit tests: a turn, its analysis, an outcome."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import BookingOutcome, MessageAnalysis, Turn

T0 = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


def turn(conversation: uuid.UUID, index: int = 0, **fields: Any) -> Turn:
    values: dict[str, Any] = {
        "conversation_id": conversation,
        "customer_id": 42,
        "occurred_at": T0 + timedelta(seconds=index),
        "role": "customer",
        "text": "hi, we need hibachi for 30 people",
        "channel": "web",
        "turn_index": index,
    }
    return Turn(**{**values, **fields})


def analysis(message: Turn, **fields: Any) -> MessageAnalysis:
    values: dict[str, Any] = {
        "conversation_id": message.conversation_id,
        "customer_id": message.customer_id,
        "occurred_at": message.occurred_at + timedelta(milliseconds=200),
        "message_event_id": message.event_id,
        "turn_index": message.turn_index,
        "tone": "casual",
        "intent": "booking_inquiry",
        "sentiment": "positive",
        "entities": {"party_size": {"surface": "30 people", "value": 30, "confidence": 0.95}},
        "confidence": 0.9,
        "latency_ms": 12.0,
        "model_versions": {"tone": "t1", "intent": "i2"},
    }
    return MessageAnalysis(**{**values, **fields})


def outcome(conversation: uuid.UUID, **fields: Any) -> BookingOutcome:
    values: dict[str, Any] = {
        "conversation_id": conversation,
        "customer_id": 42,
        "occurred_at": T0 + timedelta(minutes=5),
        "booked": True,
        "booking_id": "BK1",
        "total_value": 1950.0,
        "offered_upsells": ["lobster", "sake"],
        "accepted_upsells": ["lobster"],
    }
    return BookingOutcome(**{**values, **fields})
