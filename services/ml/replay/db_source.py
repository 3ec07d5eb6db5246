"""Replay from PostgreSQL: rebuild a topic's events from the table its consumer wrote them into.

For when the broker no longer holds the range (the embedded Tansu keeps nothing across a restart). Each
row becomes the event model it was written from (schemas/events.py), validated, and is written as that
model's JSON, the same serialisation the workers publish with. The topics, and what the database kept of
their events (the conversation logger and the metrics worker write these tables):

- chat.turns.v1 from `messages` (the envelope's `source` is not kept);
- nlp.analyses.v1 from `message_analyses.analysis`, the whole event, but only the analysis that stands
  for each message: a fast-path analysis replaced by the ML path's is gone;
- ingest.outcomes.v1 from `outcomes` (`source` not kept; `total_value` to the cent, as validated);
- ingest.surveys.v1 from `surveys` (`source` not kept);
- labels.v1 from `labels` (`customer_id` and `source` not kept).

Any other topic is refused: its events are not in the database, or only some of them (llm_usage keeps
LLM calls that report tokens, not the service-call stream), and a partial file would pass for a whole one.
Retention and privacy deletions apply: what they removed cannot be rebuilt.

The time range is on `occurred_at`, the event's own time, which is also each line's `timestamp`; lines
carry partition "db" and offset null, and their key is the conversation id, as the workers key them.
Every topic is read in one read-only REPEATABLE READ transaction, one snapshot for the whole replay,
through server-side cursors, so memory stays bounded whatever the range holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import ValidationError

from schemas import topics
from schemas.events import BookingOutcome, ConversationEvent, Label, MessageAnalysis, SurveyResponse, Turn
from services.ml.replay.core import (
    DB_PARTITION,
    DataFile,
    PartitionResult,
    ReplayError,
    ReplayInputError,
    ReplayProgress,
    TimeRange,
    iso_utc,
    record_line,
)
from shared.db import database_url
from shared.settings import Settings

CURSOR_PREFETCH = 500
PROGRESS_EVERY = 500

Row = Mapping[str, Any]


def _json(value: Any) -> Any:
    """A json/jsonb column's value: asyncpg hands it over as text unless a codec is set."""
    return json.loads(value) if isinstance(value, str) else value


def turn_from_row(row: Row) -> Turn:
    return Turn.model_validate(
        {
            "event_id": row["event_id"],
            "occurred_at": row["occurred_at"],
            "customer_id": row["customer_id"],
            "conversation_id": row["conversation_id"],
            "role": row["role"],
            "text": row["text"],
            "channel": row["channel"],
            # An AI turn's own fields, stored together (conversation_log.core.ASSISTANT_FIELDS).
            **(_json(row["assistant"]) or {}),
            "turn_index": row["turn_index"],
            "experiments": _json(row["experiments"]),
            "context": _json(row["context"]),
        }
    )


def analysis_from_row(row: Row) -> MessageAnalysis:
    return MessageAnalysis.model_validate(_json(row["analysis"]))


def outcome_from_row(row: Row) -> BookingOutcome:
    total_value = row["total_value"]
    return BookingOutcome.model_validate(
        {
            "event_id": row["event_id"],
            "occurred_at": row["occurred_at"],
            "customer_id": row["customer_id"],
            "conversation_id": row["conversation_id"],
            "booked": row["booked"],
            "booking_id": row["booking_id"],
            # NUMERIC comes back as Decimal; the event carries a float.
            "total_value": None if total_value is None else float(total_value),
            "offered_upsells": _json(row["offered_upsells"]),
            "accepted_upsells": _json(row["accepted_upsells"]),
        }
    )


def survey_from_row(row: Row) -> SurveyResponse:
    return SurveyResponse.model_validate(
        {
            "event_id": row["event_id"],
            "occurred_at": row["occurred_at"],
            "customer_id": row["customer_id"],
            "conversation_id": row["conversation_id"],
            "rating": row["rating"],
            "understood": row["understood"],
            "tone_appropriate": row["tone_appropriate"],
            "free_text": row["free_text"],
        }
    )


def label_from_row(row: Row) -> Label:
    return Label.model_validate(
        {
            "event_id": row["event_id"],
            "occurred_at": row["occurred_at"],
            "conversation_id": row["conversation_id"],
            "message_event_id": row["message_event_id"],
            "field": row["field"],
            "entity_name": row["entity_name"],
            "value": _json(row["value"]),
            "labeller": row["labeller"],
        }
    )


@dataclass(frozen=True)
class TableSource:
    """How one topic's events are read back: a parameterised query ($1 since, $2 until) and the mapping."""

    table: str
    query: str
    to_event: Callable[[Row], ConversationEvent]


# Ordered by event time, then by id, so the same rows always give the same file. The id is the first
# column, so an error can name the row.
REBUILDABLE: dict[str, TableSource] = {
    topics.CHAT_TURNS: TableSource(
        "messages",
        "SELECT event_id, conversation_id, customer_id, role, text, channel, turn_index, occurred_at,"
        " assistant, experiments, context FROM messages"
        " WHERE occurred_at >= $1 AND occurred_at < $2 ORDER BY occurred_at, event_id",
        turn_from_row,
    ),
    topics.NLP_ANALYSES: TableSource(
        "message_analyses",
        "SELECT analysis_event_id, analysis, occurred_at FROM message_analyses"
        " WHERE occurred_at >= $1 AND occurred_at < $2 ORDER BY occurred_at, analysis_event_id",
        analysis_from_row,
    ),
    topics.INGEST_OUTCOMES: TableSource(
        "outcomes",
        "SELECT event_id, conversation_id, customer_id, booked, booking_id, total_value, offered_upsells,"
        " accepted_upsells, occurred_at FROM outcomes"
        " WHERE occurred_at >= $1 AND occurred_at < $2 ORDER BY occurred_at, event_id",
        outcome_from_row,
    ),
    topics.INGEST_SURVEYS: TableSource(
        "surveys",
        "SELECT event_id, conversation_id, customer_id, rating, understood, tone_appropriate, free_text,"
        " occurred_at FROM surveys"
        " WHERE occurred_at >= $1 AND occurred_at < $2 ORDER BY occurred_at, event_id",
        survey_from_row,
    ),
    topics.LABELS: TableSource(
        "labels",
        "SELECT event_id, message_event_id, conversation_id, field, entity_name, value, labeller,"
        " occurred_at FROM labels"
        " WHERE occurred_at >= $1 AND occurred_at < $2 ORDER BY occurred_at, event_id",
        label_from_row,
    ),
}


def check_rebuildable(requested: Sequence[str]) -> None:
    """Refuse, by name, every topic whose events the database does not hold."""
    missing = [topic for topic in requested if topic not in REBUILDABLE]
    if missing:
        raise ReplayInputError(
            f"cannot rebuild from the database: {', '.join(missing)}; "
            f"it holds the events of {', '.join(sorted(REBUILDABLE))}"
        )


def event_line(topic: str, event: ConversationEvent) -> bytes:
    return record_line(
        topic=topic,
        partition=DB_PARTITION,
        offset=None,
        timestamp=iso_utc(event.occurred_at),
        key=str(event.conversation_id),
        value=event.model_dump_json(),
    )


async def replay_from_db(
    settings: Settings,
    requested: Sequence[str],
    time_range: TimeRange,
    out_dir: Path,
    progress: ReplayProgress,
) -> list[PartitionResult]:
    """Write each topic's rebuilt events in the range to `out_dir/<topic>/db.jsonl`."""
    check_rebuildable(requested)
    try:
        connection = await asyncpg.connect(database_url(settings))
    except (RuntimeError, OSError, asyncpg.PostgresError) as error:
        raise ReplayError(f"cannot reach PostgreSQL: {error}") from None
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            return [
                await _replay_table(connection, topic, REBUILDABLE[topic], time_range, out_dir, progress)
                for topic in requested
            ]
    except asyncpg.UndefinedTableError as error:
        raise ReplayError(f"the database lacks a table ({error}); run `teppan db migrate`") from None
    except (asyncpg.PostgresError, OSError) as error:
        raise ReplayError(f"PostgreSQL failed the replay: {error!r}") from None
    finally:
        await connection.close()


async def _replay_table(
    connection: asyncpg.Connection,
    topic: str,
    source: TableSource,
    time_range: TimeRange,
    out_dir: Path,
    progress: ReplayProgress,
) -> PartitionResult:
    bar = progress.partition(f"{topic} ({source.table})", None)
    with DataFile(out_dir, topic, DB_PARTITION) as data_file:
        async for row in connection.cursor(
            source.query, time_range.since, time_range.until, prefetch=CURSOR_PREFETCH
        ):
            try:
                event = source.to_event(row)
            except ValidationError as error:
                raise ReplayError(
                    f"row {row[0]} of {source.table} is no valid {topic} event: "
                    f"{error.errors()[0]['loc']}: {error.errors()[0]['msg']}"
                ) from None
            data_file.write(event_line(topic, event))
            if data_file.records % PROGRESS_EVERY == 0:
                bar.update(scanned=data_file.records, written=data_file.records)
    bar.update(scanned=data_file.records, written=data_file.records)
    return PartitionResult.of(data_file, None, None)
