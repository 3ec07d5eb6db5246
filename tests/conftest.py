"""Test setup: a real Kafka-protocol broker, and real PostgreSQL and Redis.

Each is started from its embedded wheel (Tansu, PostgreSQL, Redis) on a bare machine, or is an existing
server when `TEST_KAFKA_BOOTSTRAP_SERVERS` / `TEST_DATABASE_URL` / `TEST_REDIS_URL` are set. Fixtures
that need them are marked `stack` in the tests.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.db import create_pool, migrate_database
from shared.embedded import EmbeddedServers, start_missing
from shared.kafka import create_topics
from shared.settings import Settings
from tests.analytics.paging.fake_sentry import FakeSentry
from tests.prebuilt import BACKGROUND_FIXTURES, PrebuiltModels, build
from tests.stack.helpers import (
    WorkerProcesses,
    produce_chat_messages,
    wait_until_caught_up,
    wait_until_logged,
)

# A consumer group hands a killed worker's partitions on once its session times out, and every test that
# kills a worker waits that out: 3 s instead of aiokafka's 10 s took about two minutes off the suite. Tansu,
# which the tests start, accepts it; a real Apache Kafka refuses less than 6 s, so it keeps the default.
TANSU_SESSION_TIMEOUT_MS = "3000"
# The child process training the session's NLP artefacts (see `tests.prebuilt`), once collection started it.
PREBUILT = pytest.StashKey[PrebuiltModels]()


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS"):
        os.environ.setdefault("TEPPAN_KAFKA_SESSION_TIMEOUT_MS", TANSU_SESSION_TIMEOUT_MS)


@pytest.fixture(scope="session")
def stack_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServers]:
    data_dir = tmp_path_factory.mktemp("teppan-stack")
    servers = start_missing(
        data_dir,
        # A fresh Tansu per run by default (memory-only topics); a real Apache Kafka when this is set.
        kafka=os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS"),
        database=os.environ.get("TEST_DATABASE_URL"),
        redis=os.environ.get("TEST_REDIS_URL"),
    )
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def stack_settings(stack_servers: EmbeddedServers, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        KAFKA_BOOTSTRAP_SERVERS=stack_servers.kafka_bootstrap_servers,
        DATABASE_URL=stack_servers.database_url,
        REDIS_URL=stack_servers.redis_url,
        TEPPAN_DATA_DIR=tmp_path_factory.mktemp("teppan-data"),
    )


@pytest.fixture(scope="session")
async def stack(stack_settings: Settings) -> Settings:
    await create_topics(stack_settings)
    await migrate_database(stack_settings)
    return stack_settings


@pytest.fixture(scope="session")
async def db(stack: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(stack, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def pipeline(
    stack: Settings, stack_servers: EmbeddedServers, db: asyncpg.Pool
) -> AsyncIterator[WorkerProcesses]:
    workers = WorkerProcesses(stack, stack_servers, ("ingest", "logger"))
    for kind in workers.kinds:
        await workers.start(kind)
    try:
        # Warm-up: the first batch waits for both consumer groups to join.
        conversation = str(uuid.uuid4())
        events = await produce_chat_messages(stack, [conversation], per_conversation=2)
        await wait_until_logged(db, [event["event_id"] for event in events], timeout_s=120)
        yield workers
    finally:
        await workers.stop_all()


# The analytics worker kinds (issue 4), started beside the pipeline's ingest and logger.
ANALYTICS_KINDS = ("edge-cases", "metrics", "alerts", "alerting")


@pytest.fixture(scope="session")
def fake_sentry() -> Iterator[FakeSentry]:
    """A real local HTTP endpoint standing in for Sentry; the alerting worker's SENTRY_DSN points at it."""
    server = FakeSentry()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def empty_registry_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty model registry's SQLite file, created once by the registry itself (MLflow runs its fifty-odd
    schema migrations, about two seconds); a test that needs a new registry starts from a copy of it."""
    from services.common.registry import CHAMPION, ModelRegistry, store_uri

    directory = tmp_path_factory.mktemp("empty-registry")
    registry = ModelRegistry.from_settings(Settings(TEPPAN_DATA_DIR=directory))
    assert registry.by_alias("escalation", CHAMPION) is None
    return Path(store_uri(registry.tracking_uri).removeprefix("sqlite:///"))


@pytest.fixture(scope="session")
def analytics_registry(tmp_path_factory: pytest.TempPathFactory, empty_registry_file: Path) -> dict[str, str]:
    """The model registry the analytics workers watch (the drift check reads served models' references from
    it), as environment variables; empty until a test registers a model, and read every second."""
    folder = tmp_path_factory.mktemp("analytics-registry")
    shutil.copyfile(empty_registry_file, folder / "registry.db")
    return {
        "TEPPAN_MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'registry.db'}",
        "TEPPAN_MLFLOW_ARTIFACTS": (folder / "artifacts").as_uri(),
        "TEPPAN_MODEL_REFRESH_S": "1",
    }


@pytest.fixture(scope="session")
async def analytics(
    stack: Settings,
    stack_servers: EmbeddedServers,
    pipeline: WorkerProcesses,
    fake_sentry: FakeSentry,
    analytics_registry: dict[str, str],
) -> AsyncIterator[WorkerProcesses]:
    workers = WorkerProcesses(stack, stack_servers, ANALYTICS_KINDS)
    workers.env["SENTRY_DSN"] = fake_sentry.dsn
    workers.env.update(analytics_registry)
    for kind in workers.kinds:
        await workers.start(kind)
    try:
        # Whatever earlier tests left on the topics is counted before any analytics test looks.
        await wait_until_caught_up(stack, ANALYTICS_KINDS, timeout_s=120)
        yield workers
    finally:
        await workers.stop_all()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Starts training the NLP artefacts in a child process (`tests.prebuilt`) when a selected test needs them."""
    if session.config.option.collectonly:
        return
    needed = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    kinds = [kind for kind, fixture in BACKGROUND_FIXTURES.items() if fixture in needed]
    if kinds:
        session.config.stash[PREBUILT] = PrebuiltModels(kinds)


def pytest_sessionfinish(session: pytest.Session) -> None:
    prebuilt = session.config.stash.get(PREBUILT, None)
    if prebuilt is not None:
        prebuilt.close()


def prebuilt_model(config: pytest.Config, kind: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model the child process built; built here when it is not built in the background, or no selected
    test announced it at collection."""
    prebuilt = config.stash.get(PREBUILT, None)
    if prebuilt is not None and kind in prebuilt.kinds:
        return prebuilt.wait_for(kind)
    target = tmp_path_factory.mktemp(f"{kind}-model")
    build(kind, target)
    return target


@pytest.fixture(scope="session")
def nlp_artifacts_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small NLP artefacts (domain data only) for worker tests; reuses a distilled embedding model if cached."""
    return prebuilt_model(request.config, "nlp", tmp_path_factory)


@pytest.fixture(scope="session")
def escalation_model_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny escalation model (the encoder cut to one layer, a few hundred rows, one pass): trains in
    seconds, exports ONNX int8 too, and behaves like the real one everywhere but in accuracy."""
    return prebuilt_model(request.config, "escalation", tmp_path_factory)


# Module scope: the NLP worker must not analyse other modules' messages, which expect no analysis.
@pytest.fixture(scope="module")
async def nlp_worker(
    stack: Settings, stack_servers: EmbeddedServers, pipeline: WorkerProcesses, nlp_artifacts_dir: Path
) -> AsyncIterator[WorkerProcesses]:
    workers = WorkerProcesses(stack, stack_servers, ("nlp",), TEPPAN_NLP_ARTIFACTS_DIR=str(nlp_artifacts_dir))
    await workers.start("nlp")
    try:
        yield workers
    finally:
        await workers.stop_all()
