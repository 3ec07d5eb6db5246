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


@dataclass(frozen=True)
class ServedReference:
    """A model in service (the registry's champion) and the answer shares it was registered with."""

    model: str
    registered_version: int
    model_version: str
    reference: Mapping[str, Mapping[str, float]]


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
        return Observations(
            tone_accuracy=day["tone_correct"] / day["tone_labelled"] if day["tone_labelled"] else None,
            p95_latency_ms=p95,
            conversations_per_day=int(day["conversations"]) if day["windows"] else None,
            drift=tuple(await self._drift(now)) if self._references is not None else None,
        )

    async def _drift(self, now: datetime) -> list[DriftFinding]:
        assert self._references is not None
        served = await self._references()
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
