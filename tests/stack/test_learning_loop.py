"""Collected data in, registered models out: build a dataset from what the database holds, train the upsell
model on it through the CLI, and find it registered with the dataset as lineage; a running nlp worker then
suggests the registered upsell model's picks. (The escalation and nlp models trained on a built dataset, with
their lineage, are the end-to-end test's: `test_learning_loop_end_to_end.py`.)

A scratch database of its own holds 80 conversations of one week: customers with a party size and a date,
some with human tone and intent labels, each ending in an outcome that offered upsells (large parties
take the lobster, customers who ask for dumplings take the gyoza).
"""

from __future__ import annotations

import json
import random
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from schemas import topics
from shared.embedded import EmbeddedServers
from shared.settings import Settings
from tests.operations.helpers import scratch_settings
from tests.stack.analytics_helpers import read_topic, teppan, teppan_command
from tests.stack.dataset_helpers import Seeder, at
from tests.stack.helpers import WorkerProcesses, chat_message, produce_events, wait_for

pytestmark = pytest.mark.stack

CONVERSATIONS = 80
LABELLED_EVERY = 4


@pytest.fixture
async def settings(
    stack: Settings, stack_servers: EmbeddedServers, tmp_path: Path, empty_registry_file: Path
) -> AsyncIterator[Settings]:
    # `stack`: the broker's topics exist before the nlp worker and the reader use them.
    async with scratch_settings(stack_servers, tmp_path / "data") as settings:
        # The embedded default's registry in the data folder, empty (a copy saves MLflow's migrations).
        (settings.data_dir / "mlflow").mkdir(parents=True)
        shutil.copyfile(empty_registry_file, settings.data_dir / "mlflow" / "registry.db")
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


async def test_a_dataset_built_from_the_database_trains_and_registers_the_upsell_model(
    settings: Settings, tmp_path: Path, stack_servers: EmbeddedServers, nlp_artifacts_dir: Path
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

    listed = json.loads(
        (await teppan_command(settings, "ml", "registry", "list", "--json"))[1]
    )
    assert [(v["name"], v["version"], tuple(v["aliases"])) for v in listed] == [("upsell", 1, ("champion",))]

    # A dataset changed after it was built is refused, not silently trained on.
    with (dataset / "upsell.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("{}\n")
    status, _, err = await teppan_command(settings, "ml", "train", "upsell", "--dataset", str(dataset))
    assert status == 2 and "does not match its manifest" in err

    # The nlp worker serves upsell@champion: a large party is offered the lobster first; a small one is not,
    # nor the gyoza it already asked for; each analysis names the registered version that chose.
    upsell_label = f"{upsell['model_version']}/v1"
    worker = WorkerProcesses(settings, stack_servers, ("nlp",), TEPPAN_NLP_ARTIFACTS_DIR=str(nlp_artifacts_dir))
    await worker.start("nlp")
    try:
        large = turn("hi! we're 60 people on july 12th, can you do it?")
        small = turn("hi! we're 8 people on july 12th, any dumplings?")
        await produce_events(settings, topics.CHAT_TURNS, [large, small])
        wanted = {large["event_id"], small["event_id"]}
        analyses: dict[str, dict[str, Any]] = {}

        async def analysed() -> bool:
            found = await read_topic(settings, topics.NLP_ANALYSES, lambda e: e.get("message_event_id") in wanted)
            analyses.update({e["message_event_id"]: e for e in (json.loads(value) for _, value in found)})
            return len(analyses) == 2

        assert await wait_for(analysed, timeout_s=90, interval_s=0.5), "no analyses from the nlp worker"
    finally:
        await worker.stop_all()
    assert analyses[large["event_id"]]["model_versions"]["upsell"] == upsell_label
    assert analyses[large["event_id"]]["suggested_upsells"][0] == "lobster"
    assert analyses[small["event_id"]]["model_versions"]["upsell"] == upsell_label
    assert not {"lobster", "gyoza"} & set(analyses[small["event_id"]]["suggested_upsells"])


def turn(text: str) -> dict[str, Any]:
    """A customer's first turn as ingest publishes it."""
    message = chat_message(str(uuid.uuid4()), 0, text=text, customer_id=random.randint(10**6, 10**9))
    return {**message, "event_type": "chat.turn", "turn_index": 0}
