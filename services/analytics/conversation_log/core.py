"""The conversation log's pure core: a batch of turns, analyses and outcomes becomes the rows to write.

Rows are NamedTuples whose fields are their table's columns, so the store copies them as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

from pydantic import BaseModel

from schemas.events import BookingOutcome, MessageAnalysis, Turn

# What an AI message adds to its row's `assistant` column; other roles have none.
ASSISTANT_FIELDS = frozenset(
    {
        "tone_used",
        "suggested_upsells",
        "requested_slots",
        "model",
        "provider",
        "prompt_version",
        "tokens_in",
        "tokens_out",
        "latency_ms",
    }
)


class MessageRow(NamedTuple):
    """A `messages` row: one turn of a conversation."""

    event_id: UUID
    conversation_id: UUID
    customer_id: int | None
    role: str
    text: str
    channel: str | None
    turn_index: int
    occurred_at: datetime
    assistant: str | None
    experiments: str
    context: str


class AnalysisRow(NamedTuple):
    """A `message_analyses` row: the NLP's reading of one customer message."""

    message_event_id: UUID
    analysis_event_id: UUID
    conversation_id: UUID
    path: str
    detected_tone: str
    detected_intent: str
    entities_extracted: str
    confidence: float
    escalate: bool
    latency_ms: float
    analysis: str
    occurred_at: datetime


class OutcomeRow(NamedTuple):
    """An `outcomes` row: how a conversation ended."""

    event_id: UUID
    conversation_id: UUID
    customer_id: int | None
    booked: bool
    booking_id: str | None
    total_value: float | None
    offered_upsells: str
    accepted_upsells: str
    occurred_at: datetime


MESSAGE_COLUMNS = MessageRow._fields
ANALYSIS_COLUMNS = AnalysisRow._fields
OUTCOME_COLUMNS = OutcomeRow._fields


@dataclass(frozen=True)
class LogBatch:
    """What one batch writes: rows unique by key, and the conversations whose log row must be rebuilt."""

    messages: list[MessageRow]
    analyses: list[AnalysisRow]
    outcomes: list[OutcomeRow]
    conversations: list[UUID]


def message_row(turn: Turn) -> MessageRow:
    assistant = turn.model_dump(mode="json", include=set(ASSISTANT_FIELDS)) if turn.role == "ai" else None
    return MessageRow(
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


def analysis_row(analysis: MessageAnalysis) -> AnalysisRow:
    return AnalysisRow(
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


def outcome_row(outcome: BookingOutcome) -> OutcomeRow:
    return OutcomeRow(
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


RowT = TypeVar("RowT", bound=tuple[Any, ...])


def unique_by_key(rows: Iterable[RowT]) -> list[RowT]:
    """Drop in-batch repeats of one key (a row's first field; a redelivery inside one batch).

    The first one is kept; the database drops repeats of rows written by earlier batches.
    """
    seen: dict[Any, RowT] = {}
    for row in rows:
        seen.setdefault(row[0], row)
    return list(seen.values())


def supersedes(new: AnalysisRow, stored: AnalysisRow) -> bool:
    """Whether `new` replaces `stored`, a reading of the same message: an ML-path analysis supersedes the fast
    one, never the reverse, and a repeat changes nothing (the store's ANALYSIS_CONFLICT says the same)."""
    return stored.path == "fast" and new.path == "ml"


def unique_analyses(rows: Iterable[AnalysisRow]) -> list[AnalysisRow]:
    """One reading per message, the one the store would keep had the rows come one batch at a time.

    A batch can hold both readings of a message: the slow path answers within the logger's fetch of the
    fast one whenever the logger runs behind. Keeping the first there dropped the ML analysis for good.
    """
    kept: dict[UUID, AnalysisRow] = {}
    for row in rows:
        stored = kept.get(row.message_event_id)
        if stored is None or supersedes(row, stored):
            kept[row.message_event_id] = row
    return list(kept.values())


def log_batch(events: Sequence[BaseModel]) -> LogBatch:
    """The rows a batch of consumed events writes, in batch order, and the conversations they touch."""
    messages = unique_by_key(message_row(e) for e in events if isinstance(e, Turn))
    analyses = unique_analyses(analysis_row(e) for e in events if isinstance(e, MessageAnalysis))
    outcomes = unique_by_key(outcome_row(e) for e in events if isinstance(e, BookingOutcome))
    touched = {row.conversation_id for rows in (messages, analyses, outcomes) for row in rows}
    # Sorted so that concurrent writers lock conversations in one order and cannot deadlock.
    return LogBatch(messages, analyses, outcomes, sorted(touched, key=str))
