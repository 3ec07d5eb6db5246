"""The registry against the real servers: its PostgreSQL store keeps to a schema of its own, running nlp and
escalation workers serve a promoted champion without a restart, and a champion/challenger experiment serves
each customer its variant's versions and promotes the challenger only once it has won."""

from __future__ import annotations

import json
import random
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from schemas import topics
from services.common.experiments import Experiment
from services.common.registry import CHAMPION, ModelRegistry
from shared.embedded import EmbeddedServers
from shared.settings import Settings
from tests.operations.helpers import scratch_database
from tests.stack.analytics_helpers import read_topic, teppan, teppan_command, teppan_json
from tests.stack.helpers import WorkerProcesses, chat_message, produce_events, wait_for, wait_until_caught_up

pytestmark = pytest.mark.stack

GOLD = {"gold_intent_accuracy": 0.8, "gold_tone_macro_f1": 0.6}


async def test_the_registry_keeps_its_tables_in_its_own_postgres_schema(
    stack_servers: EmbeddedServers, tmp_path: Path, escalation_model_dir: Path
) -> None:
    assert stack_servers.database_url
    async with scratch_database(stack_servers.database_url, migrated=True) as url:
        registry = ModelRegistry(url, (tmp_path / "artifacts").as_uri(), tmp_path / "cache")
        version = registry.register(
            "escalation", escalation_model_dir, metrics=GOLD, params={}, lineage={"a": 1}, model_version="tiny"
        )
        connection = await asyncpg.connect(url)
        try:
            schemas = {
                row["table_name"]: row["table_schema"]
                for row in await connection.fetch(
                    "SELECT table_schema, table_name FROM information_schema.tables"
                    " WHERE table_name IN ('registered_models', 'model_versions', 'runs', 'messages')"
                )
            }
        finally:
            await connection.close()
        assert schemas == {
            "registered_models": "mlflow",
            "model_versions": "mlflow",
            "runs": "mlflow",
            "messages": "public",  # the project's own tables stay where they were
        }
        # Another client (another worker) sees the same version, with its alias and figures.
        again = ModelRegistry(url, (tmp_path / "artifacts").as_uri(), tmp_path / "cache2")
        champion = again.by_alias("escalation", CHAMPION)
        assert champion is not None and champion.version == version.version and champion.metrics == GOLD
        assert (again.fetch(champion) / "meta.json").read_bytes() == (escalation_model_dir / "meta.json").read_bytes()


@pytest.fixture
async def registered(
    tmp_path: Path, escalation_model_dir: Path, nlp_artifacts_dir: Path, empty_registry_file: Path
) -> AsyncIterator[dict[str, str]]:
    """Two registered versions of the tiny escalation model and of the test fast path (v1 champion, v2
    challenger) in a registry of the test's own."""
    env = {
        "TEPPAN_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'registry.db'}",
        "TEPPAN_MLFLOW_ARTIFACTS": (tmp_path / "artifacts").as_uri(),
    }
    shutil.copyfile(empty_registry_file, tmp_path / "registry.db")
    registry = ModelRegistry(env["TEPPAN_MLFLOW_TRACKING_URI"], env["TEPPAN_MLFLOW_ARTIFACTS"], tmp_path / "cache")
    for label in ("first", "second"):
        registry.register(
            "escalation", escalation_model_dir, metrics=GOLD, params={}, lineage={}, model_version=label
        )
        registry.register("nlp", nlp_artifacts_dir, metrics=GOLD, params={}, lineage={}, model_version=label)
    yield env


def serving_workers(
    stack: Settings, servers: EmbeddedServers, nlp_dir: Path, escalation_dir: Path, env: dict[str, str]
) -> WorkerProcesses:
    """nlp and escalation workers that send every customer turn down the slow path too, and ask the registry
    twice a second."""
    return WorkerProcesses(
        stack,
        servers,
        ("nlp", "escalation"),
        TEPPAN_NLP_ARTIFACTS_DIR=str(nlp_dir),
        TEPPAN_ESCALATION_MODEL_DIR=str(escalation_dir),
        TEPPAN_ESCALATION_THRESHOLD="1",  # every customer turn takes the slow path
        TEPPAN_MODEL_REFRESH_S="0.5",
        **env,
    )


async def labels_of_a_new_turn(settings: Settings, db: asyncpg.Pool) -> tuple[str, str]:
    """Sends one customer turn; returns the registered fast path its analysis names and the escalation model
    version its ML analysis names."""
    message = chat_message(str(uuid.uuid4()), 0, text="we were thinking something fun for my mom's 70th, 25 ppl")
    await produce_events(settings, topics.CHAT_MESSAGES, [message])

    async def analysed() -> bool:
        row = await db.fetchval(
            "SELECT 1 FROM message_analyses WHERE message_event_id = $1 AND path = 'ml'", uuid.UUID(message["event_id"])
        )
        return row is not None

    assert await wait_for(analysed, timeout_s=60, interval_s=0.2), "no ML analysis within 60 s"
    found = await read_topic(
        settings, topics.NLP_ANALYSES, lambda e: e.get("message_event_id") == message["event_id"]
    )
    by_path = {event["path"]: event["model_versions"] for event in (json.loads(value) for _, value in found)}
    return str(by_path["fast"].get("registered")), str(by_path["ml"]["escalation"])


async def test_a_running_worker_serves_a_promoted_champion_without_a_restart(
    stack: Settings,
    stack_servers: EmbeddedServers,
    db: asyncpg.Pool,
    pipeline: WorkerProcesses,
    nlp_artifacts_dir: Path,
    escalation_model_dir: Path,
    registered: dict[str, str],
) -> None:
    workers = serving_workers(stack, stack_servers, nlp_artifacts_dir, escalation_model_dir, registered)
    built = json.loads((escalation_model_dir / "meta.json").read_text())["model_version"]
    for kind in workers.kinds:
        await workers.start(kind)
    try:
        # The label is the model's own version and the registered version it was served as.
        assert await labels_of_a_new_turn(stack, db) == ("nlp/v1", f"{built}/v1")
        await teppan(stack, "ml", "promote", "escalation", "--version", "2", **registered)
        await teppan(stack, "ml", "promote", "nlp", "--version", "2", **registered)
        labels = []
        for _ in range(20):
            labels.append(await labels_of_a_new_turn(stack, db))
            if labels[-1] == ("nlp/v2", f"{built}/v2"):
                break
        assert labels[-1] == ("nlp/v2", f"{built}/v2"), labels
        # The same processes: no restart.
        assert all(process.returncode is None for process in workers.processes.values())
    finally:
        await workers.stop_all()


CUSTOMERS = 40


def model_experiment(name: str) -> Experiment:
    return Experiment(
        name=name,
        unit="customer_id",
        variants=(("champion", 0.5), ("challenger", 0.5)),
        control="champion",
        start=datetime(2026, 11, 1, tzinfo=UTC),
        models=("nlp", "escalation"),
    )


def turn_of(customer_id: int, experiment: Experiment, at: datetime) -> dict[str, Any]:
    """A customer's first turn as ingest would stamp it (produced straight onto chat.turns.v1, so the test's
    own experiment is stamped without a second ingest)."""
    message = chat_message(str(uuid.uuid4()), 0, customer_id=customer_id, occurred_at=at.isoformat(),
                           text="hey can u do hibachi for my moms bday, like 25 ppl?")  # fmt: skip
    variant = experiment.assign(experiment.unit_id(str(customer_id), message["conversation_id"]))
    return {**message, "event_type": "chat.turn", "turn_index": 0, "experiments": {experiment.name: variant}}


def event_about(turn: dict[str, Any], event_type: str, **fields: Any) -> dict[str, Any]:
    """An event of `event_type` in the turn's conversation, from its customer."""
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "conversation_id": turn["conversation_id"],
        "customer_id": turn["customer_id"],
        "source": "test",
        **fields,
    }


async def test_a_model_experiment_serves_each_customer_its_variants_versions_and_promotes_the_winner(
    stack: Settings,
    stack_servers: EmbeddedServers,
    db: asyncpg.Pool,
    pipeline: WorkerProcesses,
    analytics: WorkerProcesses,
    nlp_artifacts_dir: Path,
    escalation_model_dir: Path,
    registered: dict[str, str],
    tmp_path: Path,
) -> None:
    experiment = model_experiment(f"models_ab_{uuid.uuid4().hex[:8]}")
    experiments_file = tmp_path / "experiments.yaml"
    experiments_file.write_text(
        f"experiments:\n  - name: {experiment.name}\n    unit: customer_id\n    models: [nlp, escalation]\n"
        "    control: champion\n    variants: {champion: 0.5, challenger: 0.5}\n    start: 2026-11-01\n"
    )
    env = {**registered, "TEPPAN_EXPERIMENTS_FILE": str(experiments_file)}
    workers = serving_workers(stack, stack_servers, nlp_artifacts_dir, escalation_model_dir, env)
    built = json.loads((escalation_model_dir / "meta.json").read_text())["model_version"]
    base = random.Random().randint(10**6, 10**9)
    now = datetime.now(UTC)
    turns = [turn_of(base + i, experiment, now + timedelta(milliseconds=i)) for i in range(CUSTOMERS)]
    variant_of = {turn["event_id"]: turn["experiments"][experiment.name] for turn in turns}
    assert set(variant_of.values()) == {"champion", "challenger"}
    for kind in workers.kinds:
        await workers.start(kind)
    try:
        await produce_events(stack, topics.CHAT_TURNS, turns)

        async def all_analysed() -> bool:
            count = await db.fetchval(
                "SELECT count(*) FROM message_analyses WHERE message_event_id = ANY($1::uuid[]) AND path = 'ml'",
                list(variant_of),
            )
            return bool(count == CUSTOMERS)

        assert await wait_for(all_analysed, timeout_s=90, interval_s=0.3), "not every turn got its ML analysis"
        found = await read_topic(stack, topics.NLP_ANALYSES, lambda e: e.get("message_event_id") in variant_of)
        served: dict[tuple[str, str], set[str]] = {}
        for event in (json.loads(value) for _, value in found):
            variant = variant_of[event["message_event_id"]]
            label = event["model_versions"]["registered" if event["path"] == "fast" else "escalation"]
            served.setdefault((variant, event["path"]), set()).add(label)
        # Sticky per customer, and each variant's alias answered it, on both paths.
        assert served == {
            ("champion", "fast"): {"nlp/v1"},
            ("challenger", "fast"): {"nlp/v2"},
            ("champion", "ml"): {f"{built}/v1"},
            ("challenger", "ml"): {f"{built}/v2"},
        }

        # Humans label every turn's intent; the report compares the variants' accuracy on those labels.
        labels = [
            event_about(turn, "label", message_event_id=turn["event_id"], field="intent", value="booking_inquiry",
                        labeller="test")
            for turn in turns
        ]  # fmt: skip
        await produce_events(stack, topics.LABELS, labels)
        await wait_until_caught_up(stack, ("metrics",), timeout_s=60)

        # Before any outcome the challenger has not won: nothing is promoted.
        status, _, err = await teppan_command(stack, "ml", "promote", "nlp", "--from-experiment", experiment.name, **env)
        assert status == 1 and "has not won" in err, err

        # Nearly every challenger customer books; few of the champion's do.
        challenger_turns = [turn for turn in turns if variant_of[turn["event_id"]] == "challenger"]
        champion_turns = [turn for turn in turns if variant_of[turn["event_id"]] == "champion"]
        bookers = challenger_turns + champion_turns[:1]
        outcomes = [
            event_about(turn, "booking.outcome", booked=True, booking_id=f"BK{turn['customer_id']}",
                        total_value=900.0, offered_upsells=[], accepted_upsells=[])
            for turn in bookers
        ]  # fmt: skip
        await produce_events(stack, topics.CHAT_OUTCOMES, outcomes)
        await wait_until_caught_up(stack, ("ingest", "logger"), timeout_s=60)

        report = await teppan_json(stack, "experiments", "report", experiment.name, **env)
        variants = report["variants"]
        assert variants["challenger"]["n"] == len(challenger_turns)
        assert variants["challenger"]["conversions"] == len(challenger_turns)
        assert variants["champion"]["conversions"] == 1
        for name, mine in (("champion", champion_turns), ("challenger", challenger_turns)):
            assert variants[name]["label_accuracy"]["intent"]["labelled"] == len(mine)
        assert report["comparisons"]["challenger"]["chance_to_beat_control"] >= 0.95

        out = await teppan(stack, "ml", "promote", "nlp", "--from-experiment", experiment.name, **env)
        assert "won" in out and "nlp v2 is now the champion" in out
        await teppan(stack, "ml", "promote", "escalation", "--from-experiment", experiment.name, **env)
        # Every other customer now gets v2 as well (a turn outside the experiment), from the same processes.
        labels_seen = []
        for _ in range(20):
            labels_seen.append(await labels_of_a_new_turn(stack, db))
            if labels_seen[-1] == ("nlp/v2", f"{built}/v2"):
                break
        assert labels_seen[-1] == ("nlp/v2", f"{built}/v2"), labels_seen
        assert all(process.returncode is None for process in workers.processes.values())
    finally:
        await workers.stop_all()
