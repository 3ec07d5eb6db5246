"""`teppan ml dataset build` against a real PostgreSQL (a scratch database of its own, so other tests' rows
do not count): which conversations the range takes, human labels over the model's answers, the customer's
history before an outcome, PII scrubbing, the manifest, and the command itself."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import typer
from typer.testing import CliRunner

from services.ml.dataset_cli import ml_dataset_app
from services.ml.dataset_source import build_dataset
from services.ml.datasets import BuildOptions, DatasetError, parse_time_range, read_dataset
from shared.embedded import EmbeddedServers
from shared.settings import Settings
from tests.operations.helpers import scratch_database
from tests.stack.dataset_helpers import CUSTOMER, Seeder, at

pytestmark = pytest.mark.stack

SINCE, UNTIL = "2026-04-01T00:00:00Z", "2026-04-08T00:00:00Z"


@dataclass(frozen=True)
class Seeded:
    """The ids the expectations name."""

    party: uuid.UUID
    party_first: uuid.UUID
    party_second: uuid.UUID
    quote: uuid.UUID


async def seed(url: str) -> Seeded:
    connection = await asyncpg.connect(url)
    seeder = Seeder(connection)
    try:
        # The party: in the range, two labellers disagree on the first message's tone, the second message's
        # only label is outside the vocabulary.
        party, start = uuid.uuid4(), at("2026-04-02T10:00:00")
        ids = Seeded(
            party,
            await seeder.message(
                party, 0, start, "Hi! Party of 12 on June 20th, mail me at pat.lee@example.com"
            ),
            await seeder.message(party, 2, start + timedelta(minutes=2), "yes please add lobster"),
            uuid.uuid4(),
        )
        await seeder.message(party, 1, start + timedelta(minutes=1), "Lovely! Lobster tail?", role="ai")
        await seeder.analysis(
            ids.party_first,
            party,
            start,
            path="fast",
            tone="casual",
            intent="booking_inquiry",
            confidence=0.95,
            sentiment="positive",
            entities={
                "party_size": {"text": "12", "value": 12},
                "date": {"text": "June 20th", "value": "2026-06-20"},
            },
        )
        await seeder.analysis(
            ids.party_second, party, start, path="ml", tone="casual", intent="menu_question", confidence=0.97
        )
        await seeder.label(ids.party_first, party, "tone", "warm", "ana", start + timedelta(hours=1))
        await seeder.label(ids.party_first, party, "tone", "casual", "ben", start + timedelta(hours=2))
        await seeder.label(
            ids.party_first, party, "intent", "booking_inquiry", "ana", start + timedelta(hours=1)
        )
        await seeder.label(ids.party_second, party, "tone", "grumpy", "ana", start + timedelta(hours=1))
        await seeder.outcome(
            party,
            start + timedelta(minutes=30),
            booked=True,
            offered=["lobster_tail", "sake_pairing"],
            accepted=["lobster_tail"],
            total_value="1800.00",
        )
        # An earlier outcome of the same conversation: neither the one that counts nor history.
        await seeder.outcome(
            party, start + timedelta(minutes=20), booked=True, offered=["x"], accepted=["x"], total_value="10"
        )
        # A message after the outcome: not part of what the upsell row knew.
        await seeder.message(party, 3, start + timedelta(hours=3), "thanks, see you in June")

        # The same customer's history: a booking before (outside the range, still history), an outcome
        # without a booking but with an accepted upsell, one at the very instant of the party's outcome (not
        # before it) and one after.
        earlier, later = uuid.uuid4(), uuid.uuid4()
        await seeder.message(earlier, 0, at("2026-03-20T09:00:00"), "booking again for the office")
        await seeder.outcome(
            earlier, at("2026-03-20T09:30:00"), booked=True, offered=["a", "b"], accepted=["a", "b"]
        )
        not_booked, same_instant = uuid.uuid4(), uuid.uuid4()
        await seeder.message(not_booked, 0, at("2026-03-25T09:00:00"), "just asking")
        await seeder.outcome(
            not_booked, at("2026-03-25T09:30:00"), booked=False, offered=["c"], accepted=["c"]
        )
        await seeder.message(same_instant, 0, at("2026-03-29T09:00:00"), "and another")
        await seeder.outcome(
            same_instant, at("2026-04-02T10:30:00"), booked=True, offered=["d"], accepted=["d"]
        )
        await seeder.message(later, 0, at("2026-05-01T09:00:00"), "one more party")
        await seeder.outcome(later, at("2026-05-01T09:30:00"), booked=True, offered=["a"], accepted=["a"])

        # The quote: starts just before `until`, its outcome comes after it; no customer id, no labels.
        quote, start = ids.quote, at("2026-04-07T23:59:00")
        quote_message = await seeder.message(
            quote, 0, start, "What does it cost? call 415-555-0199", customer_id=None
        )
        await seeder.analysis(
            quote_message,
            quote,
            start,
            path="fast",
            tone="direct",
            intent="pricing_question",
            confidence=0.92,
        )
        await seeder.outcome(
            quote,
            at("2026-04-08T00:30:00"),
            booked=False,
            offered=["sake_pairing"],
            accepted=[],
            customer_id=None,
        )

        # Outside the range: starts at `until`; starts before `since` with a later message in the range.
        # Another customer's, so that their outcomes are nobody's history here.
        for first, second in (
            (at("2026-04-08T00:00:00"), at("2026-04-08T00:05:00")),
            (at("2026-03-31T23:59:00"), at("2026-04-01T00:01:00")),
        ):
            outside = uuid.uuid4()
            message = await seeder.message(outside, 0, first, "not in this dataset", customer_id=99)
            await seeder.message(outside, 1, second, "me neither", customer_id=99)
            await seeder.label(message, outside, "tone", "formal", "ana", second)
            await seeder.outcome(outside, second, booked=True, offered=["x"], accepted=[], customer_id=99)
    finally:
        await connection.close()
    return ids


@pytest.fixture
async def database_url(stack_servers: EmbeddedServers) -> AsyncIterator[str]:
    assert stack_servers.database_url is not None
    async with scratch_database(stack_servers.database_url, migrated=True) as url:
        yield url


def expected_tone_row(ids: Seeded) -> dict[str, Any]:
    return {
        "id": f"collected-{ids.party_first}",
        "source": "teppan_collected",
        "split": "train",
        "text": "Hi! Party of 12 on June 20th, mail me at [email]",
        "intent": None,
        "tone": "casual",
        "entities": {"party_size": None, "date": None, "time": None, "name": None},
        "annotated": {"intent": False, "tone": True, "entities": []},
        "source_labels": {},
        "extra": {
            "label_source": "human",
            "labellers": 2,
            "agreement": 0.5,
            "model_path": "fast",
            "model_confidence": 0.95,
            "sentiment": "positive",
            "sentiment_source": "model",
            "conversation_id": str(ids.party),
            "occurred_at": "2026-04-02T10:00:00.000Z",
        },
    }


def expected_upsell_rows(ids: Seeded) -> list[dict[str, Any]]:
    return [
        {
            "conversation_id": str(ids.party),
            "customer_id": CUSTOMER,
            "occurred_at": "2026-04-02T10:30:00.000Z",
            "booked": True,
            "party_size": 12,
            "event_date": "2026-06-20",
            "month": 6,
            "season": "summer",
            "turns": 3,
            "customer_texts": ["Hi! Party of 12 on June 20th, mail me at [email]", "yes please add lobster"],
            "tones": ["casual", "casual"],
            "customer_previous_bookings": 1,
            "customer_previous_accepted": 3,
            "booking_value": 1800.0,
            "offered": ["lobster_tail", "sake_pairing"],
            "accepted": ["lobster_tail"],
        },
        {
            "conversation_id": str(ids.quote),
            "customer_id": None,
            "occurred_at": "2026-04-08T00:30:00.000Z",
            "booked": False,
            "party_size": None,
            "event_date": None,
            "month": 4,
            "season": "spring",
            "turns": 1,
            "customer_texts": ["What does it cost? call [phone]"],
            "tones": ["direct"],
            "customer_previous_bookings": 0,
            "customer_previous_accepted": 0,
            "booking_value": None,
            "offered": ["sake_pairing"],
            "accepted": [],
        },
    ]


async def test_the_build_joins_messages_labels_analyses_and_outcomes(
    database_url: str, tmp_path: Path
) -> None:
    ids = await seed(database_url)
    out = tmp_path / "dataset"
    manifest = await build_dataset(
        Settings(DATABASE_URL=database_url), parse_time_range(SINCE, UNTIL), out, BuildOptions()
    )

    dataset = read_dataset(out)
    assert dataset.manifest == manifest
    assert dataset.tone_rows() == [expected_tone_row(ids)]
    (intent_row,) = dataset.intent_rows()
    assert (intent_row["id"], intent_row["intent"], intent_row["tone"]) == (
        f"collected-{ids.party_first}",
        "booking_inquiry",
        None,
    )
    assert (intent_row["extra"]["labellers"], intent_row["extra"]["agreement"]) == (1, 1.0)
    assert dataset.upsell_rows() == expected_upsell_rows(ids)
    assert manifest["counts"] == {
        "conversations": 2,
        "customer_messages": 4,
        "human_labels": 4,
        "human_labels_rejected": 1,
        "model_labels_used": 0,
        "outcomes": 2,
        "upsell_rows": 2,
    }
    assert {name: entry["rows"] for name, entry in manifest["files"].items()} == {
        "intent.jsonl": 1,
        "tone.jsonl": 1,
        "upsell.jsonl": 2,
    }
    assert (manifest["since"], manifest["until"], manifest["source"]) == (
        "2026-04-01T00:00:00.000Z",
        "2026-04-08T00:00:00.000Z",
        "db",
    )
    assert manifest["options"] == {"include_model_labels": False, "min_model_confidence": 0.9}


async def test_the_command_builds_with_model_labels_and_refuses_a_used_folder(
    database_url: str, tmp_path: Path
) -> None:
    ids = await seed(database_url)
    app = typer.Typer()
    app.add_typer(ml_dataset_app, name="dataset")
    out = tmp_path / "dataset"
    arguments = ["dataset", "build", "--since", SINCE, "--until", UNTIL, "--out", str(out)]
    env = {"DATABASE_URL": database_url, "TEPPAN_DATA_DIR": str(tmp_path / "data")}

    def run(*extra: str) -> Any:
        # In a thread: the command runs its own event loop, and this test's loop is running.
        return asyncio.to_thread(CliRunner().invoke, app, [*arguments, *extra], env=env)

    result = await run("--include-model-labels", "--min-model-confidence", "0.95")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert "dataset: 2 conversations" in result.stderr
    dataset = read_dataset(out)
    assert dataset.manifest == manifest
    # The human labels stand; the ML path's confident answers fill in the second message (its only human
    # tone label was rejected); the quote's fast-path answers (0.92) are below the floor.
    tones = [(row["id"], row["tone"], row["extra"]["label_source"]) for row in dataset.tone_rows()]
    assert tones == [
        (f"collected-{ids.party_first}", "casual", "human"),
        (f"collected-{ids.party_second}", "casual", "model"),
    ]
    intents = [(row["id"], row["intent"], row["extra"]["label_source"]) for row in dataset.intent_rows()]
    assert intents == [
        (f"collected-{ids.party_first}", "booking_inquiry", "human"),
        (f"collected-{ids.party_second}", "menu_question", "model"),
    ]
    model_row = dataset.intent_rows()[1]
    assert model_row["extra"]["model_path"] == "ml"
    assert model_row["extra"]["model_confidence"] == 0.97
    assert manifest["counts"]["model_labels_used"] == 2
    assert manifest["options"] == {"include_model_labels": True, "min_model_confidence": 0.95}
    assert dataset.upsell_rows() == expected_upsell_rows(ids)

    again = await run()
    assert again.exit_code == 2
    assert "is not empty" in again.stderr and "Traceback" not in again.output


async def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(DatasetError, match="cannot reach PostgreSQL"):
        await build_dataset(settings, parse_time_range(SINCE, UNTIL), tmp_path / "out", BuildOptions())
