"""The owner's API's PostgreSQL queries. Every value is a query parameter; each query is bounded by an index
(migration 0005 says which) or by a rollup, so none grows with the months of messages behind it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.analytics.api.core import HourlyUsage, IdMatch, LabelAnswer, as_json, isoformat, slots_of

# --- The overview: rollups only (24 hourly or 30 daily rows), never the per-message tables ---------------

# The counters and path sketches of each hour or day of the span; the rest of the state (service and drift
# counts, the pooled sketch) is left in the database rather than shipped and parsed. The table is one of
# two constants, chosen by the bucket.
ROLLUP_SQL = """
SELECT window_start, state - ARRAY['services', 'predictions', 'nlp_latency_ms', 'labelled', 'correct'] AS state
FROM {table}
WHERE window_start >= $1 AND window_start < $2
ORDER BY window_start
"""
ROLLUP_TABLES = {"hour": "metrics_hourly_windows", "day": "metrics_daily_windows"}


async def rollup_states(
    connection: Any, bucket: str, since: datetime, until: datetime
) -> list[tuple[datetime, dict[str, Any]]]:
    """(start, state) of the hourly or daily rollup rows starting in [since, until)."""
    rows = await connection.fetch(ROLLUP_SQL.format(table=ROLLUP_TABLES[bucket]), since, until)
    return [(row["window_start"], json.loads(row["state"])) for row in rows]


async def hourly_usage(connection: Any, since: datetime, until: datetime) -> list[HourlyUsage]:
    rows = await connection.fetch(
        "SELECT hour_start, provider, model, tokens_in, tokens_out FROM llm_usage_hourly "
        "WHERE hour_start >= $1 AND hour_start < $2",
        since,
        until,
    )
    return [
        HourlyUsage(
            row["hour_start"], row["provider"], row["model"], int(row["tokens_in"]), int(row["tokens_out"])
        )
        for row in rows
    ]


# --- Alerts ---------------------------------------------------------------------------------------------------


async def alerts(connection: Any, limit: int) -> list[dict[str, Any]]:
    rows = await connection.fetch(
        "SELECT event_id, rule, level, message, fired_at, sent_at, sentry_event_id FROM alerts_sent "
        "ORDER BY fired_at DESC, event_id LIMIT $1",
        limit,
    )
    return [
        {
            "event_id": str(row["event_id"]),
            "rule": row["rule"],
            "level": row["level"],
            "message": row["message"],
            "fired_at": isoformat(row["fired_at"]),
            "sent_at": isoformat(row["sent_at"]),
            "sentry_event_id": row["sentry_event_id"],
        }
        for row in rows
    ]


# --- Conversations --------------------------------------------------------------------------------------------

# From the logger's one row per conversation (conversation_logs), so a list costs `limit` rows: the newest
# (idx_conv_timestamp), a customer's newest (idx_conv_customer_timestamp), or those whose id is in a range
# (the primary key).
CONVERSATION_COLUMNS = (
    "c.id AS conversation_id, c.customer_id, c.timestamp AS started_at, "
    "(c.metadata ->> 'message_count')::int AS messages, (c.outcome_data ->> 'booked')::boolean AS booked"
)
RECENT_SQL = f"""
SELECT {CONVERSATION_COLUMNS} FROM conversation_logs c
WHERE ($1::int IS NULL OR c.customer_id = $1)
ORDER BY c.timestamp DESC, c.id LIMIT $2
"""  # noqa: S608 - a constant column list; the values are parameters
# The conversations with a message holding every word of $1 since $2, newest match first. No index gives
# this order, so the planner takes the matches from idx_messages_text_search (ANDed with idx_messages_occurred)
# rather than walking the newest messages and computing to_tsvector on each (seconds for a rare word).
# Searched over growing spans of time, newest first, so a common word costs the last hour's messages.
WORD_SQL = """
SELECT m.conversation_id, max(m.occurred_at) AS last_at
FROM messages m
WHERE to_tsvector('simple', m.text) @@ plainto_tsquery('simple', $1) AND m.occurred_at >= $2
GROUP BY m.conversation_id
ORDER BY last_at DESC, m.conversation_id
LIMIT $3
"""
# A customer's words are looked for in their newest conversations (idx_conv_customer_timestamp), each one's
# messages by idx_messages_conversation: a customer has few, however common the word.
CUSTOMER_WORD_SQL = """
SELECT m.conversation_id, max(m.occurred_at) AS last_at
FROM messages m
WHERE m.conversation_id = ANY(ARRAY(SELECT id FROM conversation_logs WHERE customer_id = $2
                                   ORDER BY timestamp DESC LIMIT $4))
  AND to_tsvector('simple', m.text) @@ plainto_tsquery('simple', $1)
GROUP BY m.conversation_id
ORDER BY last_at DESC, m.conversation_id
LIMIT $3
"""
CUSTOMER_CONVERSATIONS_SEARCHED = 1_000
SEARCH_SPANS = (timedelta(hours=1), timedelta(days=1), timedelta(days=7), timedelta(days=31), None)
# The conversations whose id is in [$1, $2] (the primary key; an 8-digit prefix names one in four billion).
ID_RANGE_SQL = f"""
SELECT {CONVERSATION_COLUMNS} FROM conversation_logs c
WHERE c.id BETWEEN $1 AND $2 AND ($3::int IS NULL OR c.customer_id = $3)
ORDER BY c.timestamp DESC, c.id LIMIT $4
"""  # noqa: S608 - a constant column list; the values are parameters
BY_IDS_SQL = f"SELECT {CONVERSATION_COLUMNS} FROM conversation_logs c WHERE c.id = ANY($1::uuid[])"  # noqa: S608


def _conversation(row: Any) -> dict[str, Any]:
    return {
        "conversation_id": str(row["conversation_id"]),
        "customer_id": row["customer_id"],
        "started_at": isoformat(row["started_at"]),
        "messages": row["messages"],
        "booked": row["booked"],
    }


async def find_conversations(
    connection: Any, *, words: str | None, ids: IdMatch | None, customer_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Conversations whose id is in `ids` (first), then those with a message holding `words`, newest match
    first; without either, the newest conversations (of `customer_id`, when given)."""
    if words is None and ids is None:
        return [_conversation(row) for row in await connection.fetch(RECENT_SQL, customer_id, limit)]
    found: list[dict[str, Any]] = []
    if ids is not None:
        rows = await connection.fetch(ID_RANGE_SQL, ids.low, ids.high, customer_id, limit)
        found = [_conversation(row) for row in rows]
    if words is not None and len(found) < limit:
        now = datetime.now(UTC)
        matched: list[Any] = []
        if customer_id is not None:
            matched = await connection.fetch(
                CUSTOMER_WORD_SQL, words, customer_id, limit, CUSTOMER_CONVERSATIONS_SEARCHED
            )
        for span in SEARCH_SPANS if customer_id is None else ():
            since = now - span if span is not None else EARLIEST
            matched = await connection.fetch(WORD_SQL, words, since, limit)
            if len(matched) >= limit:
                break
        order = [row["conversation_id"] for row in matched]
        rows = {row["conversation_id"]: row for row in await connection.fetch(BY_IDS_SQL, order)}
        seen = {item["conversation_id"] for item in found}
        found.extend(_conversation(rows[key]) for key in order if key in rows and str(key) not in seen)
    return found[:limit]


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


TURNS_SQL = """
SELECT m.event_id, m.turn_index, m.role, m.text, m.occurred_at, m.customer_id,
       a.path, a.detected_tone, a.detected_intent, a.analysis ->> 'sentiment' AS sentiment,
       a.entities_extracted, a.confidence, a.escalate
FROM messages m
LEFT JOIN message_analyses a ON a.message_event_id = m.event_id
WHERE m.conversation_id = $1
ORDER BY m.turn_index, m.occurred_at, m.event_id
"""


async def conversation(connection: Any, conversation_id: uuid.UUID) -> dict[str, Any] | None:
    """The conversation turn by turn, or None when nothing of it is stored."""
    turns = await connection.fetch(TURNS_SQL, conversation_id)
    outcome = await connection.fetchrow(
        "SELECT booked, booking_id, total_value, offered_upsells, accepted_upsells, occurred_at, customer_id "
        "FROM outcomes WHERE conversation_id = $1 ORDER BY occurred_at DESC, event_id LIMIT 1",
        conversation_id,
    )
    if not turns and outcome is None:
        return None
    edge_cases = await connection.fetch(
        "SELECT reason FROM edge_cases WHERE conversation_id = $1 ORDER BY flagged_at, reason",
        conversation_id,
    )
    labels = await connection.fetch(
        "SELECT message_event_id, field, entity_name, value, labeller FROM labels WHERE conversation_id = $1 "
        "ORDER BY occurred_at, event_id",
        conversation_id,
    )
    by_message: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for label in labels:
        by_message.setdefault(label["message_event_id"], []).append(
            {
                "field": label["field"],
                "entity_name": label["entity_name"],
                "value": as_json(label["value"]),
                "labeller": label["labeller"],
            }
        )
    customer_id = next((row["customer_id"] for row in turns if row["customer_id"] is not None), None)
    if customer_id is None and outcome is not None:
        customer_id = outcome["customer_id"]
    started = min((row["occurred_at"] for row in turns), default=outcome["occurred_at"] if outcome else None)
    return {
        "conversation_id": str(conversation_id),
        "customer_id": customer_id,
        "started_at": isoformat(started),
        "outcome": None
        if outcome is None
        else {
            "booked": outcome["booked"],
            "booking_id": outcome["booking_id"],
            "total_value": None if outcome["total_value"] is None else float(outcome["total_value"]),
            "offered_upsells": as_json(outcome["offered_upsells"]),
            "accepted_upsells": as_json(outcome["accepted_upsells"]),
            "occurred_at": isoformat(outcome["occurred_at"]),
        },
        "edge_cases": [row["reason"] for row in edge_cases],
        "turns": [
            {
                "message_event_id": str(row["event_id"]),
                "turn_index": row["turn_index"],
                "role": row["role"],
                "text": row["text"],
                "occurred_at": isoformat(row["occurred_at"]),
                "analysis": None
                if row["path"] is None
                else {
                    "path": row["path"],
                    "tone": row["detected_tone"],
                    "intent": row["detected_intent"],
                    "sentiment": row["sentiment"],
                    "slots": slots_of(row["entities_extracted"]),
                    "confidence": row["confidence"],
                    "escalate": row["escalate"],
                },
                "labels": by_message.get(row["event_id"], []),
            }
            for row in turns
        ],
    }


# --- Labelling ------------------------------------------------------------------------------------------------

# A turn is done for a labeller once they labelled its tone (idx_labels_message); without a labeller, once
# anyone did.
NOT_LABELLED = """NOT EXISTS (SELECT 1 FROM labels l WHERE l.message_event_id = m.event_id AND l.field = 'tone'
                  AND ($1::text IS NULL OR l.labeller = $1))"""
QUEUE_ITEM_COLUMNS = """m.event_id, m.conversation_id, m.turn_index, m.text, m.occurred_at,
       a.path, a.confidence, a.detected_tone, a.detected_intent, a.entities_extracted"""
# Customer turns of flagged conversations, the newest flag first: edge cases are walked newest first
# (idx_edge_cases_flagged, or idx_edge_cases_reason for one reason) and each one's turns found by
# idx_messages_conversation, until the limit is met.
EDGE_QUEUE_SQL = f"""
SELECT {QUEUE_ITEM_COLUMNS}, e.reason
FROM (
    SELECT DISTINCT ON (flagged.conversation_id) flagged.conversation_id, flagged.reason, flagged.flagged_at
    FROM (SELECT conversation_id, reason, flagged_at FROM edge_cases
          WHERE $2::text IS NULL OR reason = $2
          ORDER BY flagged_at DESC LIMIT $4) AS flagged
    ORDER BY flagged.conversation_id, flagged.flagged_at DESC
) AS e
JOIN messages m ON m.conversation_id = e.conversation_id AND m.role = 'customer'
LEFT JOIN message_analyses a ON a.message_event_id = m.event_id
WHERE {NOT_LABELLED}
ORDER BY e.flagged_at DESC, e.conversation_id, m.turn_index
LIMIT $3
"""  # noqa: S608 - constant fragments; the values are parameters
# The least confident analyses (idx_analyses_confidence), walked in confidence order until the limit is met.
UNSURE_QUEUE_SQL = f"""
SELECT {QUEUE_ITEM_COLUMNS}, NULL::text AS reason
FROM message_analyses a
JOIN messages m ON m.event_id = a.message_event_id AND m.role = 'customer'
WHERE a.confidence IS NOT NULL AND {NOT_LABELLED} AND NOT (a.message_event_id = ANY($3::uuid[]))
ORDER BY a.confidence, a.message_event_id
LIMIT $2
"""  # noqa: S608 - constant fragments; the values are parameters
# How many flagged conversations back the edge-case part of the queue reads: enough to fill any page even
# when most of their turns are labelled, few enough to stay an index walk.
EDGE_CASES_SCANNED = 500


def _queue_item(row: Any) -> dict[str, Any]:
    return {
        "message_event_id": str(row["event_id"]),
        "conversation_id": str(row["conversation_id"]),
        "turn_index": row["turn_index"],
        "text": row["text"],
        "occurred_at": isoformat(row["occurred_at"]),
        "reason": row["reason"],
        "path": row["path"],
        "confidence": row["confidence"],
        "guess": {
            "tone": row["detected_tone"],
            "intent": row["detected_intent"],
            "slots": slots_of(row["entities_extracted"]),
        },
    }


async def queue(connection: Any, *, reason: str | None, labeller: str | None, limit: int) -> dict[str, Any]:
    counts = await connection.fetch(
        "SELECT reason, count(*) AS n FROM edge_cases GROUP BY reason ORDER BY reason"
    )
    items = [
        _queue_item(row)
        for row in await connection.fetch(EDGE_QUEUE_SQL, labeller, reason, limit, EDGE_CASES_SCANNED)
    ]
    if reason is None and len(items) < limit:
        taken = [uuid.UUID(item["message_event_id"]) for item in items]
        rows = await connection.fetch(UNSURE_QUEUE_SQL, labeller, limit - len(items), taken)
        items.extend(_queue_item(row) for row in rows)
    return {"reasons": {row["reason"]: int(row["n"]) for row in counts}, "items": items}


async def message_owner(connection: Any, message_event_id: uuid.UUID) -> tuple[uuid.UUID, int | None] | None:
    """(conversation id, customer id) of a stored message, or None."""
    row = await connection.fetchrow(
        "SELECT conversation_id, customer_id FROM messages WHERE event_id = $1", message_event_id
    )
    return None if row is None else (row["conversation_id"], row["customer_id"])


# Each labeller's latest answer per turn and field, on the turns at least two labellers answered.
AGREEMENT_SQL = """
WITH latest AS (
    SELECT DISTINCT ON (message_event_id, field, labeller) message_event_id, field, labeller, value
    FROM labels
    WHERE field = ANY($1::text[]) AND labeller IS NOT NULL
    ORDER BY message_event_id, field, labeller, occurred_at DESC, event_id
)
SELECT message_event_id, field, labeller, value #>> '{}' AS value
FROM (SELECT latest.*, count(*) OVER (PARTITION BY message_event_id, field) AS raters FROM latest) AS counted
WHERE raters > 1
"""


async def labelling(connection: Any, fields: list[str]) -> tuple[int, list[LabelAnswer]]:
    """(turns with a tone label, the answers of turns two or more labellers answered)."""
    labelled = await connection.fetchval(
        "SELECT count(DISTINCT message_event_id) FROM labels WHERE field = 'tone'"
    )
    rows = await connection.fetch(AGREEMENT_SQL, fields)
    answers = [
        LabelAnswer(str(row["message_event_id"]), row["field"], row["labeller"], row["value"] or "")
        for row in rows
    ]
    return int(labelled), answers
