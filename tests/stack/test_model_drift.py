"""model_drift over the stream: the escalation model's live answers, counted by the metrics worker in its
one-minute windows, move away from the reference it was registered with, and the alerts and alerting
workers page the local Sentry endpoint with the registered baseline in the message. The other half: a
served version's accuracy on human labels, read by the alerts store, against its registered baseline."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from schemas import topics
from schemas.events import MessageAnalysis
from services.analytics.alert_rules.drift import MIN_PREDICTIONS
from services.analytics.alert_rules.store import (
    MIN_LABELS_FOR_ACCURACY,
    PostgresAlertTransaction,
    ServedReference,
)
from services.common.registry import CHAMPION, ModelRegistry
from shared.embedded import EmbeddedServers
from shared.settings import Settings
from tests.analytics.paging.fake_sentry import FakeSentry
from tests.operations.helpers import scratch_settings
from tests.stack.dataset_helpers import Seeder
from tests.stack.helpers import WorkerProcesses, produce_events, wait_for

pytestmark = pytest.mark.stack

# What the registered version answered on its reference rows: formal, booking questions, sure of itself.
REFERENCE = {
    "tone": {"formal": 0.7, "casual": 0.3},
    "intent": {"booking_inquiry": 0.8, "menu_question": 0.2},
    "confidence": {"8": 0.4, "9": 0.6},
}


@pytest.fixture
def registered(analytics_registry: dict[str, str], tmp_path: Path) -> Iterator[ModelRegistry]:
    registry = ModelRegistry(
        analytics_registry["TEPPAN_MLFLOW_TRACKING_URI"], analytics_registry["TEPPAN_MLFLOW_ARTIFACTS"], tmp_path
    )
    model = tmp_path / "model"
    model.mkdir()
    (model / "meta.json").write_text(json.dumps({"model_version": "escalation-drift-test"}))
    version = registry.register(
        "escalation", model, metrics={}, params={}, lineage={}, model_version="escalation-drift-test",
        reference=REFERENCE,
    )  # fmt: skip
    registry.set_alias("escalation", CHAMPION, version.version)
    yield registry
    # Later tests must not be checked against this made-up reference.
    registry.delete_alias("escalation", CHAMPION)


def shifted_answers(count: int) -> list[dict[str, Any]]:
    """The slow path's answers to a day of anxious, complaining customers: none like the reference."""
    now = datetime.now(UTC)
    return [
        MessageAnalysis(
            conversation_id=uuid.uuid4(),
            occurred_at=now - timedelta(milliseconds=5 * i),
            message_event_id=uuid.uuid4(),
            turn_index=0,
            tone="anxious",
            intent="complaint",
            sentiment="negative",
            confidence=0.62,
            path="ml",
            model_versions={"escalation": "escalation-drift-test/v1"},
        ).model_dump(mode="json")
        for i in range(count)
    ]


async def test_shifted_answers_raise_model_drift_at_the_sentry_endpoint(
    stack: Settings, analytics: WorkerProcesses, fake_sentry: FakeSentry, registered: ModelRegistry
) -> None:
    version = registered.by_alias("escalation", CHAMPION)
    assert version is not None
    await produce_events(stack, topics.NLP_ANALYSES, shifted_answers(MIN_PREDICTIONS + 100))

    async def paged() -> list[dict[str, Any]]:
        return [e for e in fake_sentry.events() if e.get("fingerprint") == ["model_drift"]]

    events = await wait_for(paged, timeout_s=90)
    assert events, "model_drift never reached the Sentry endpoint"
    (event,) = events
    assert event["level"] == "error"
    message = event["message"]
    assert f"escalation v{version.version} (escalation-drift-test)" in message
    assert "against its registered reference" in message and "PSI" in message
    assert event["extra"]["value"] > event["extra"]["threshold"] == 0.25


async def test_the_served_versions_accuracy_on_human_labels_is_held_to_its_registered_baseline(
    stack_servers: EmbeddedServers, tmp_path: Path
) -> None:
    """The alerts store reads, per served version, the share of its labelled answers humans agreed with, and
    reports the version that fell furthest below its gold-set accuracy (only with enough labels)."""
    served = [
        ServedReference("nlp", 2, "heads-1", {}, baseline_intent_accuracy=0.85),
        ServedReference("escalation", 3, "esc-1", {}, baseline_intent_accuracy=0.90),
    ]
    now = datetime.now(UTC)
    async with scratch_settings(stack_servers, tmp_path / "data") as settings:
        assert settings.database_url
        connection = await asyncpg.connect(settings.database_url)
        try:
            seeder = Seeder(connection)

            async def answered(path: str, versions: dict[str, str], count: int, correct: int) -> None:
                for i in range(count):
                    message, conversation = uuid.uuid4(), uuid.uuid4()
                    analysis = {"path": path, "intent": "booking_inquiry", "model_versions": versions}
                    await connection.execute(
                        "INSERT INTO predictions (analysis_event_id, message_event_id, conversation_id, occurred_at,"
                        " analysis) VALUES ($1, $2, $3, $4, $5::jsonb)",
                        uuid.uuid4(), message, conversation, now, json.dumps(analysis),
                    )  # fmt: skip
                    label = "booking_inquiry" if i < correct else "complaint"
                    await seeder.label(message, conversation, "intent", label, "ana", now)

            # nlp v2: 60 labelled, 48 right (0.80, 5 points under); escalation v3: 60 labelled, 42 right (0.70,
            # 20 under); answers of other versions and too few labels do not count.
            await answered("fast", {"registered": "nlp/v2"}, 60, 48)
            await answered("ml", {"escalation": "esc-1/v3"}, 60, 42)
            await answered("ml", {"escalation": "esc-1/v2"}, 80, 0)
            store = PostgresAlertTransaction(connection, references=lambda: _served(served))
            observed = await store.observations(now)
            assert observed.accuracy == pytest.approx(0.70)
            assert observed.baseline_accuracy == 0.90
            assert observed.accuracy_model == "escalation v3 (esc-1)"

            few = [ServedReference("nlp", 9, "heads-9", {}, baseline_intent_accuracy=0.85)]
            await answered("fast", {"registered": "nlp/v9"}, MIN_LABELS_FOR_ACCURACY - 1, 0)
            store = PostgresAlertTransaction(connection, references=lambda: _served(few))
            assert (await store.observations(now)).accuracy is None
        finally:
            await connection.close()


async def _served(references: list[ServedReference]) -> list[ServedReference]:
    return references
