"""`teppan up` as a user runs it: embedded servers, workers, stack.env, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from schemas.workers import WORKER_KINDS
from services.devtools.bench_faults import Stack
from shared.embedded import free_port
from shared.settings import Settings
from tests.stack.helpers import (
    chat_message,
    produce_chat_messages,
    produce_events,
    wait_for,
    wait_until_logged,
)

pytestmark = pytest.mark.stack


def up_environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "REDIS_URL")
    }
    env.update(TEPPAN_DATA_DIR=str(data_dir), TEPPAN_HTTP_PORT=str(free_port()), TEPPAN_LOG_LEVEL="WARNING")
    env.update(extra)
    return env


def every_kind_environment(
    data_dir: Path, nlp_artifacts_dir: Path, escalation_model_dir: Path
) -> dict[str, str]:
    """With both models built, so that `teppan up` starts every worker kind, the escalation worker included."""
    return up_environment(
        data_dir,
        TEPPAN_NLP_ARTIFACTS_DIR=str(nlp_artifacts_dir),
        TEPPAN_ESCALATION_MODEL_DIR=str(escalation_model_dir),
    )


def pid_of(stack: Stack) -> int:
    assert stack.process is not None
    return stack.process.pid


async def test_up_serves_other_programs_restarts_every_killed_worker_and_stops_cleanly(
    tmp_path: Path, nlp_artifacts_dir: Path, escalation_model_dir: Path
) -> None:
    """One `teppan up` with every worker kind (each start costs some 20 s of CPU, so one serves three checks):
    another program finds and uses it through stack.env; each kind killed with SIGKILL comes back within
    seconds and the stack keeps working; SIGTERM stops it with nothing left behind."""
    up = Stack(tmp_path, every_kind_environment(tmp_path, nlp_artifacts_dir, escalation_model_dir))
    stack_env = tmp_path / "stack.env"
    descendants: list[psutil.Process] = []
    try:
        await up.start()
        urls = up.urls
        assert set(urls) == {
            "KAFKA_BOOTSTRAP_SERVERS",
            "DATABASE_URL",
            "REDIS_URL",
            "HTTP_URL",
            "TEPPAN_STACK_PID",
            "TEPPAN_STACK_PID_STARTED",
        }
        settings = Settings(KAFKA_BOOTSTRAP_SERVERS=urls["KAFKA_BOOTSTRAP_SERVERS"])
        pool = await asyncpg.create_pool(urls["DATABASE_URL"], min_size=1, max_size=2)
        assert pool is not None
        try:
            # Another program finds the stack through stack.env alone.
            conversations = [str(uuid.uuid4()) for _ in range(5)]
            events = await produce_chat_messages(settings, conversations, per_conversation=4)
            await wait_until_logged(pool, [event["event_id"] for event in events], timeout_s=120)

            async def logged_conversations() -> bool:
                count = await pool.fetchval(
                    "SELECT count(*) FROM conversation_logs WHERE id = ANY($1::uuid[])", conversations
                )
                return count == len(conversations)

            assert await wait_for(logged_conversations)

            async def healthy() -> bool:
                try:
                    async with httpx.AsyncClient() as client:
                        return (await client.get(urls["HTTP_URL"] + "/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            assert await wait_for(healthy, timeout_s=30)

            for kind in WORKER_KINDS:

                async def running(kind: str = kind) -> psutil.Process | None:
                    return up.worker(kind)

                victim = await wait_for(running, timeout_s=30)
                assert victim is not None, f"no {kind} worker under teppan up"
                victim.kill()
                started = time.monotonic()

                async def replaced(kind: str = kind, old: int = victim.pid) -> bool:
                    current = up.worker(kind)
                    return current is not None and current.pid != old

                assert await wait_for(replaced, timeout_s=15), f"{kind} was not restarted"
                assert time.monotonic() - started < 10
                assert up.process is not None and up.process.returncode is None, (
                    f"teppan up died when {kind} was killed"
                )

            # Still a working pipeline after every kind was killed.
            events = await produce_chat_messages(
                settings, [str(uuid.uuid4()) for _ in range(5)], per_conversation=4
            )
            await wait_until_logged(pool, [event["event_id"] for event in events], timeout_s=120)
        finally:
            await pool.close()
        descendants = psutil.Process(pid_of(up)).children(recursive=True)
    finally:
        code = await up.stop()

    assert code == 0
    assert not stack_env.exists()
    # The embedded PostgreSQL daemonises (it is not a descendant), so check that it really stopped.
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await asyncpg.connect(urls["DATABASE_URL"], timeout=5)
    survivors = [
        process
        for process in descendants
        if process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    ]
    assert not survivors, f"orphans left behind: {[p.cmdline() for p in survivors]}"


async def test_up_after_an_unclean_stop_starts_fresh_and_turn_numbers_continue(
    tmp_path: Path, nlp_artifacts_dir: Path
) -> None:
    """SIGKILL `teppan up` itself: the next start recognises its stale stack.env, stops the leftovers,
    starts its own servers, and Redis' persisted counters keep a continued conversation's turn numbers going."""
    conversation = str(uuid.uuid4())
    env = up_environment(tmp_path, TEPPAN_NLP_ARTIFACTS_DIR=str(nlp_artifacts_dir))
    up = Stack(tmp_path, env)
    leftovers: list[psutil.Process] = []
    try:
        await up.start()
        urls = up.urls
        first = [chat_message(conversation, index) for index in range(3)]
        await produce_events(
            Settings(KAFKA_BOOTSTRAP_SERVERS=urls["KAFKA_BOOTSTRAP_SERVERS"]), "chat.messages.v1", first
        )
        pool = await asyncpg.create_pool(urls["DATABASE_URL"], min_size=1, max_size=1)
        assert pool is not None
        try:
            await wait_until_logged(pool, [event["event_id"] for event in first], timeout_s=120)
        finally:
            await pool.close()
        leftovers = psutil.Process(pid_of(up)).children(recursive=True)
    finally:
        assert up.process is not None
        up.process.kill()
        await up.process.wait()
    assert (tmp_path / "stack.env").exists(), "an unclean stop leaves stack.env behind"

    again = Stack(tmp_path, env)
    try:
        await again.start()
        urls_again = again.urls
        assert urls_again["KAFKA_BOOTSTRAP_SERVERS"] != urls["KAFKA_BOOTSTRAP_SERVERS"]
        assert not [p for p in leftovers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        later = [chat_message(conversation, index) for index in range(3, 5)]
        await produce_events(
            Settings(KAFKA_BOOTSTRAP_SERVERS=urls_again["KAFKA_BOOTSTRAP_SERVERS"]), "chat.messages.v1", later
        )
        pool = await asyncpg.create_pool(urls_again["DATABASE_URL"], min_size=1, max_size=1)
        assert pool is not None
        try:
            await wait_until_logged(pool, [event["event_id"] for event in later], timeout_s=120)
            turns = await pool.fetch(
                "SELECT turn_index FROM messages WHERE conversation_id = $1 ORDER BY turn_index",
                uuid.UUID(conversation),
            )
        finally:
            await pool.close()
        assert [row["turn_index"] for row in turns] == [0, 1, 2, 3, 4]
    finally:
        assert await again.stop() == 0
    assert not (tmp_path / "stack.env").exists()
