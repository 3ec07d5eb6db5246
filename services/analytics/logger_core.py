"""The conversation logger's pure core: turns, analyses and outcomes become table rows.

Row tuples follow the column lists below, so the store can bulk-copy them without knowing the events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from schemas.events import BookingOutcome, MessageAnalysis, Turn

MESSAGE_COLUMNS = (
    "event_id",
    "conversation_id",
    "customer_id",
    "role",
    "text",
    "channel",
    "turn_index",
    "occurred_at",
    "assistant",
    "experiments",
    "context",
)
ANALYSIS_COLUMNS = (
    "message_event_id",
    "analysis_event_id",
    "conversation_id",
    "path",
    "detected_tone",
    "detected_intent",
    "entities_extracted",
    "confidence",
    "escalate",
    "latency_ms",
    "analysis",
    "occurred_at",
)
OUTCOME_COLUMNS = (
    "event_id",
    "conversation_id",
    "customer_id",
    "booked",
    "booking_id",
    "total_value",
    "offered_upsells",
    "accepted_upsells",
    "occurred_at",
)
ASSISTANT_FIELDS = (
    "tone_used",
    "suggested_upsells",
    "requested_slots",
    "model",
    "provider",
    "prompt_version",
    "tokens_in",
    "tokens_out",
    "latency_ms",
)


def message_row(turn: Turn) -> tuple[Any, ...]:
    assistant = turn.model_dump(mode="json", include=set(ASSISTANT_FIELDS)) if turn.role == "ai" else None
    return (
        turn.event_id,
        turn.conversation_id,
        turn.customer_id,
        turn.role,
        turn.text,
        turn.channel,
        turn.turn_index,
        turn.occurred_at,
        json.dumps(assistant) if assistant is not None else None,
        json.dumps(turn.experiments),
        turn.context.model_dump_json(),
    )


def entities_extracted(analysis: MessageAnalysis) -> dict[str, Any]:
    """The seed's `entities_extracted`: each entity's surface text and normalised value."""
    return {
        name: {"text": entity.surface, "value": entity.value} for name, entity in analysis.entities.items()
    }


def analysis_row(analysis: MessageAnalysis) -> tuple[Any, ...]:
    return (
        analysis.message_event_id,
        analysis.event_id,
        analysis.conversation_id,
        analysis.path,
        analysis.tone,
        analysis.intent,
        json.dumps(entities_extracted(analysis)),
        analysis.confidence,
        analysis.escalate,
        analysis.latency_ms,
        analysis.model_dump_json(),
        analysis.occurred_at,
    )


def outcome_row(outcome: BookingOutcome) -> tuple[Any, ...]:
    return (
        outcome.event_id,
        outcome.conversation_id,
        outcome.customer_id,
        outcome.booked,
        outcome.booking_id,
        outcome.total_value,
        json.dumps(outcome.offered_upsells),
        json.dumps(outcome.accepted_upsells),
        outcome.occurred_at,
    )


def unique_by_first_column(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Drop in-batch repeats of one key (a redelivery inside one batch); the database drops the rest."""
    seen: dict[Any, tuple[Any, ...]] = {}
    for row in rows:
        seen.setdefault(row[0], row)
    return list(seen.values())


def touched_conversations(rows: Iterable[tuple[Any, ...]], conversation_column: int) -> list[UUID]:
    # Sorted so that concurrent writers lock conversations in one order and cannot deadlock.
    return sorted({row[conversation_column] for row in rows}, key=str)
