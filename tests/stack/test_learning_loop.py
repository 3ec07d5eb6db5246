"""Collected data in, registered models out: build a dataset from what the database holds, train the upsell
and the escalation model on it through the CLI, and find both registered with the dataset as lineage.

A scratch database of its own holds 80 conversations of one week: customers with a party size and a date,
some with human tone and intent labels, each ending in an outcome that offered upsells (large parties
take the lobster, customers who ask for dumplings take the gyoza).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.embedded import EmbeddedServers
from shared.settings import Settings
from tests.operations.helpers import scratch_settings
from tests.stack.analytics_helpers import teppan, teppan_command
from tests.stack.dataset_helpers import Seeder, at

pytestmark = pytest.mark.stack

CONVERSATIONS = 80
LABELLED_EVERY = 4


@pytest.fixture
async def settings(stack_servers: EmbeddedServers, tmp_path: Path) -> AsyncIterator[Settings]:
    async with scratch_settings(stack_servers, tmp_path / "data") as settings:
        yield settings


async def seed_week(url: str) -> int:
    """The week's conversations; returns how many human tone labels were written."""
    rng = random.Random(11)
    connection = await asyncpg.connect(url)
    seeder = Seeder(connection)
    labelled = 0
    try:
        for i in range(CONVERSATIONS):
            conversation, start = uuid.uuid4(), at("2026-06-01T10:00:00") + timedelta(minutes=90 * i)
            party = rng.choice([8, 12, 20, 35, 50, 60])
            wants_dumplings = rng.random() < 0.4
            text = f"hi! we're {party} people on july 12th" + (", any dumplings?" if wants_dumplings else "")
            message = await seeder.message(conversation, 0, start, text, customer_id=1000 + i)
            await seeder.message(conversation, 1, start + timedelta(minutes=1), "Lovely! Lobster?", role="ai")
            await seeder.analysis(
                message,
                conversation,
                start,
                path="fast",
                tone="casual",
                intent="booking_inquiry",
                confidence=0.9,
                entities={
                    "party_size": {"text": str(party), "value": party},
                    "date": {"text": "july 12th", "value": "2026-07-12"},
                },
            )
            if i % LABELLED_EVERY == 0:
                await seeder.label(message, conversation, "tone", "warm", "ana", start + timedelta(hours=1))
                await seeder.label(
                    message, conversation, "intent", "booking_inquiry", "ana", start + timedelta(hours=1)
                )
                labelled += 1
            accepted = [item for item, takes in (("lobster", party >= 35), ("gyoza", wants_dumplings)) if takes]
            await seeder.outcome(
                conversation,
                start + timedelta(minutes=30),
                booked=True,
                offered=["lobster", "gyoza", "sake_bar"],
                accepted=accepted,
                customer_id=1000 + i,
                total_value=f"{party * 60}.00",
            )
    finally:
        await connection.close()
    return labelled


async def printed_json(settings: Settings, *args: str) -> dict[str, Any]:
    """A command that prints its JSON report on stdout (progress goes to stderr)."""
    document: dict[str, Any] = json.loads(await teppan(settings, *args))
    return document


async def test_a_dataset_built_from_the_database_trains_and_registers_both_models(
    settings: Settings, tmp_path: Path
) -> None:
    assert settings.database_url
    labelled = await seed_week(settings.database_url)
    dataset = tmp_path / "dataset"
    manifest = await printed_json(
        settings, "ml", "dataset", "build", "--since", "2026-06-01T00:00Z", "--until", "2026-06-08T00:00Z",
        "--out", str(dataset),
    )  # fmt: skip
    assert manifest["files"]["tone.jsonl"]["rows"] == labelled
    assert manifest["files"]["upsell.jsonl"]["rows"] == CONVERSATIONS

    upsell = await printed_json(settings, "ml", "train", "upsell", "--dataset", str(dataset))
    assert upsell["registered"]["aliases"] == ["champion"]
    assert upsell["registered"]["lineage"]["sha256"] == manifest["sha256"]
    figures = upsell["held_out"]
    assert figures["model"]["auc"] > figures["popularity_baseline"]["auc"]

    escalation = await printed_json(
        settings, "ml", "train", "escalation", "--dataset", str(dataset), "--domain-only", "--layers", "1",
        "--max-rows", "400", "--epochs", "1",
    )  # fmt: skip
    assert escalation["data"]["dataset"]["sha256"] == manifest["sha256"]
    assert escalation["model_version"].endswith(f"+collected-{manifest['sha256'][:8]}")
    assert escalation["registered"]["lineage"]["dataset"]["sha256"] == manifest["sha256"]

    listed = json.loads(
        (await teppan_command(settings, "ml", "registry", "list", "--json"))[1]
    )
    assert sorted((v["name"], v["version"], tuple(v["aliases"])) for v in listed) == [
        ("escalation", 1, ("champion",)),
        ("upsell", 1, ("champion",)),
    ]

    # A dataset changed after it was built is refused, not silently trained on.
    with (dataset / "upsell.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("{}\n")
    status, _, err = await teppan_command(settings, "ml", "train", "upsell", "--dataset", str(dataset))
    assert status == 2 and "does not match its manifest" in err
