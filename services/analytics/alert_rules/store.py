"""The alert rules' store: its port, and the PostgreSQL adapter that keeps their state in `alert_state` and
reads their figures from the metrics windows, readiness counts and LLM usage.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg

from services.analytics.alert_rules.core import DAY, LATENCY_WINDOW, AlertState, Observations
from services.analytics.alert_rules.drift import HEADS, DriftFinding, drift_findings
from services.analytics.reports import queries
from services.analytics.reports.costs import Usage
from shared.db import insert_rows, update_rows

# One `alert_state` row per part of the state.
STATE_NAMES = tuple(part.name for part in fields(AlertState))
# Live answers are compared with the reference over the last hour: at demo rates that is thousands of
# answers, and a shift pages within the hour it starts.
DRIFT_WINDOW = timedelta(hours=1)
# A served version's intent accuracy on human labels is compared with its registered gold-set accuracy once
# it has this many labelled answers in the last ACCURACY_WINDOW: at 50 labels and 80% the standard error is
# under 6 points, small beside the 10-point drop that pages.
MIN_LABELS_FOR_ACCURACY = 50
ACCURACY_WINDOW = timedelta(days=7)
# How each worker names the registered version that answered, in the analysis's `model_versions`: the key,
# and the value from (registered version, model version). The nlp worker writes `registered: nlp/v3`; the
# escalation worker `escalation: <model version>/v3`.
SERVED_LABELS: dict[str, tuple[str, str, Callable[[int, str], str]]] = {
    "nlp": ("fast", "registered", lambda version, _: f"nlp/v{version}"),
    "escalation": ("ml", "escalation", lambda version, model_version: f"{model_version}/v{version}"),
}


@dataclass(frozen=True)
class ServedReference:
    """A model in service (the registry's champion), the answer shares it was registered with, and its intent
    accuracy on the gold set (None when it was registered without one)."""

    model: str
    registered_version: int
    model_version: str
    reference: Mapping[str, Mapping[str, float]]
    baseline_intent_accuracy: float | None = None


# Gives the served models' references; empty when there is no registry or nothing registered.
References = Callable[[], Awaitable[list[ServedReference]]]


class AlertTransaction(Protocol):
    """One evaluation: the state stays locked until the transaction ends, and is saved with it."""

    async def load_state(self) -> AlertState:
        """The persisted state, locked against concurrent evaluations."""
        ...

    async def observations(self, now: datetime) -> Observations:
        """The rules' live figures at `now`."""
        ...

    async def weekly_conversations(self, now: datetime) -> int:
        """The readiness count of conversations at `now`."""
        ...

    async def usages(self, since: datetime, until: datetime) -> list[Usage]:
        """The priced LLM usage in [since, until)."""
        ...

    async def save_state(self, state: AlertState) -> None: ...


class AlertStore(Protocol):
    def transaction(self) -> contextlib.AbstractAsyncContextManager[AlertTransaction]:
        """A transaction that commits when the block exits without an exception."""
        ...


class PostgresAlertTransaction:
    def __init__(self, connection: asyncpg.Connection, references: References | None = None) -> None:
        self._connection = connection
        self._references = references

    async def load_state(self) -> AlertState:
        await insert_rows(
            self._connection,
            "alert_state",
            ("name", "state"),
            [(name, "{}") for name in STATE_NAMES],
            conflict="(name) DO NOTHING",
        )
        rows = await self._connection.fetch(
            "SELECT name, state FROM alert_state WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE",
            list(STATE_NAMES),
        )
        return AlertState(**{row["name"]: json.loads(row["state"]) for row in rows})

    async def observations(self, now: datetime) -> Observations:
        """Summed in SQL from the stored windows (the p95 from merged sketches)."""
        day = await self._connection.fetchrow(
            "SELECT count(*) AS windows, coalesce(sum((state->>'conversations')::int), 0) AS conversations,"
            " coalesce(sum((state->'labelled'->>'tone')::int), 0) AS tone_labelled,"
            " coalesce(sum((state->'correct'->>'tone')::int), 0) AS tone_correct "
            "FROM metrics_windows WHERE window_start >= $1 AND window_start <= $2",
            now - DAY,
            now,
        )
        recent = await queries.merged_window(self._connection, now - LATENCY_WINDOW, now)
        p95 = recent.nlp_latency_ms.quantile(0.95) if recent and recent.nlp_latency_ms.count else None
        served = await self._references() if self._references is not None else None
        accuracy = await self._worst_accuracy(served or [], now)
        return Observations(
            tone_accuracy=day["tone_correct"] / day["tone_labelled"] if day["tone_labelled"] else None,
            p95_latency_ms=p95,
            conversations_per_day=int(day["conversations"]) if day["windows"] else None,
            drift=tuple(await self._drift(served, now)) if served is not None else None,
            accuracy=accuracy[0] if accuracy else None,
            baseline_accuracy=accuracy[1] if accuracy else None,
            accuracy_model=accuracy[2] if accuracy else None,
        )

    async def _worst_accuracy(
        self, served: list[ServedReference], now: datetime
    ) -> tuple[float, float, str] | None:
        """(live intent accuracy on human labels, registered gold accuracy, "model vN") of the served version
        that fell furthest below its baseline, among those with MIN_LABELS_FOR_ACCURACY labelled answers."""
        worst: tuple[float, float, str] | None = None
        for model in served:
            if model.baseline_intent_accuracy is None or model.model not in SERVED_LABELS:
                continue
            path, key, label_of = SERVED_LABELS[model.model]
            row = await self._connection.fetchrow(
                "SELECT count(*) AS labelled,"
                " count(*) FILTER (WHERE p.analysis ->> 'intent' = l.value #>> '{}') AS correct "
                "FROM labels l JOIN predictions p ON p.message_event_id = l.message_event_id "
                "WHERE l.field = 'intent' AND l.occurred_at >= $1 AND p.analysis ->> 'path' = $2"
                " AND p.analysis -> 'model_versions' ->> $3 = $4",
                now - ACCURACY_WINDOW,
                path,
                key,
                label_of(model.registered_version, model.model_version),
            )
            if row["labelled"] < MIN_LABELS_FOR_ACCURACY:
                continue
            live = row["correct"] / row["labelled"]
            name = f"{model.model} v{model.registered_version} ({model.model_version})"
            if worst is None or model.baseline_intent_accuracy - live > worst[1] - worst[0]:
                worst = (live, model.baseline_intent_accuracy, name)
        return worst

    async def _drift(self, served: list[ServedReference], now: datetime) -> list[DriftFinding]:
        if not served:
            return []
        window = await queries.merged_window(self._connection, now - DRIFT_WINDOW, now)
        predictions: dict[str, dict[str, int]] = window.predictions if window is not None else {}
        findings: list[DriftFinding] = []
        for model in served:
            live: dict[str, Any] = {head: predictions.get(f"{model.model}.{head}", {}) for head in HEADS}
            findings += drift_findings(
                model.model, model.registered_version, model.model_version, model.reference, live
            )
        return findings

    async def weekly_conversations(self, now: datetime) -> int:
        report = await queries.readiness(self._connection, now)
        return int(report["counts"]["conversations"])

    async def usages(self, since: datetime, until: datetime) -> list[Usage]:
        return await queries.usages(self._connection, since, until)

    async def save_state(self, state: AlertState) -> None:
        await update_rows(
            self._connection,
            "alert_state",
            "name",
            ("state",),
            [(name, json.dumps(part)) for name, part in asdict(state).items()],
            stamp="updated_at",
        )


class PostgresAlertStore:
    def __init__(self, pool: asyncpg.Pool, references: References | None = None) -> None:
        self._pool = pool
        self._references = references

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresAlertTransaction]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield PostgresAlertTransaction(connection, self._references)
