"""`teppan ml dataset build` against PostgreSQL: streams the range's conversations into the pure core.

One query, one row per conversation: the conversation's messages (each customer message with its standing
analysis and its human labels) aggregated as JSON, and its latest outcome with the customer's history
before it, counted by the database. It runs in one read-only REPEATABLE READ transaction, so the whole
build sees one snapshot, through a server-side cursor, so memory holds a few hundred conversations at most
whatever the range holds. The row format and the rules are in `services.ml.datasets`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from services.ml.datasets import (
    BuildCounts,
    BuildOptions,
    Conversation,
    DatasetBuilder,
    DatasetError,
    DatasetFiles,
    HumanLabel,
    Message,
    ModelAnalysis,
    Outcome,
    check_output_dir,
    finish_dataset,
)
from services.ml.replay.core import TimeRange
from shared.db import database_url
from shared.settings import Settings

CURSOR_PREFETCH = 200
PROGRESS_EVERY = 500

Row = Mapping[str, Any]
Progress = Callable[[BuildCounts], None]

# $1 since, $2 until. Conversations are found through the messages in the range (a conversation whose first
# message is in it has one there, so the occurred_at index narrows the search), then kept only when their
# first message is. Ordered by start, then id, so the same database always gives the same files.
#
# The customer's history before each outcome is one window pass over the outcomes of the customers
# concerned, not a scan of `outcomes` per conversation: each latest outcome adds a "probe" row (counting
# nothing) to its customer's timeline, and the sums over the rows strictly before it (EXCLUDE GROUP leaves
# out rows at the same instant), less those of its own conversation, are the customer's earlier outcomes
# elsewhere. A conversation's own earlier outcome is the same booking restated, not history.
CONVERSATIONS_QUERY = """
WITH touched AS (
    SELECT DISTINCT conversation_id FROM messages WHERE occurred_at >= $1 AND occurred_at < $2
),
selected AS (
    SELECT
        m.conversation_id,
        min(m.occurred_at) AS started_at,
        (array_agg(m.customer_id ORDER BY m.turn_index, m.occurred_at)
            FILTER (WHERE m.customer_id IS NOT NULL))[1] AS customer_id
    FROM messages m JOIN touched t ON t.conversation_id = m.conversation_id
    GROUP BY m.conversation_id
    HAVING min(m.occurred_at) >= $1 AND min(m.occurred_at) < $2
),
latest_outcome AS (
    SELECT DISTINCT ON (o.conversation_id) o.*, COALESCE(o.customer_id, s.customer_id) AS history_customer_id
    FROM outcomes o JOIN selected s ON s.conversation_id = o.conversation_id
    ORDER BY o.conversation_id, o.occurred_at DESC, o.event_id
),
timeline AS (
    SELECT
        p.customer_id,
        p.conversation_id,
        p.occurred_at,
        p.booked::int AS booked,
        CASE WHEN jsonb_typeof(p.accepted_upsells) = 'array'
             THEN jsonb_array_length(p.accepted_upsells) ELSE 0 END AS accepted,
        NULL::uuid AS probe
    FROM outcomes p
    WHERE p.customer_id IN (SELECT history_customer_id FROM latest_outcome)
    UNION ALL
    SELECT history_customer_id, conversation_id, occurred_at, 0, 0, event_id
    FROM latest_outcome WHERE history_customer_id IS NOT NULL
),
history AS (
    SELECT
        probe,
        COALESCE(sum(booked) OVER customer_before, 0)
            - COALESCE(sum(booked) OVER conversation_before, 0) AS previous_bookings,
        COALESCE(sum(accepted) OVER customer_before, 0)
            - COALESCE(sum(accepted) OVER conversation_before, 0) AS previous_accepted
    FROM timeline
    WINDOW
        customer_before AS (PARTITION BY customer_id ORDER BY occurred_at
                            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE GROUP),
        conversation_before AS (PARTITION BY customer_id, conversation_id ORDER BY occurred_at
                                RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE GROUP)
)
SELECT
    s.conversation_id,
    s.started_at,
    (SELECT jsonb_agg(jsonb_build_object(
                'event_id', m.event_id,
                'role', m.role,
                'text', m.text,
                'turn_index', m.turn_index,
                'occurred_at', m.occurred_at,
                'customer_id', m.customer_id,
                'analysis', CASE WHEN a.message_event_id IS NOT NULL THEN jsonb_build_object(
                    'path', a.path,
                    'tone', a.detected_tone,
                    'intent', a.detected_intent,
                    'sentiment', a.analysis ->> 'sentiment',
                    'confidence', a.confidence,
                    'entities', a.entities_extracted) END,
                'labels', CASE WHEN m.role = 'customer' THEN (
                    SELECT jsonb_agg(jsonb_build_object(
                               'event_id', l.event_id,
                               'field', l.field,
                               'entity_name', l.entity_name,
                               'value', l.value,
                               'labeller', l.labeller,
                               'occurred_at', l.occurred_at) ORDER BY l.occurred_at, l.event_id)
                    FROM labels l WHERE l.message_event_id = m.event_id) END)
            ORDER BY m.turn_index, m.occurred_at, m.event_id)
       FROM messages m
       LEFT JOIN message_analyses a ON a.message_event_id = m.event_id AND m.role = 'customer'
      WHERE m.conversation_id = s.conversation_id) AS messages,
    o.event_id AS outcome_event_id,
    o.history_customer_id AS outcome_customer_id,
    o.booked,
    o.total_value,
    o.offered_upsells,
    o.accepted_upsells,
    o.occurred_at AS outcome_occurred_at,
    h.previous_bookings,
    h.previous_accepted
FROM selected s
LEFT JOIN latest_outcome o ON o.conversation_id = s.conversation_id
LEFT JOIN history h ON h.probe = o.event_id
ORDER BY s.started_at, s.conversation_id
"""


def _json(value: Any) -> Any:
    """A json/jsonb column's value: asyncpg hands it over as text unless a codec is set."""
    return json.loads(value) if isinstance(value, str) else value


def _instant(text: str) -> datetime:
    # to_jsonb writes a timestamptz with its offset (UTC: the connection asks for it).
    return datetime.fromisoformat(text).astimezone(UTC)


def _strings(value: Any) -> tuple[str, ...]:
    """A JSONB array of upsell ids; anything else in it is not an id."""
    items = _json(value)
    return tuple(item for item in items if isinstance(item, str)) if isinstance(items, list) else ()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return float(value)


def label_from_json(item: Mapping[str, Any]) -> HumanLabel:
    return HumanLabel(
        event_id=str(item["event_id"]),
        field=str(item["field"]),
        value=item["value"],
        labeller=item["labeller"],
        occurred_at=_instant(item["occurred_at"]),
        entity_name=item["entity_name"],
    )


def analysis_from_json(item: Mapping[str, Any] | None) -> ModelAnalysis | None:
    if item is None:
        return None
    entities = item["entities"]
    return ModelAnalysis(
        path=str(item["path"]),
        tone=item["tone"],
        intent=item["intent"],
        sentiment=item["sentiment"],
        confidence=_number(item["confidence"]),
        entities=entities if isinstance(entities, Mapping) else {},
    )


def message_from_json(item: Mapping[str, Any]) -> Message:
    return Message(
        event_id=str(item["event_id"]),
        role=str(item["role"]),
        text=str(item["text"]),
        turn_index=int(item["turn_index"]),
        occurred_at=_instant(item["occurred_at"]),
        customer_id=item["customer_id"],
        analysis=analysis_from_json(item["analysis"]),
        labels=tuple(label_from_json(label) for label in item["labels"] or ()),
    )


def conversation_from_row(row: Row) -> Conversation:
    outcome = None
    if row["outcome_event_id"] is not None:
        outcome = Outcome(
            event_id=str(row["outcome_event_id"]),
            customer_id=row["outcome_customer_id"],
            booked=bool(row["booked"]),
            total_value=_number(row["total_value"]),
            offered=_strings(row["offered_upsells"]),
            accepted=_strings(row["accepted_upsells"]),
            occurred_at=row["outcome_occurred_at"],
            previous_bookings=int(row["previous_bookings"] or 0),
            previous_accepted=int(row["previous_accepted"] or 0),
        )
    messages = tuple(message_from_json(item) for item in _json(row["messages"]) or ())
    return Conversation(str(row["conversation_id"]), messages, outcome)


async def stream_conversations(
    connection: asyncpg.Connection, time_range: TimeRange
) -> AsyncIterator[Conversation]:
    """The range's conversations, in start order; call inside a transaction (cursors need one)."""
    async for row in connection.cursor(
        CONVERSATIONS_QUERY, time_range.since, time_range.until, prefetch=CURSOR_PREFETCH
    ):
        yield conversation_from_row(row)


async def build_dataset(
    settings: Settings,
    time_range: TimeRange,
    out_dir: Path,
    options: BuildOptions,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Build the dataset of `time_range` into `out_dir`; returns the manifest, which it writes last."""
    check_output_dir(out_dir)
    try:
        # Timestamps inside the aggregated JSON are written in the session's time zone: UTC, plainly.
        connection = await asyncpg.connect(database_url(settings), server_settings={"timezone": "UTC"})
    except (RuntimeError, OSError, asyncpg.PostgresError) as error:
        raise DatasetError(f"cannot reach PostgreSQL: {error}") from None
    builder = DatasetBuilder(options)
    try:
        with DatasetFiles(out_dir) as files:
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                async for conversation in stream_conversations(connection, time_range):
                    files.write(builder.rows_of(conversation))
                    if progress is not None and builder.counts.conversations % PROGRESS_EVERY == 0:
                        progress(builder.counts)
    except asyncpg.UndefinedTableError as error:
        raise DatasetError(f"the database lacks a table ({error}); run `teppan db migrate`") from None
    except asyncpg.PostgresError as error:
        raise DatasetError(f"PostgreSQL failed the build: {error!r}") from None
    except OSError as error:
        # A lost connection is an OSError too; so is a full disk.
        raise DatasetError(f"the build failed: {error!r}") from None
    finally:
        await connection.close()
    if progress is not None:
        progress(builder.counts)
    return finish_dataset(out_dir, time_range, files.results(), builder.counts, options)
