"""`teppan bench faults`: runs the whole stack under `teppan up`, breaks it on purpose, and counts what survived.

Phases, each with steady chat traffic: a baseline with no fault (the named baseline: how long the same
traffic takes to drain when nothing breaks), SIGKILL of every worker kind several times, every database
connection cut again and again, Redis frozen (SIGSTOP), and fuzzed records interleaved with valid ones.
After each phase it waits until the stack has caught up and checks: no valid message lost or duplicated
(rows and JSONB entries), every malformed record in a dead-letter queue with its reason, turn numbers
strictly increasing per conversation, and no worker left behind. It prints one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from schemas import topics
from schemas.workers import consumer_group
from services.devtools.dead_letters import dead_letters_at
from services.devtools.stack_status import StatusReader
from services.devtools.supervisor import stack_worker_kinds
from shared.kafka import create_producer
from shared.settings import Settings, read_stack_env

BASELINE_NAME = "same traffic, no fault"
TEXTS = (
    "Hey! I wanna book for 30 people",
    "Can you cater our Easter brunch for 20 people?",
    "Can we do next Saturday around 6pm?",
    "Actually make it 25 adults and 5 kids",
    "my name is Dana  Lee, call me at 555-123-4567",
    "Robert'); DROP TABLE messages;-- for 20 guests",
    "<script>alert(1)</script><img src=x onerror=alert(2)>",
)


@dataclass
class Traffic:
    """Every valid message sent, in order per conversation, and every malformed record with its position."""

    conversations: dict[str, list[str]] = field(default_factory=dict)
    valid_ids: list[str] = field(default_factory=list)
    customer_ids: list[str] = field(default_factory=list)
    malformed: list[tuple[str, int, int]] = field(default_factory=list)

    def message(self, conversation_id: str) -> dict[str, Any]:
        sent = self.conversations.setdefault(conversation_id, [])
        index = len(sent)
        role = "customer" if index % 2 == 0 else "ai"
        event_id = str(uuid.uuid4())
        message = {
            "event_id": event_id,
            "event_type": "chat.message",
            "occurred_at": datetime.now(UTC).isoformat(),
            "conversation_id": conversation_id,
            "customer_id": random.randint(1, 2**31 - 1),
            "role": role,
            "text": TEXTS[index % len(TEXTS)],
            "source": "bench-faults",
        }
        sent.append(event_id)
        self.valid_ids.append(event_id)
        if role == "customer":
            self.customer_ids.append(event_id)
        return message


def malformed_records(count: int, rng: random.Random) -> list[tuple[bytes | None, bytes, str]]:
    """(key, value, kind) for `count` records that must each end in a dead-letter queue."""
    conversation = str(uuid.uuid4())
    key = conversation.encode()
    valid = {"event_type": "chat.message", "conversation_id": conversation, "role": "customer", "text": "hi"}
    makers: list[tuple[str, Callable[[], tuple[bytes | None, bytes]]]] = [
        ("not_json", lambda: (key, b"{not json " + str(rng.random()).encode())),
        ("invalid_utf8", lambda: (key, b'{"text": "\xff\xfe\xc3\x28"}')),
        ("deep_nesting", lambda: (key, b"[" * 3000 + b"]" * 3000)),
        ("huge_integer", lambda: (key, b'{"customer_id": ' + b"9" * 5000 + b"}")),
        ("year_9999", lambda: (key, json.dumps({**valid, "occurred_at": "9999-12-31T23:59:59-12:00"}).encode())),
        ("customer_id_over_int32", lambda: (key, json.dumps({**valid, "customer_id": 2**40}).encode())),
        ("wrong_types", lambda: (key, json.dumps({**valid, "role": 5, "text": ["a"]}).encode())),
        ("unknown_event_type", lambda: (key, json.dumps({**valid, "event_type": "chat.telepathy"}).encode())),
        ("raw_nul_byte", lambda: (key, b'{"event_type": "chat.message", "text": "a\x00b"}')),
        ("nan", lambda: (key, b'{"event_type": "chat.message", "latency_ms": NaN}')),
        ("wrong_key", lambda: (b"someone-else", json.dumps(valid).encode())),
        ("not_an_object", lambda: (key, b"[1, 2, 3]")),
    ]
    records = []
    for index in range(count):
        kind, make = makers[index % len(makers)]
        key_bytes, value = make()
        records.append((key_bytes, value, kind))
    # A few 2 MB pastes: too long for a chat turn, so dead letters too (few: each costs 2 MB of broker memory).
    for index in range(min(3, count // 1000 + 1)):
        big = json.dumps({**valid, "text": "x" * (2 * 1024 * 1024)}).encode()
        records[index * 7 % len(records)] = (key, big, "two_mb_text")
    return records


class Stack:
    """`teppan up --quiet` in a child process, with what the bench needs to reach and break it."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.urls: dict[str, str] = {}

    async def start(self, timeout_s: float = 180) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "up", "--quiet", env=self.env, start_new_session=True
        )
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.returncode is not None:
                raise RuntimeError(f"teppan up exited with {self.process.returncode}")
            values = read_stack_env(self.data_dir / "stack.env")
            if values.get("TEPPAN_STACK_PID") == str(self.process.pid):
                self.urls = values
                return
            if time.monotonic() > deadline:
                raise TimeoutError("teppan up did not write stack.env")
            await asyncio.sleep(0.1)

    @property
    def worker_kinds(self) -> tuple[str, ...]:
        """The kinds this stack's `teppan up` starts (the escalation worker only with a built model)."""
        model_dir = self.env.get("TEPPAN_ESCALATION_MODEL_DIR")
        return stack_worker_kinds(
            Settings(TEPPAN_DATA_DIR=self.data_dir, TEPPAN_ESCALATION_MODEL_DIR=Path(model_dir) if model_dir else None)
        )

    @property
    def settings(self) -> Settings:
        return Settings(
            KAFKA_BOOTSTRAP_SERVERS=self.urls["KAFKA_BOOTSTRAP_SERVERS"],
            DATABASE_URL=self.urls["DATABASE_URL"],
            REDIS_URL=self.urls["REDIS_URL"],
        )

    def worker(self, kind: str) -> psutil.Process | None:
        assert self.process is not None
        for child in psutil.Process(self.process.pid).children():
            with contextlib.suppress(psutil.Error):
                cmdline = child.cmdline()
                if "worker" in cmdline and cmdline[-1] == kind:
                    return child
        return None

    def redis_server(self) -> psutil.Process:
        assert self.process is not None
        for child in psutil.Process(self.process.pid).children():
            with contextlib.suppress(psutil.Error):
                if "redis-server" in " ".join(child.cmdline()):
                    return child
        raise RuntimeError("the bench needs the embedded Redis (leave REDIS_URL unset)")

    async def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 90)


async def _send_traffic(
    settings: Settings,
    traffic: Traffic,
    *,
    messages: int,
    rate: float,
    malformed: Sequence[tuple[bytes | None, bytes, str]] = (),
) -> None:
    """Send `messages` valid chat messages at `rate`/s over a few live conversations, malformed ones between."""
    producer = create_producer(settings)
    await producer.start()
    try:
        live = [str(uuid.uuid4()) for _ in range(max(1, messages // 8))]
        every = max(1, messages // max(1, len(malformed))) if malformed else 0
        bad = iter(malformed)
        started = time.monotonic()
        # Each send's future, with the malformed record it carries (None for a valid message).
        pending: list[tuple[tuple[bytes | None, bytes, str] | None, Any]] = []
        for index in range(messages):
            delay = index / rate - (time.monotonic() - started)
            if delay > 0:
                await asyncio.sleep(delay)
            conversation = live[index % len(live)]
            message = traffic.message(conversation)
            pending.append(
                (None, await producer.send(topics.CHAT_MESSAGES, json.dumps(message).encode(), key=conversation.encode()))
            )
            if every and index % every == 0:
                for _ in range(max(1, len(malformed) // messages)):
                    record = next(bad, None)
                    if record is not None:
                        key, value, _kind = record
                        pending.append((record, await producer.send(topics.CHAT_MESSAGES, value, key=key)))
        for record in bad:  # whatever did not fit between the valid ones
            pending.append((record, await producer.send(topics.CHAT_MESSAGES, record[1], key=record[0])))
        for record, future in pending:
            metadata = await future
            if record is not None:
                traffic.malformed.append((metadata.topic, metadata.partition, metadata.offset))
    finally:
        await producer.stop()


async def _wait_caught_up(stack: Stack, pool: asyncpg.Pool, traffic: Traffic, timeout_s: float) -> float:
    """Seconds until every valid message and every customer turn's analysis is in PostgreSQL."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        # The bench's own connections are cut with everyone else's; a failed poll is simply polled again.
        with contextlib.suppress(OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
            logged = await pool.fetchval(
                "SELECT count(*) FROM messages WHERE event_id = ANY($1::uuid[])", traffic.valid_ids
            )
            analysed = await pool.fetchval(
                "SELECT count(*) FROM message_analyses WHERE message_event_id = ANY($1::uuid[])",
                traffic.customer_ids,
            )
            if logged >= len(traffic.valid_ids) and analysed >= len(traffic.customer_ids):
                return time.monotonic() - started
        await asyncio.sleep(0.25)
    return float("inf")


async def _dead_lettered(settings: Settings, positions: list[tuple[str, int, int]], timeout_s: float) -> dict[str, Any]:
    assert settings.kafka_bootstrap_servers is not None
    found = await dead_letters_at(settings.kafka_bootstrap_servers, topics.INGEST_DLQ, positions, timeout_s=timeout_s)
    return {"dead_lettered": len(found), "without_reason": sum(1 for letter in found.values() if not letter.error)}


async def _integrity(pool: asyncpg.Pool, traffic: Traffic) -> dict[str, int]:
    """Lost and duplicated messages, and turn-number order, across every conversation sent."""
    logged = await pool.fetchval("SELECT count(*) FROM messages WHERE event_id = ANY($1::uuid[])", traffic.valid_ids)
    log_entries = await pool.fetch(
        "SELECT entry->>'event_id' AS event_id, count(*) AS n FROM conversation_logs,"
        " jsonb_array_elements(conversation_data->'messages') AS entry"
        " WHERE id = ANY($1::uuid[]) GROUP BY 1",
        list(traffic.conversations),
    )
    turns = {
        str(row["event_id"]): row["turn_index"]
        for row in await pool.fetch(
            "SELECT event_id, turn_index FROM messages WHERE event_id = ANY($1::uuid[])", traffic.valid_ids
        )
    }
    order_violations = 0
    for sent in traffic.conversations.values():
        numbers = [turns[event_id] for event_id in sent if event_id in turns]
        order_violations += sum(1 for a, b in zip(numbers, numbers[1:], strict=False) if b <= a)
    entries = {row["event_id"]: row["n"] for row in log_entries}
    return {
        "lost": len(traffic.valid_ids) - int(logged),
        "missing_from_conversation_logs": sum(1 for event_id in traffic.valid_ids if event_id not in entries),
        "duplicated_log_entries": sum(n - 1 for n in entries.values() if n > 1),
        "turn_order_violations": order_violations,
    }


async def _wedged_groups(stack: Stack, pool: asyncpg.Pool, timeout_s: float) -> list[str]:
    """Worker groups still behind after `timeout_s`: a wedged worker never catches up."""
    reader = StatusReader(stack.settings, pool)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            ends = await reader.end_offsets(topics.ALL_TOPICS)
            behind = []
            for kind in stack.worker_kinds:
                if await reader.group_lag(consumer_group(kind), ends):
                    behind.append(kind)
            if not behind or time.monotonic() > deadline:
                return behind
            await asyncio.sleep(0.5)
    finally:
        await reader.close()


async def _kill_workers(stack: Stack, rounds: int, pause_s: float) -> int:
    kills = 0
    for _ in range(rounds):
        for kind in stack.worker_kinds:
            victim = stack.worker(kind)
            if victim is not None:
                with contextlib.suppress(psutil.Error):
                    victim.kill()
                    kills += 1
            await asyncio.sleep(pause_s)
    return kills


async def _cut_database_connections(stack: Stack, duration_s: float, every_s: float) -> int:
    connection = await asyncpg.connect(stack.urls["DATABASE_URL"])
    rounds = 0
    try:
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            rounds += 1
            await asyncio.sleep(every_s)
    finally:
        await connection.close()
    return rounds


async def _freeze_redis(stack: Stack, seconds: float) -> None:
    redis = stack.redis_server()
    redis.suspend()
    try:
        await asyncio.sleep(seconds)
    finally:
        redis.resume()


async def run_fault_benchmark(
    *,
    messages_per_phase: int = 2000,
    rate: float = 200.0,
    kill_rounds: int = 3,
    db_cut_seconds: float = 10.0,
    redis_freeze_seconds: float = 20.0,
    malformed: int = 10_000,
    nlp_artifacts_dir: Path | None = None,
    recovery_timeout_s: float = 300.0,
    seed: int = 7,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    rng = random.Random(seed)
    random.seed(seed)
    with tempfile.TemporaryDirectory(prefix="teppan-bench-faults-") as tmp:
        data_dir = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
        env.update(TEPPAN_DATA_DIR=str(data_dir), TEPPAN_LOG_LEVEL="ERROR", TEPPAN_HTTP_PORT=str(_free_port()))
        if nlp_artifacts_dir is not None:
            env["TEPPAN_NLP_ARTIFACTS_DIR"] = str(nlp_artifacts_dir)
        stack = Stack(data_dir, env)
        # The stack runs in its own session; a bench stopped by a signal must still stop it.
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        for signum in (signal.SIGINT, signal.SIGTERM):
            if task is not None:
                loop.add_signal_handler(signum, task.cancel)
        await stack.start()
        pool = await asyncpg.create_pool(stack.urls["DATABASE_URL"], min_size=1, max_size=2)
        assert pool is not None
        traffic = Traffic()
        recovery: dict[str, float] = {}
        faults: dict[str, Any] = {}
        try:
            # Warm-up: every consumer group joins before anything is timed.
            await _send_traffic(stack.settings, traffic, messages=20, rate=100)
            await _wait_caught_up(stack, pool, traffic, recovery_timeout_s)

            async def phase(name: str, fault: Awaitable[Any] | None, *, bad: int = 0) -> None:
                progress(f"phase {name}")
                sending = _send_traffic(
                    stack.settings, traffic, messages=messages_per_phase, rate=rate,
                    malformed=malformed_records(bad, rng) if bad else [],
                )  # fmt: skip
                if fault is None:
                    await sending
                else:
                    faults[name] = (await asyncio.gather(sending, fault))[1]
                caught_up = await _wait_caught_up(stack, pool, traffic, recovery_timeout_s)
                recovery[name] = round(caught_up, 2) if caught_up != float("inf") else -1.0

            await phase("baseline", None)
            await phase("sigkill_every_worker", _kill_workers(stack, kill_rounds, pause_s=1.0))
            await phase("database_connections_cut", _cut_database_connections(stack, db_cut_seconds, 0.5))
            await phase("redis_frozen", _freeze_redis(stack, redis_freeze_seconds))
            await phase("fuzzed_records", None, bad=malformed)

            integrity = await _integrity(pool, traffic)
            letters = await _dead_lettered(stack.settings, traffic.malformed, timeout_s=60)
            wedged = await _wedged_groups(stack, pool, timeout_s=60)
        finally:
            await pool.close()
            code = await stack.stop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
    malformed_sent = len(traffic.malformed)
    return {
        "benchmark": "faults",
        "baseline": BASELINE_NAME,
        "valid_sent": len(traffic.valid_ids),
        **integrity,
        "malformed_sent": malformed_sent,
        "malformed_dead_lettered": letters["dead_lettered"],
        "malformed_dead_lettered_pct": round(100.0 * letters["dead_lettered"] / malformed_sent, 2)
        if malformed_sent
        else 100.0,
        "dead_letters_without_reason": letters["without_reason"],
        "wedged_workers": wedged,
        "workers_killed": faults.get("sigkill_every_worker", 0),
        "database_cut_rounds": faults.get("database_connections_cut", 0),
        "redis_frozen_s": redis_freeze_seconds,
        "seconds_to_catch_up_after_phase": recovery,
        "teppan_up_exit_code": code,
    }


def _free_port() -> int:
    from shared.embedded import free_port

    return free_port()
