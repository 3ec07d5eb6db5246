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
from typing import Any

import asyncpg
import hypothesis
import pytest

from shared.db import create_pool, migrate_database
from shared.embedded import EmbeddedServers, start_missing
from shared.kafka import create_topics
from shared.settings import Settings
from tests.analytics.paging.fake_sentry import FakeSentry
from tests.prebuilt import BACKGROUND_FIXTURES, ROOT_ENV, SharedModels, make_run_root, remove_run_root
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
# The tests' stacks idle between tests with their latency-path workers polling Tansu every 20 ms, about a
# third of a core; the suite is CPU-bound on 2 cores, so they poll less often, at some latency per hop
# (TEPPAN_KAFKA_FETCH_WAIT_MS, when set, still wins).
TEST_FETCH_WAIT_MS = "100"
# The test run's models (see `tests.prebuilt`): the folder, in the process that made it, and this process's
# view of it.
RUN_ROOT = pytest.StashKey[Path]()
MODELS = pytest.StashKey[SharedModels]()
# `pytest -n 2 --lanes` runs the suite in two pytest-xdist workers (README, Tests), and puts each test module in
# one of two lanes, one per worker (`LaneScheduling` below). The first lane holds every module that uses the
# session's stack (its workers, topics and tables), in the order a serial run gives them: several of them read
# what earlier modules left there (the last hour's analyses, the analytics windows), so they keep the same
# predecessors as in a serial run. The second lane holds the modules that need no stack, or start their own
# (`teppan up`), and the last stack modules of a serial run, which no first-lane module follows; it runs its
# modules that need no model first. The split gives the lanes about the same time on a 2-core machine.
SECOND_LANE = (
    "tests/architecture/",
    "tests/demo/",
    "tests/deploy/",
    "tests/faults/",
    "tests/ml/",
    "tests/nlp/",
    "tests/operations/",
    "tests/unit/",
    "tests/stack/test_up.py",
    "tests/stack/test_poison_records.py",
    "tests/stack/test_registry_serving.py",
    "tests/stack/test_replay.py",
    "tests/stack/test_weekly_reports.py",
)
LANES_ENV = "TEPPAN_TEST_LANES"
MODEL_FIXTURES = ("nlp_artifacts_dir", "escalation_model_dir")


# Under CI (`.ci/run` sets CI) the property tests draw the same examples on every run, so that a landing is
# judged on what the change did and not on the day's draw; elsewhere each run draws new ones, and what they
# find is fixed and kept as an `@example`.
hypothesis.settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS"):
        os.environ.setdefault("TEPPAN_KAFKA_SESSION_TIMEOUT_MS", TANSU_SESSION_TIMEOUT_MS)
        os.environ.setdefault("TEPPAN_KAFKA_FETCH_WAIT_MS", TEST_FETCH_WAIT_MS)
    # In a plain run, and in xdist's controlling process: the xdist workers, started after this, inherit both.
    if ROOT_ENV not in os.environ:
        config.stash[RUN_ROOT] = make_run_root()
    if config.getoption("lanes", False):
        os.environ[LANES_ENV] = "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lanes",
        action="store_true",
        help="with pytest-xdist (-n 2): run the first lane of modules in one worker and the second in another",
    )


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's scheduler for `--lanes`: every module of a lane is one unit of work, so each worker runs one
    lane in the order collection gives (`pytest_collection_modifyitems`)."""
    if not config.getoption("lanes", False):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return lane_of(nodeid)

    return LaneScheduling(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(RUN_ROOT, None)
    if root is not None:
        remove_run_root(root)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under the lanes, the second lane runs its modules that need no model first, while the run's models are
    built; the first lane keeps the serial run's order."""
    if os.environ.get(LANES_ENV):
        first = [item for item in items if lane_of(item.nodeid) == "first"]
        second = [item for item in items if lane_of(item.nodeid) == "second"]
        # Whole modules move, so that a module's fixtures are still set up once.
        modules_needing_a_model = {
            item.nodeid.split("::")[0]
            for item in second
            if any(name in MODEL_FIXTURES for name in getattr(item, "fixturenames", ()))
        }
        second.sort(key=lambda item: item.nodeid.split("::")[0] in modules_needing_a_model)
        items[:] = first + second


def lane_of(nodeid: str) -> str:
    return "second" if nodeid.startswith(SECOND_LANE) else "first"


def shared_models(config: pytest.Config) -> SharedModels:
    models = config.stash.get(MODELS, None)
    if models is None:
        models = config.stash[MODELS] = SharedModels(Path(os.environ[ROOT_ENV]))
    return models


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
    """Starts training the NLP artefacts in a child process (`tests.prebuilt`) when a selected test needs
    them and no other process of the run has started it."""
    if session.config.option.collectonly:
        return
    needed = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    for kind, fixture in BACKGROUND_FIXTURES.items():
        if fixture in needed:
            shared_models(session.config).start_in_background(kind)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    models = session.config.stash.get(MODELS, None)
    if models is not None:
        models.close(interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)


@pytest.fixture(scope="session")
def nlp_artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """Small NLP artefacts (domain data only, static embeddings from MiniLM's first layer) for worker tests."""
    return shared_models(request.config).get("nlp")


@pytest.fixture(scope="session")
def escalation_model_dir(request: pytest.FixtureRequest) -> Path:
    """A tiny escalation model (the encoder cut to one layer, a few hundred rows, one pass): trains in
    seconds, exports ONNX int8 too, and behaves like the real one everywhere but in accuracy."""
    return shared_models(request.config).get("escalation")


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
