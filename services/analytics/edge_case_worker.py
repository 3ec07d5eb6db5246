"""The edge-case flagger and prediction log's Kafka edge: turns and NLP analyses into `edge_cases`,
EdgeCaseFlagged events, the `predictions` table and the daily JSONL prediction log.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from schemas import topics
from schemas.events import EdgeCaseFlagged, MessageAnalysis, Turn
from services.analytics.edge_cases import EdgeCaseThresholds, MessageFacts, edge_case_reasons
from services.analytics.prediction_log import PredictionLog, prediction_record
from services.worker_kinds import consumer_group
from shared.consumer import Consumed, publish_events, subscribe_batch
from shared.db import create_pool, migrate_database
from shared.pii import scrub_pii
from shared.settings import Settings

GROUP_ID = consumer_group("edge-cases")
TOPIC_MODELS: dict[str, type[BaseModel]] = {topics.CHAT_TURNS: Turn, topics.NLP_ANALYSES: MessageAnalysis}
# Namespace of the deterministic EdgeCaseFlagged event ids: a batch retried after a crash republishes
# the same ids, so consumers of analytics.edge-cases.v1 stay idempotent.
FLAG_NAMESPACE = uuid.UUID("5b0f3c1e-8f7a-4d3b-9a51-2f0c6e7d8a90")


# (conversation_id, reason, message event id, customer_id, occurred_at)
FlagRow = tuple[uuid.UUID, str, uuid.UUID, int | None, datetime]


def flag_rows(event: Turn | MessageAnalysis, thresholds: EdgeCaseThresholds) -> list[FlagRow]:
    """The (conversation, reason) rows one turn or analysis raises.

    A turn carries the role and the conversation's correction count; an analysis carries confidence,
    entities and frustration. Each is judged on what it knows, so neither has to wait for the other.
    """
    if isinstance(event, Turn):
        facts = MessageFacts(role=event.role, corrections=event.context.corrections)
        message_id = event.event_id
    else:
        facts = MessageFacts(
            role="customer",
            confidence=event.confidence,
            entities=event.entities,
            sentiment=event.sentiment,
            frustrated=event.frustrated,
            intent=event.intent,
        )
        message_id = event.message_event_id
    return [
        (event.conversation_id, reason, message_id, event.customer_id, event.occurred_at)
        for reason in edge_case_reasons(facts, thresholds)
    ]


def flagged_events(new_rows: Sequence[FlagRow]) -> list[EdgeCaseFlagged]:
    """One EdgeCaseFlagged per message that raised new reasons, with an id fixed by its content."""
    by_message: dict[tuple[uuid.UUID, uuid.UUID], list[FlagRow]] = defaultdict(list)
    for row in new_rows:
        by_message[(row[0], row[2])].append(row)
    events = []
    for (conversation_id, message_id), rows in by_message.items():
        reasons = sorted(row[1] for row in rows)
        events.append(
            EdgeCaseFlagged(
                event_id=uuid.uuid5(FLAG_NAMESPACE, f"{conversation_id}:{message_id}:{','.join(reasons)}"),
                occurred_at=rows[0][4],
                conversation_id=conversation_id,
                customer_id=rows[0][3],
                source="teppan-edge-cases",
                message_event_id=message_id,
                reasons=reasons,  # type: ignore[arg-type]
            )
        )
    return events


def record_for(analysis: dict[str, Any], user_text: str, requested_slots: list[str]) -> dict[str, Any]:
    """Seed document 004's record for one NLP analysis (the NLP path is local: no tokens, no cost)."""
    path = analysis.get("path", "fast")
    versions = analysis.get("model_versions") or {}
    return prediction_record(
        conversation_id=analysis["conversation_id"],
        timestamp=datetime.fromisoformat(analysis["occurred_at"]),
        model_name=f"teppan-nlp-{path}",
        provider="teppan",
        prompt_version=",".join(f"{task}={version}" for task, version in sorted(versions.items())) or None,
        user_text=user_text,
        state="awaiting:" + ",".join(requested_slots) if requested_slots else None,
        slots={},
        response=None,
        extracted_slots={name: entity.get("value") for name, entity in analysis["entities"].items()},
        confidence=analysis["confidence"],
        next_state=analysis.get("intent"),
        latency_ms=analysis.get("latency_ms"),
        tokens_in=None,
        tokens_out=None,
        cost=0.0,
        event_id=analysis["event_id"],
    )


class EdgeCaseStore:
    def __init__(self, pool: asyncpg.Pool, prediction_log: PredictionLog) -> None:
        self._pool = pool
        self._log = prediction_log

    async def write_batch(
        self,
        flags: Sequence[FlagRow],
        inputs: Sequence[tuple[Any, ...]],
        analyses: Sequence[tuple[Any, ...]],
        publish: Any,
    ) -> None:
        """Stores flags and predictions in one transaction; `publish` runs before it commits.

        Publishing inside the transaction means a failed publish rolls the rows back, so the batch is
        redelivered and the flags are published then: at least once, with content-fixed event ids.
        """
        touched = sorted({row[0] for row in inputs} | {row[1] for row in analyses}, key=str)
        async with self._pool.acquire() as connection, connection.transaction():
            if touched:
                # A turn and its analysis may be read by two replicas at once; serialising on the message
                # makes the second transaction see the first one's half and write the record.
                await connection.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(id::text, 1)) FROM unnest($1::uuid[]) AS id",
                    touched,
                )
            new_flags: list[FlagRow] = []
            if flags:
                inserted = await connection.fetch(
                    "INSERT INTO edge_cases (conversation_id, reason, event_id, customer_id, flagged_at) "
                    "SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int[], $5::timestamptz[]) "
                    "ON CONFLICT (conversation_id, reason) DO NOTHING RETURNING conversation_id, reason",
                    *map(list, zip(*flags, strict=True)),
                )
                fresh = {(row["conversation_id"], row["reason"]) for row in inserted}
                new_flags = [row for row in flags if (row[0], row[1]) in fresh]
            if inputs:
                await connection.execute(
                    "INSERT INTO prediction_inputs (message_event_id, conversation_id, user_text, "
                    "requested_slots, occurred_at) "
                    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::timestamptz[]) "
                    "ON CONFLICT (message_event_id) DO NOTHING",
                    *map(list, zip(*inputs, strict=True)),
                )
            if analyses:
                await connection.execute(
                    "INSERT INTO predictions (analysis_event_id, message_event_id, conversation_id, "
                    "occurred_at, analysis) "
                    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::jsonb[]) "
                    "ON CONFLICT (analysis_event_id) DO NOTHING",
                    *map(list, zip(*analyses, strict=True)),
                )
            if touched:
                await self._write_ready_predictions(connection, touched)
            await publish(flagged_events(new_flags))

    async def _write_ready_predictions(self, connection: asyncpg.Connection, messages: list[Any]) -> None:
        """Appends to the JSONL log every analysis of `messages` whose input is now known, once."""
        ready = await connection.fetch(
            "SELECT p.analysis_event_id, p.analysis, i.user_text, i.requested_slots "
            "FROM predictions p JOIN prediction_inputs i ON i.message_event_id = p.message_event_id "
            "WHERE p.message_event_id = ANY($1::uuid[]) AND p.written_at IS NULL "
            "ORDER BY p.occurred_at, p.analysis_event_id FOR UPDATE OF p",
            messages,
        )
        if not ready:
            return
        records = [
            record_for(json.loads(row["analysis"]), row["user_text"], json.loads(row["requested_slots"]))
            for row in ready
        ]
        # Appended before the rows are marked: a crash in between writes a line twice at worst, and each
        # line carries its event_id so readers can drop the repeat; a line is never lost.
        for record in records:
            self._log.append(record)
        await connection.execute(
            "UPDATE predictions SET record = r.record, written_at = clock_timestamp() "
            "FROM unnest($1::uuid[], $2::jsonb[]) AS r(id, record) WHERE predictions.analysis_event_id = r.id",
            [row["analysis_event_id"] for row in ready],
            [json.dumps(record) for record in records],
        )


class EdgeCaseHandler:
    def __init__(self, broker: KafkaBroker, store: EdgeCaseStore, thresholds: EdgeCaseThresholds) -> None:
        self._broker = broker
        self._store = store
        self._thresholds = thresholds

    async def __call__(self, batch: list[Consumed[Turn | MessageAnalysis]]) -> None:
        flags: dict[tuple[uuid.UUID, str], FlagRow] = {}
        inputs: dict[uuid.UUID, tuple[Any, ...]] = {}
        analyses: dict[uuid.UUID, tuple[Any, ...]] = {}
        for item in batch:
            event = item.event
            for row in flag_rows(event, self._thresholds):
                flags.setdefault((row[0], row[1]), row)
            if isinstance(event, Turn) and event.role == "customer":
                inputs[event.event_id] = (
                    event.event_id,
                    event.conversation_id,
                    scrub_pii(event.text),
                    json.dumps(event.context.requested_slots),
                    event.occurred_at,
                )
            elif isinstance(event, MessageAnalysis):
                analyses[event.event_id] = (
                    event.event_id,
                    event.message_event_id,
                    event.conversation_id,
                    event.occurred_at,
                    event.model_dump_json(),
                )
        await self._store.write_batch(
            list(flags.values()), list(inputs.values()), list(analyses.values()), self._publish
        )

    async def _publish(self, events: list[EdgeCaseFlagged]) -> None:
        await publish_events(
            self._broker,
            topics.ANALYTICS_EDGE_CASES,
            events,
            key_of=lambda e: str(e.conversation_id).encode(),
        )


def register(broker: KafkaBroker, store: EdgeCaseStore, thresholds: EdgeCaseThresholds) -> None:
    subscribe_batch(
        broker,
        models=TOPIC_MODELS,
        group_id=GROUP_ID,
        stage="edge-cases",
        dlq_topic=topics.ANALYTICS_DLQ,
        handle=EdgeCaseHandler(broker, store, thresholds),
        outputs={topics.ANALYTICS_EDGE_CASES: EdgeCaseFlagged},
        title="edge-cases",
        description="Flags edge cases (seed 000's five rules) and writes the prediction log.",
    )


def prediction_log_dir(settings: Settings) -> Path:
    return settings.data_dir / "predictions"


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    await migrate_database(settings)
    pool = await create_pool(settings)
    thresholds = EdgeCaseThresholds(
        min_confidence=settings.edge_min_confidence, max_corrections=settings.edge_max_corrections
    )
    try:
        register(broker, EdgeCaseStore(pool, PredictionLog(prediction_log_dir(settings))), thresholds)
        yield
    finally:
        await pool.close()
