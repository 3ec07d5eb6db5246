"""`teppan up` as a user runs it: embedded servers, workers, stack.env, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from shared.embedded import free_port
from shared.settings import Settings
from tests.stack.helpers import produce_chat_messages, wait_for, wait_until_logged

pytestmark = pytest.mark.stack
REPO = Path(__file__).resolve().parents[2]


def read_stack_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


async def test_up_serves_other_programs_and_stops_cleanly(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "REDIS_URL")
    }
    env.update(TEPPAN_DATA_DIR=str(tmp_path), TEPPAN_HTTP_PORT=str(free_port()), TEPPAN_LOG_LEVEL="WARNING")
    up = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "up", "--quiet", env=env, cwd=REPO
    )
    stack_env = tmp_path / "stack.env"
    descendants: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        while not stack_env.exists():
            assert up.returncode is None, "teppan up exited early"
            assert time.monotonic() < deadline, "stack.env was not written"
            await asyncio.sleep(0.1)
        urls = read_stack_env(stack_env)
        assert set(urls) == {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "REDIS_URL", "HTTP_URL"}
        descendants = psutil.Process(up.pid).children(recursive=True)

        # Another program finds the stack through stack.env alone.
        settings = Settings(KAFKA_BOOTSTRAP_SERVERS=urls["KAFKA_BOOTSTRAP_SERVERS"])
        conversations = [str(uuid.uuid4()) for _ in range(5)]
        events = await produce_chat_messages(settings, conversations, per_conversation=4)
        pool = await asyncpg.create_pool(urls["DATABASE_URL"], min_size=1, max_size=2)
        assert pool is not None
        try:
            await wait_until_logged(pool, [event["event_id"] for event in events], timeout_s=120)

            async def logged_conversations() -> bool:
                count = await pool.fetchval(
                    "SELECT count(*) FROM conversation_logs WHERE id = ANY($1::uuid[])", conversations
                )
                return count == len(conversations)

            assert await wait_for(logged_conversations)
        finally:
            await pool.close()

        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(urls["HTTP_URL"] + "/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        assert await wait_for(healthy, timeout_s=30)
    finally:
        if up.returncode is None:
            up.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(up.wait(), 60)

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
