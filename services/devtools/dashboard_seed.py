"""Fills a database with a month of synthetic traffic at the scale the dashboard must stay fast at.

`teppan bench dashboard` seeds 1,000,000 messages this way. Feeding that many events through Kafka and
every worker would take an hour on 2 cores, so the rows are written straight into the tables the workers
write (COPY), in the shapes the workers write them: ten turns a conversation, customer and assistant in
turn, an analysis per customer turn (a fifth of them from the ML path), outcomes, surveys, LLM usage,
edge cases, labels (some turns by two labellers) and alerts. Texts are the demo generator's. The
seed-shaped `conversation_logs` rows are then rebuilt by the real `refresh_conversation_logs`, and the
metrics windows by the real aggregator and store, so the derived tables are exactly what the pipeline
would hold.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from schemas.vocabulary import INTENTS, SENTIMENTS, TONES
from services.analytics.conversation_log.core import AnalysisRow, MessageRow, OutcomeRow
from services.analytics.conversation_log.store import refresh_conversation_logs
from services.analytics.edge_cases.core import FlagRow
from services.analytics.metrics.core import LabelRow, SurveyRow, UsageRow
from services.analytics.metrics.store import PostgresMetricsWrites, rebuild_usage_hourly
from services.analytics.metrics.windows import MetricsAggregator, MetricsWindow
from services.devtools.demo_traffic import generate_conversations

TURNS_PER_CONVERSATION = 10
TURN_GAP = timedelta(seconds=20)
ML_SHARE = 0.2
EDGE_CASE_SHARE = 0.05
LABEL_SHARE = 0.02
SECOND_LABELLER_SHARE = 0.25
EDGE_REASONS = (
    "low_confidence",
    "no_entities_found",
    "multiple_corrections",
    "escalated_to_human",
    "customer_expressed_frustration",
)
# Rows per COPY and conversations per conversation_logs rebuild: big enough to be quick, small enough
# to keep a transaction's memory modest on a 24 GB machine.
CHUNK_CONVERSATIONS = 5_000
# Metrics windows are merged a day at a time (1,440 one-minute windows).
WINDOWS_PER_MERGE = 1_440


@dataclass
class SeedSummary:
    messages: int = 0
    conversations: int = 0
    analyses: int = 0
    outcomes: int = 0
    labels: int = 0
    metrics_windows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _text_pool(seed: int) -> tuple[list[str], list[str]]:
    """Customer and assistant texts from the demo generator, so search and the reader see real phrasing."""
    customer: list[str] = []
    assistant: list[str] = []
    for conversation in generate_conversations(seed=seed, start=datetime(2026, 1, 1, tzinfo=UTC), count=400):
        for _, event in conversation.events:
            if event.get("event_type") == "chat.message":
                (customer if event["role"] == "customer" else assistant).append(event["text"])
    return customer, assistant


class _Rows:
    def __init__(self) -> None:
        self.messages: list[tuple[Any, ...]] = []
        self.analyses: list[tuple[Any, ...]] = []
        self.outcomes: list[tuple[Any, ...]] = []
        self.surveys: list[tuple[Any, ...]] = []
        self.usage: list[tuple[Any, ...]] = []
        self.edge_cases: list[tuple[Any, ...]] = []
        self.labels: list[tuple[Any, ...]] = []
        self.conversations: list[uuid.UUID] = []


def _conversation(
    rows: _Rows,
    aggregator: MetricsAggregator,
    rng: random.Random,
    started: datetime,
    texts: tuple[list[str], list[str]],
) -> None:
    conversation_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    customer_id = rng.randint(1, 20_000)
    rows.conversations.append(conversation_id)
    at = started
    for turn in range(TURNS_PER_CONVERSATION):
        at = started + turn * TURN_GAP
        event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        customer = turn % 2 == 0
        if customer:
            text = rng.choice(texts[0])
            rows.messages.append(
                (event_id, conversation_id, customer_id, "customer", text, "web", turn, at, None, "{}", "{}")
            )
            path = "ml" if rng.random() < ML_SHARE else "fast"
            tone, intent = rng.choice(TONES), rng.choice(INTENTS)
            confidence = round(rng.uniform(0.3, 0.99), 3)
            latency = rng.lognormvariate(3.7, 0.4) if path == "ml" else rng.lognormvariate(0.7, 0.5)
            slots = {"people": {"value": str(rng.randint(8, 40)), "confidence": 0.9}} if rng.random() < 0.3 else {}
            analysis = {
                "tone": tone,
                "intent": intent,
                "sentiment": rng.choice(SENTIMENTS),
                "confidence": confidence,
                "path": path,
                "entities": slots,
                "escalate": confidence < 0.6,
            }
            rows.analyses.append(
                (
                    event_id,
                    uuid.uuid5(event_id, path),
                    conversation_id,
                    path,
                    tone,
                    intent,
                    json.dumps({name: value["value"] for name, value in slots.items()}),
                    confidence,
                    confidence < 0.6,
                    latency,
                    json.dumps(analysis),
                    at,
                )
            )
            aggregator.record_turn(at, turn_index=turn)
            aggregator.record_analysis(
                at,
                latency_ms=latency,
                confidence=confidence,
                escalated=confidence < 0.6,
                model="escalation" if path == "ml" else "nlp",
                tone=tone,
                intent=intent,
                path=path,
            )
            if rng.random() < LABEL_SHARE:
                for labeller in ("ana", "ben") if rng.random() < SECOND_LABELLER_SHARE else ("ana",):
                    value = tone if rng.random() < 0.8 else rng.choice(TONES)
                    rows.labels.append(
                        (
                            uuid.uuid5(event_id, labeller),
                            event_id,
                            conversation_id,
                            "tone",
                            None,
                            json.dumps(value),
                            labeller,
                            at + timedelta(hours=1),
                        )
                    )
                    aggregator.record_label(at, task="tone", correct=value == tone)
        else:
            text = rng.choice(texts[1])
            tokens_in, tokens_out = rng.randint(200, 900), rng.randint(30, 200)
            assistant = {
                "tone_used": "friendly",
                "suggested_upsells": [],
                "model": "gpt-4o-mini",
                "provider": "openai",
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "latency_ms": round(rng.uniform(400, 1600), 1),
            }
            rows.messages.append(
                (event_id, conversation_id, customer_id, "ai", text, "web", turn, at, json.dumps(assistant), "{}", "{}")
            )
            rows.usage.append(
                (event_id, conversation_id, customer_id, "message", "openai", "gpt-4o-mini", tokens_in, tokens_out, True, at)
            )
            aggregator.record_turn(at, turn_index=turn)
    if rng.random() < 0.9:
        booked = rng.random() < 0.35
        offered = ["sake_pairing"] if rng.random() < 0.5 else []
        accepted = offered if offered and rng.random() < 0.3 else []
        booking_value = round(rng.uniform(400, 3000), 2) if booked else None
        ended = at + TURN_GAP
        rows.outcomes.append(
            (
                uuid.UUID(int=rng.getrandbits(128), version=4),
                conversation_id,
                customer_id,
                booked,
                f"B{rng.getrandbits(32)}" if booked else None,
                booking_value,
                json.dumps(offered),
                json.dumps(accepted),
                ended,
            )
        )
        aggregator.record_outcome(
            ended,
            booked=booked,
            turns=TURNS_PER_CONVERSATION,
            task_completed=rng.random() < 0.93,
            total_value=booking_value,
            upsells_offered=len(offered),
            upsells_accepted=len(accepted),
        )
        if rng.random() < 0.3:
            rating = rng.randint(1, 5)
            rows.surveys.append(
                (uuid.UUID(int=rng.getrandbits(128), version=4), conversation_id, customer_id, rating, True, True, None, ended)
            )
            aggregator.record_survey(ended, rating=rating)
    if rng.random() < EDGE_CASE_SHARE:
        rows.edge_cases.append(
            (conversation_id, rng.choice(EDGE_REASONS), rows.messages[-TURNS_PER_CONVERSATION][0], customer_id, started)
        )


# The columns each table is copied with: the row types the workers write them with, so a column the
# workers gain is one the seeder is made to fill too (its tuples follow the same order).
TABLES: dict[str, tuple[str, ...]] = {
    "messages": MessageRow._fields,
    "message_analyses": AnalysisRow._fields,
    "outcomes": OutcomeRow._fields,
    "surveys": SurveyRow._fields,
    "llm_usage": UsageRow._fields,
    "edge_cases": FlagRow._fields,
    "labels": LabelRow._fields,
}


async def _copy(connection: asyncpg.Connection, rows: _Rows) -> None:
    for table, records in (
        ("messages", rows.messages),
        ("message_analyses", rows.analyses),
        ("outcomes", rows.outcomes),
        ("surveys", rows.surveys),
        ("llm_usage", rows.usage),
        ("edge_cases", rows.edge_cases),
        ("labels", rows.labels),
    ):
        if records:
            await connection.copy_records_to_table(table, records=records, columns=list(TABLES[table]))


async def seed(
    pool: asyncpg.Pool,
    *,
    messages: int,
    days: float = 30.0,
    seed_value: int = 11,
    now: datetime | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> SeedSummary:
    """Write `messages` messages (rounded down to whole conversations) spread over the last `days` days."""
    import time

    now = now or datetime.now(UTC)
    rng = random.Random(seed_value)
    texts = _text_pool(seed_value)
    conversations = messages // TURNS_PER_CONVERSATION
    span_s = days * 86400 - 600
    starts = sorted(now - timedelta(seconds=rng.uniform(600, span_s)) for _ in range(conversations))
    aggregator = MetricsAggregator()
    summary = SeedSummary()
    began = time.monotonic()
    for offset in range(0, conversations, CHUNK_CONVERSATIONS):
        rows = _Rows()
        for started in starts[offset : offset + CHUNK_CONVERSATIONS]:
            _conversation(rows, aggregator, rng, started, texts)
        async with pool.acquire() as connection, connection.transaction():
            await _copy(connection, rows)
            await refresh_conversation_logs(connection, rows.conversations)
        summary.messages += len(rows.messages)
        summary.conversations += len(rows.conversations)
        summary.analyses += len(rows.analyses)
        summary.outcomes += len(rows.outcomes)
        summary.labels += len(rows.labels)
        if progress is not None:
            progress("rows", min(1.0, (offset + CHUNK_CONVERSATIONS) / max(conversations, 1)))
    summary.seconds["rows"] = round(time.monotonic() - began, 1)
    began = time.monotonic()
    windows: Sequence[MetricsWindow] = sorted(aggregator.open_windows(), key=lambda window: window.start)
    for offset in range(0, len(windows), WINDOWS_PER_MERGE):
        async with pool.acquire() as connection, connection.transaction():
            await PostgresMetricsWrites(connection).merge(windows[offset : offset + WINDOWS_PER_MERGE])
    summary.metrics_windows = len(windows)
    summary.seconds["metrics_windows"] = round(time.monotonic() - began, 1)
    async with pool.acquire() as connection, connection.transaction():
        # The usage rows went in by COPY, past the metrics worker's hourly token rollup: rebuild it whole.
        await rebuild_usage_hourly(connection)
    async with pool.acquire() as connection:
        await connection.executemany(
            "INSERT INTO alerts_sent (event_id, rule, level, message, fired_at) VALUES ($1, $2, $3, $4, $5)",
            [
                (uuid.uuid4(), "latency_p95", "warning", "fast-path p95 latency 260 ms > 250 ms", now - timedelta(hours=i))
                for i in range(200)
            ],
        )
        await connection.execute("ANALYZE")
    return summary
