"""model_drift's accuracy half: a served version's accuracy on human labels, read by the alerts store,
against its registered baseline. The distribution half (live answers against the registered reference,
paged at the local Sentry endpoint) runs in test_learning_loop_end_to_end, on a model the loop trained."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from services.analytics.alert_rules.store import (
    MIN_LABELS_FOR_ACCURACY,
    PostgresAlertTransaction,
    ServedReference,
)
from shared.embedded import EmbeddedServers
from tests.operations.helpers import scratch_settings
from tests.stack.dataset_helpers import Seeder

pytestmark = pytest.mark.stack

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
