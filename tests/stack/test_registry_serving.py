"""The registry against the real servers: its PostgreSQL store keeps to a schema of its own, and running nlp
and escalation workers serve a promoted champion without a restart. (A champion/challenger experiment on live
traffic, promoted only once the challenger has won, is the learning loop's end-to-end test.)"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from schemas import topics
from services.common.registry import CHAMPION, ModelRegistry
from shared.embedded import EmbeddedServers
from shared.settings import Settings
from tests.operations.helpers import scratch_database
from tests.stack.analytics_helpers import read_topic, teppan
from tests.stack.helpers import WorkerProcesses, chat_message, produce_events, wait_for

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
