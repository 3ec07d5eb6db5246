"""The metrics aggregator's Kafka edge: the validated stream into one-minute windows (with sketches), plus
the facts the reports read (LLM usage for costs, surveys, labels); publishes MetricsSnapshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from schemas import topics
from schemas.events import (
    BookingOutcome,
    Label,
    MessageAnalysis,
    MetricsSnapshot,
    ServiceCall,
    SurveyResponse,
    Turn,
)
from services.analytics.logger_store import refresh_conversation_logs
from services.analytics.metrics import MetricsAggregator, MetricsWindow, window_start
from services.worker_kinds import consumer_group
from shared.consumer import Consumed, publish_events, subscribe_batch
from shared.db import create_pool, migrate_database
from shared.settings import Settings

GROUP_ID = consumer_group("metrics")
TOPIC_MODELS: dict[str, type[BaseModel]] = {
    topics.CHAT_TURNS: Turn,
    topics.NLP_ANALYSES: MessageAnalysis,
    topics.INGEST_OUTCOMES: BookingOutcome,
    topics.INGEST_SURVEYS: SurveyResponse,
    topics.INGEST_SERVICE_CALLS: ServiceCall,
    topics.LABELS: Label,
}
# The label fields whose accuracy can be checked against the stored analysis, and that analysis' column.
LABELLED_COLUMNS = {"tone": "detected_tone", "intent": "detected_intent"}
# A model or provider the event did not name; kept visible in the costs report as an unknown model.
UNSPECIFIED = "(unspecified)"

MetricsEvent = Turn | MessageAnalysis | BookingOutcome | SurveyResponse | ServiceCall | Label


def usage_row(event: Turn | ServiceCall) -> tuple[Any, ...] | None:
    """The llm_usage row of an AI message or an LLM call that reports tokens; None for anything else."""
    if isinstance(event, Turn):
        if event.role != "ai" or not (event.provider or event.model):
            return None
        source, ok = "message", True
    else:
        if event.service != "llm":
            return None
        source, ok = "service_call", event.ok
    if event.tokens_in is None and event.tokens_out is None:
        return None
    return (
        event.event_id,
        event.conversation_id,
        event.customer_id,
        source,
        event.provider or UNSPECIFIED,
        event.model or UNSPECIFIED,
        event.tokens_in or 0,
        event.tokens_out or 0,
        ok,
        event.occurred_at,
    )


def flatten_figures(figures: Mapping[str, Any], prefix: str = "") -> dict[str, float | None]:
    """MetricsWindow.figures() as the flat, numeric map MetricsSnapshot carries ("conversation.booked")."""
    flat: dict[str, float | None] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_figures(value, name + "."))
        elif value is None or isinstance(value, int | float):
            flat[name] = None if value is None else float(value)
    return flat


def snapshot(window: MetricsWindow) -> MetricsSnapshot:
    sketches = {"model.nlp_latency_ms": window.nlp_latency_ms}
    sketches.update(
        {f"service.{name}.latency_ms": stats.latency_ms for name, stats in window.services.items()}
    )
    # Fixed by the window and its content, so republishing an unchanged window is recognisably the same.
    state = json.dumps(window.to_json(), sort_keys=True)
    return MetricsSnapshot(
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"teppan-metrics:{state}"),
        source="teppan-metrics",
        window_start=window.start,
        window_end=window.end,
        figures=flatten_figures(window.figures()),
        sketches={name: base64.b64encode(sketch.to_bytes()).decode() for name, sketch in sketches.items()},
    )


class MetricsStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def write_batch(self, events: Sequence[MetricsEvent]) -> list[MetricsWindow]:
        """Counts the batch's new events into their stored windows; returns the windows it changed.

        Claiming the event ids and merging into the windows happen in one transaction, so a redelivered
        event is never counted twice and a failed batch leaves no trace.
        """
        async with self._pool.acquire() as connection, connection.transaction():
            await self._store_facts(connection, events)
            claimed = await connection.fetch(
                "INSERT INTO metrics_events (event_id, window_start) "
                "SELECT * FROM unnest($1::uuid[], $2::timestamptz[]) ON CONFLICT (event_id) DO NOTHING "
                "RETURNING event_id",
                [event.event_id for event in events],
                [window_start(event.occurred_at) for event in events],
            )
            new_ids = {row["event_id"] for row in claimed}
            fresh = [event for event in events if event.event_id in new_ids]
            if not fresh:
                return []
            aggregator = MetricsAggregator()
            conversations = await self._conversations(connection, fresh)
            model_answers = await self._model_answers(connection, fresh)
            for event in fresh:
                record(aggregator, event, conversations, model_answers)
            return await self._merge(connection, aggregator.open_windows())

    async def _store_facts(self, connection: asyncpg.Connection, events: Sequence[MetricsEvent]) -> None:
        usage = [
            row for event in events if isinstance(event, Turn | ServiceCall) if (row := usage_row(event))
        ]
        if usage:
            await connection.execute(
                "INSERT INTO llm_usage (event_id, conversation_id, customer_id, source, provider, model, "
                "tokens_in, tokens_out, ok, occurred_at) SELECT * FROM unnest($1::uuid[], $2::uuid[], "
                "$3::int[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[], $9::bool[], "
                "$10::timestamptz[]) ON CONFLICT (event_id) DO NOTHING",
                *map(list, zip(*usage, strict=True)),
            )
        surveys = [e for e in events if isinstance(e, SurveyResponse)]
        if surveys:
            await connection.execute(
                "INSERT INTO surveys (event_id, conversation_id, customer_id, rating, understood, "
                "tone_appropriate, free_text, occurred_at) SELECT * FROM unnest($1::uuid[], $2::uuid[], "
                "$3::int[], $4::int[], $5::bool[], $6::bool[], $7::text[], $8::timestamptz[]) "
                "ON CONFLICT (event_id) DO NOTHING",
                [s.event_id for s in surveys],
                [s.conversation_id for s in surveys],
                [s.customer_id for s in surveys],
                [s.rating for s in surveys],
                [s.understood for s in surveys],
                [s.tone_appropriate for s in surveys],
                [s.free_text for s in surveys],
                [s.occurred_at for s in surveys],
            )
        labels = [e for e in events if isinstance(e, Label)]
        if labels:
            await connection.execute(
                "INSERT INTO labels (event_id, message_event_id, conversation_id, field, entity_name, value, "
                "labeller, occurred_at) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], "
                "$5::text[], $6::jsonb[], $7::text[], $8::timestamptz[]) ON CONFLICT (event_id) DO NOTHING",
                [x.event_id for x in labels],
                [x.message_event_id for x in labels],
                [x.conversation_id for x in labels],
                [x.field for x in labels],
                [x.entity_name for x in labels],
                [json.dumps(x.value) for x in labels],
                [x.labeller for x in labels],
                [x.occurred_at for x in labels],
            )
        # The conversation log shows the mean survey rating and the tone accuracy against labels.
        await refresh_conversation_logs(connection, [e.conversation_id for e in (*surveys, *labels)])
        turns = [e for e in events if isinstance(e, Turn)]
        if turns:
            # Idempotent by construction (max and or), so it needs no claim; turns are applied before
            # the batch's outcomes read them.
            await connection.execute(
                "INSERT INTO metrics_conversations AS c (conversation_id, turns, human_handoff) "
                "SELECT id, max(turn + 1), bool_or(handoff) FROM unnest($1::uuid[], $2::int[], $3::bool[]) "
                "AS t(id, turn, handoff) GROUP BY id ORDER BY id "
                "ON CONFLICT (conversation_id) DO UPDATE SET turns = greatest(c.turns, EXCLUDED.turns), "
                "human_handoff = c.human_handoff OR EXCLUDED.human_handoff",
                [t.conversation_id for t in turns],
                [t.turn_index for t in turns],
                [t.role == "human_agent" for t in turns],
            )

    async def _conversations(
        self, connection: asyncpg.Connection, events: Sequence[MetricsEvent]
    ) -> dict[uuid.UUID, tuple[int, bool]]:
        ids = list({e.conversation_id for e in events if isinstance(e, BookingOutcome)})
        if not ids:
            return {}
        rows = await connection.fetch(
            "SELECT conversation_id, turns, human_handoff FROM metrics_conversations "
            "WHERE conversation_id = ANY($1::uuid[])",
            ids,
        )
        return {row["conversation_id"]: (row["turns"], row["human_handoff"]) for row in rows}

    async def _model_answers(
        self, connection: asyncpg.Connection, events: Sequence[MetricsEvent]
    ) -> dict[uuid.UUID, dict[str, str | None]]:
        ids = list(
            {e.message_event_id for e in events if isinstance(e, Label) and e.field in LABELLED_COLUMNS}
        )
        if not ids:
            return {}
        rows = await connection.fetch(
            "SELECT message_event_id, detected_tone, detected_intent FROM message_analyses "
            "WHERE message_event_id = ANY($1::uuid[])",
            ids,
        )
        return {
            row["message_event_id"]: {field: row[column] for field, column in LABELLED_COLUMNS.items()}
            for row in rows
        }

    async def _merge(
        self, connection: asyncpg.Connection, windows: list[MetricsWindow]
    ) -> list[MetricsWindow]:
        starts = [window.start for window in windows]
        await connection.execute(
            "INSERT INTO metrics_windows (window_start, window_end, state) "
            "SELECT * FROM unnest($1::timestamptz[], $2::timestamptz[], $3::jsonb[]) "
            "ON CONFLICT (window_start) DO NOTHING",
            starts,
            [window.end for window in windows],
            [json.dumps(MetricsWindow(window.start, window.end).to_json()) for window in windows],
        )
        # Locked in start order, so replicas merging into the same windows cannot deadlock.
        rows = await connection.fetch(
            "SELECT window_start, state FROM metrics_windows WHERE window_start = ANY($1::timestamptz[]) "
            "ORDER BY window_start FOR UPDATE",
            starts,
        )
        stored = {row["window_start"]: MetricsWindow.from_json(json.loads(row["state"])) for row in rows}
        merged = []
        for window in windows:
            total = stored[window.start]
            total.merge(window)
            merged.append(total)
        await connection.execute(
            "UPDATE metrics_windows SET state = w.state, updated_at = clock_timestamp() "
            "FROM unnest($1::timestamptz[], $2::jsonb[]) AS w(start, state) "
            "WHERE metrics_windows.window_start = w.start",
            [window.start for window in merged],
            [json.dumps(window.to_json()) for window in merged],
        )
        return merged


def record(
    aggregator: MetricsAggregator,
    event: MetricsEvent,
    conversations: Mapping[uuid.UUID, tuple[int, bool]],
    model_answers: Mapping[uuid.UUID, Mapping[str, str | None]],
) -> None:
    """Counts one (new) event into its window."""
    at, event_id = event.occurred_at, str(event.event_id)
    if isinstance(event, Turn):
        aggregator.record_turn(at, turn_index=event.turn_index, event_id=event_id)
    elif isinstance(event, MessageAnalysis):
        aggregator.record_analysis(
            at,
            latency_ms=event.latency_ms,
            confidence=event.confidence,
            escalated=event.escalate,
            event_id=event_id,
        )
    elif isinstance(event, BookingOutcome):
        turns, handed_over = conversations.get(event.conversation_id, (0, False))
        aggregator.record_outcome(
            at,
            booked=event.booked,
            turns=turns,
            # The assistant completed its task when the conversation ended without a human taking over.
            task_completed=not handed_over,
            total_value=event.total_value,
            upsells_offered=len(event.offered_upsells),
            upsells_accepted=len(event.accepted_upsells),
            event_id=event_id,
        )
    elif isinstance(event, SurveyResponse):
        aggregator.record_survey(at, rating=event.rating, event_id=event_id)
    elif isinstance(event, ServiceCall):
        # A call without a latency cannot feed the latency sketch; the front end always sends one.
        if event.latency_ms is not None:
            aggregator.record_service_call(
                at, service=event.service, ok=event.ok, latency_ms=event.latency_ms, event_id=event_id
            )
    elif event.field in LABELLED_COLUMNS:
        answer = model_answers.get(event.message_event_id)
        if answer is not None:
            correct = answer[event.field] is not None and answer[event.field] == str(event.value)
            aggregator.record_label(at, task=event.field, correct=correct, event_id=event_id)


class MetricsHandler:
    def __init__(self, broker: KafkaBroker, store: MetricsStore) -> None:
        self._broker = broker
        self._store = store

    async def __call__(self, batch: list[Consumed[MetricsEvent]]) -> None:
        unique = {item.event.event_id: item.event for item in batch}
        changed = await self._store.write_batch(list(unique.values()))
        # Published after the commit: a snapshot is the window's current state, and the next batch
        # touching the window publishes a newer one anyway.
        await publish_events(
            self._broker, topics.ANALYTICS_METRICS, [snapshot(window) for window in changed], key_of=_key
        )


def _key(event: MetricsSnapshot) -> bytes:
    return event.window_start.isoformat().encode()


def register(broker: KafkaBroker, store: MetricsStore) -> None:
    subscribe_batch(
        broker,
        models=TOPIC_MODELS,
        group_id=GROUP_ID,
        stage="metrics",
        dlq_topic=topics.ANALYTICS_DLQ,
        handle=MetricsHandler(broker, store),
        outputs={topics.ANALYTICS_METRICS: MetricsSnapshot},
        title="metrics",
        description="One-minute metrics windows with mergeable sketches; LLM usage, surveys and labels.",
    )


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    await migrate_database(settings)
    pool = await create_pool(settings)
    try:
        register(broker, MetricsStore(pool))
        yield
    finally:
        await pool.close()
