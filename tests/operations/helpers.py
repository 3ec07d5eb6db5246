"""Helpers for the operations tests: scratch databases on the test server, and one conversation's rows in
every table, written with parameterised SQL, plus its prediction-log line and Redis state.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from redis.asyncio import Redis

from schemas.events import ChatMessage
from services.analytics.edge_cases.prediction_log import PredictionLog, prediction_log_dir, prediction_record
from services.ingest.state import IngestState
from shared.db import migrate
from shared.embedded import EmbeddedServers
from shared.settings import Settings
from tests.stack.analytics_helpers import teppan_command
from tests.stack.helpers import chat_message


def sample_prediction(conversation_id: str, timestamp: datetime, user_text: str, event_id: str) -> dict[str, Any]:
    """A fast-path prediction record in the prediction log's shape, for a booking request of 30."""
    return prediction_record(
        conversation_id=conversation_id,
        timestamp=timestamp,
        model_name="teppan-nlp-fast",
        provider="teppan",
        prompt_version=None,
        user_text=user_text,
        state=None,
        slots={},
        response=None,
        extracted_slots={"people": 30},
        confidence=0.9,
        next_state="book",
        latency_ms=3.0,
        tokens_in=None,
        tokens_out=None,
        cost=0.0,
        event_id=event_id,
    )

def with_database(url: str, name: str) -> str:
    """The same server's URL for another database (works for host:port and socket-directory URLs)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@asynccontextmanager
async def scratch_settings(stack_servers: EmbeddedServers, data_dir: Path) -> AsyncIterator[Settings]:
    """Settings for the test stack's broker and Redis with a new, migrated database of their own (dropped
    afterwards): for tests whose counts would otherwise include every other test's rows."""
    assert stack_servers.database_url is not None
    async with scratch_database(stack_servers.database_url, migrated=True) as url:
        yield Settings(
            KAFKA_BOOTSTRAP_SERVERS=stack_servers.kafka_bootstrap_servers,
            DATABASE_URL=url,
            REDIS_URL=stack_servers.redis_url,
            TEPPAN_DATA_DIR=data_dir,
        )


@asynccontextmanager
async def scratch_database(server_url: str, *, migrated: bool) -> AsyncIterator[str]:
    """A new, uniquely named database on the test server, dropped afterwards; yields its URL."""
    name = f"teppan_ops_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(server_url, name)
    try:
        if migrated:
            connection = await asyncpg.connect(url)
            try:
                await migrate(connection)
            finally:
                await connection.close()
        yield url
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def user_tables(connection: asyncpg.Connection) -> list[str]:
    rows = await connection.fetch(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    return [row["table_name"] for row in rows]


async def snapshot(connection: asyncpg.Connection) -> dict[str, list[str]]:
    """Every table's rows as sorted JSON texts: equal snapshots mean equal contents."""
    tables = {}
    for table in await user_tables(connection):
        rows = await connection.fetch(f"SELECT to_jsonb(t)::text AS row FROM {table} AS t")
        tables[table] = sorted(row["row"] for row in rows)
    return tables


def rows_mentioning(tables: dict[str, list[str]], needle: str) -> dict[str, int]:
    found = {table: sum(needle in row for row in rows) for table, rows in tables.items()}
    return {table: count for table, count in found.items() if count}


@dataclass
class SeededConversation:
    conversation_id: uuid.UUID
    customer_id: int
    marker: str  # a word in every text this conversation's customer wrote
    message_ids: list[uuid.UUID] = field(default_factory=list)
    event_ids: list[uuid.UUID] = field(default_factory=list)  # every event id ingest could have claimed


async def seed_conversation(
    connection: asyncpg.Connection,
    *,
    customer_id: int,
    started_at: datetime,
    last_at: datetime | None = None,
    marker: str | None = None,
) -> SeededConversation:
    """A customer turn and an AI turn (the AI's at `last_at`), with an analysis, outcome, survey, label,
    prediction input and record, edge case, LLM usage and metrics rows; then its conversation_logs row.
    """
    last_at = last_at or started_at + timedelta(minutes=1)
    seeded = SeededConversation(uuid.uuid4(), customer_id, marker or f"marker{uuid.uuid4().hex[:10]}")
    conversation, customer_turn, ai_turn = seeded.conversation_id, uuid.uuid4(), uuid.uuid4()
    customer_text = f"Hi, I am {seeded.marker} and I want hibachi for 30 people"
    await connection.execute(
        "INSERT INTO messages (event_id, conversation_id, customer_id, role, text, channel, turn_index, "
        "occurred_at, assistant, experiments) VALUES "
        "($1, $3, $4, 'customer', $5, 'web', 0, $6, NULL, '{}'), "
        "($2, $3, $4, 'ai', $7, 'web', 1, $8, $9, '{\"greeting\": \"warm\"}')",
        customer_turn,
        ai_turn,
        conversation,
        customer_id,
        customer_text,
        started_at,
        f"Happy to help, {seeded.marker}! Which date?",
        last_at,
        json.dumps({"tone_used": "warm", "suggested_upsells": ["gyoza"], "latency_ms": 120}),
    )
    analysis = {
        "event_id": str(uuid.uuid4()),
        "message_event_id": str(customer_turn),
        "conversation_id": str(conversation),
        "customer_id": customer_id,
        "occurred_at": started_at.isoformat(),
        "path": "fast",
        "tone": "casual",
        "intent": "book",
        "entities": {"people": {"value": 30}, "first_name": {"value": seeded.marker}},
        "confidence": 0.9,
    }
    await connection.execute(
        "INSERT INTO message_analyses (message_event_id, analysis_event_id, conversation_id, path, "
        "detected_tone, detected_intent, entities_extracted, confidence, analysis, occurred_at) "
        "VALUES ($1, $2, $3, 'fast', 'casual', 'book', $4, 0.9, $5, $6)",
        customer_turn,
        uuid.UUID(analysis["event_id"]),
        conversation,
        json.dumps(analysis["entities"]),
        json.dumps(analysis),
        started_at,
    )
    record = sample_prediction(str(conversation), started_at, customer_text, analysis["event_id"])
    await connection.execute(
        "INSERT INTO prediction_inputs (message_event_id, conversation_id, user_text, occurred_at) "
        "VALUES ($1, $2, $3, $4)",
        customer_turn,
        conversation,
        customer_text,
        started_at,
    )
    await connection.execute(
        "INSERT INTO predictions (analysis_event_id, message_event_id, conversation_id, occurred_at, "
        "analysis, record, written_at) VALUES ($1, $2, $3, $4, $5, $6, $4)",
        uuid.UUID(analysis["event_id"]),
        customer_turn,
        conversation,
        started_at,
        json.dumps(analysis),
        json.dumps(record),
    )
    outcome_id, survey_id, label_id, call_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await connection.execute(
        "INSERT INTO outcomes (event_id, conversation_id, customer_id, booked, booking_id, total_value, "
        "offered_upsells, accepted_upsells, occurred_at) VALUES ($1, $2, $3, true, $4, 950.00, "
        "'[\"gyoza\"]', '[]', $5)",
        outcome_id,
        conversation,
        customer_id,
        f"B-{uuid.uuid4().hex[:8]}",
        last_at,
    )
    await connection.execute(
        "INSERT INTO surveys (event_id, conversation_id, customer_id, rating, understood, tone_appropriate, "
        "free_text, occurred_at) VALUES ($1, $2, $3, 4, true, true, $4, $5)",
        survey_id,
        conversation,
        customer_id,
        f"{seeded.marker} says the chef was great",
        last_at,
    )
    await connection.execute(
        "INSERT INTO labels (event_id, message_event_id, conversation_id, field, value, labeller, "
        "occurred_at) VALUES ($1, $2, $3, 'tone', '\"casual\"', 'reviewer', $4)",
        label_id,
        customer_turn,
        conversation,
        started_at,
    )
    await connection.execute(
        "INSERT INTO edge_cases (conversation_id, reason, event_id, customer_id, flagged_at) "
        "VALUES ($1, 'low_confidence', $2, $3, $4)",
        conversation,
        customer_turn,
        customer_id,
        started_at,
    )
    await connection.execute(
        "INSERT INTO llm_usage (event_id, conversation_id, customer_id, source, provider, model, tokens_in, "
        "tokens_out, occurred_at) VALUES ($1, $2, $3, 'message', 'openai', 'gpt-4o-mini', 300, 40, $4), "
        "($5, $2, $3, 'service_call', 'openai', 'gpt-4o-mini', 200, 20, $4)",
        ai_turn,
        conversation,
        customer_id,
        last_at,
        call_id,
    )
    await connection.execute(
        "INSERT INTO metrics_conversations (conversation_id, turns, human_handoff) VALUES ($1, 2, false)",
        conversation,
    )
    await connection.execute(
        "INSERT INTO metrics_events (event_id, window_start) "
        "SELECT id, date_trunc('minute', $2::timestamptz) FROM unnest($1::uuid[]) AS id",
        [customer_turn, ai_turn, outcome_id, survey_id, label_id, call_id],
        started_at,
    )
    await connection.execute("SELECT refresh_conversation_logs($1::uuid[])", [conversation])
    seeded.message_ids = [customer_turn, ai_turn]
    seeded.event_ids = [customer_turn, ai_turn, outcome_id, survey_id, label_id, call_id]
    return seeded


async def seed_aggregates(connection: asyncpg.Connection, at: datetime) -> None:
    """A metrics window, a sent alert and a stored weekly report at `at` (no conversation behind any)."""
    start = at.replace(second=0, microsecond=0)
    await connection.execute(
        "INSERT INTO metrics_windows (window_start, window_end, state) VALUES ($1, $2, '{\"messages\": 2}') "
        "ON CONFLICT (window_start) DO NOTHING",
        start,
        start + timedelta(minutes=1),
    )
    # The owner's page's rollups of the same window (hour and day) and of LLM tokens.
    for table, span in (("metrics_hourly_windows", "hour"), ("metrics_daily_windows", "day")):
        await connection.execute(
            f"INSERT INTO {table} (window_start, window_end, state) "  # noqa: S608 (two fixed names)
            f"VALUES (date_trunc('{span}', $1::timestamptz), date_trunc('{span}', $1::timestamptz) + "
            f"interval '1 {span}', '{{\"messages\": 2}}') ON CONFLICT (window_start) DO NOTHING",
            start,
        )
    await connection.execute(
        "INSERT INTO llm_usage_hourly (hour_start, provider, model, tokens_in, tokens_out) "
        "VALUES (date_trunc('hour', $1::timestamptz), 'openai', 'gpt-4o-mini', 300, 80) "
        "ON CONFLICT (hour_start, provider, model) DO NOTHING",
        start,
    )
    await connection.execute(
        "INSERT INTO alerts_sent (event_id, rule, level, message, fired_at) "
        "VALUES ($1, 'high_latency', 'warning', 'NLP p95 above 200 ms', $2)",
        uuid.uuid4(),
        at,
    )
    await connection.execute(
        "INSERT INTO weekly_reports (report_date, period_start, period_end, kpis, readiness) "
        "VALUES ($1, $2, $3, '{\"conversations_this_week\": 3}', '{\"ml_ready\": false}') "
        "ON CONFLICT (report_date) DO NOTHING",
        at.date(),
        at - timedelta(days=7),
        at,
    )


def write_prediction_line(settings: Settings, seeded: SeededConversation, at: datetime) -> Path:
    """The conversation's line in the daily JSONL prediction log, written by the real appender."""
    record = sample_prediction(
        str(seeded.conversation_id),
        at,
        f"Hi, I am {seeded.marker} and I want hibachi for 30 people",
        str(uuid.uuid4()),
    )
    return PredictionLog(prediction_log_dir(settings)).append(record)


async def claim_in_redis(redis: Redis, seeded: SeededConversation) -> None:
    """Ingest's real claims for the conversation's events: its turn counter and one key per event."""
    state = IngestState(redis, ttl_seconds=3600)
    items: list[tuple[object, ChatMessage | None, bool]] = [
        (
            message_id,
            ChatMessage.model_validate(
                chat_message(
                    str(seeded.conversation_id),
                    index,
                    customer_id=seeded.customer_id,
                    event_id=str(message_id),
                )
            ),
            False,
        )
        for index, message_id in enumerate(seeded.message_ids)
    ]
    items += [(event_id, None, False) for event_id in seeded.event_ids if event_id not in seeded.message_ids]
    await state.claim(items)
    await state.mark_published([item[0] for item in items])


async def teppan_json(settings: Settings, *args: str, **env: str) -> dict[str, Any]:
    status, out, err = await teppan_command(settings, *args, "--json", **env)
    assert status == 0, f"teppan {' '.join(args)} failed ({status}): {err[-3000:]}"
    document: dict[str, Any] = json.loads(out)
    return document
