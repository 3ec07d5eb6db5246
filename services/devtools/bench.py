"""`teppan bench pipeline`: produce N chat messages and measure produce-to-logged throughput and latency.

Against a fresh embedded stack unless servers are configured. Latency is each row's `logged_at`
(set by PostgreSQL) minus the message's `occurred_at`, which the benchmark stamps at send time.
The named baseline, run in the same process on the same database, is what a chat service would do
without Teppan: one INSERT and one commit per message, awaited in turn.

`texts` replaces the six fixed messages (every one of which the fast path is sure of) with others, such as
the hand-written test set's, so that some turns take the slow path.

With `full`, every worker kind `teppan up` runs is started (not only ingest and logger), and the run
ends only when every customer turn's analysis row is logged too; latency to the analysis row is
`message_analyses.logged_at` minus the message's `occurred_at`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from schemas import topics
from schemas.workers import consumer_group
from services.devtools.stack_status import StatusReader
from services.devtools.supervisor import stack_worker_kinds
from shared.db import create_pool, migrate_database
from shared.embedded import child_environment, start_missing
from shared.kafka import create_producer, create_topics
from shared.settings import Settings

PIPELINE_KINDS = ("ingest", "logger")
BASELINE_NAME = "naive per-message INSERT + commit"
MESSAGES_PER_CONVERSATION = 10
WARM_UP_CONVERSATIONS = 12
TEXTS = (
    "Hey! I wanna book for 30 people",
    "Can we do next Saturday around 6pm?",
    "How much is it per person with the third protein?",
    "Actually make it 25 adults and 5 kids",
    "Do you have vegetarian options? My sister doesn't eat meat",
    "Great, my name is Dana. Gyoza for everyone please!",
)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def chat_message(conversation_id: str, index: int, texts: Sequence[str] = TEXTS) -> dict[str, Any]:
    role = "customer" if index % 2 == 0 else "ai"
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "chat.message",
        "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "conversation_id": conversation_id,
        "customer_id": index,
        "role": role,
        "text": texts[index % len(texts)],
        "channel": "web",
        "source": "bench",
    }


async def _wait_logged(
    pool: asyncpg.Pool, conversation_ids: list[str], expected: int, wait_seconds: float
) -> int:
    deadline = time.monotonic() + wait_seconds
    logged = 0
    while time.monotonic() < deadline:
        logged = await pool.fetchval(
            "SELECT count(*) FROM messages WHERE conversation_id = ANY($1::uuid[])", conversation_ids
        )
        if logged >= expected:
            return int(logged)
        await asyncio.sleep(0.1)
    return int(logged)


async def _produce(
    settings: Settings,
    conversation_ids: list[str],
    count: int,
    rate: float | None,
    texts: Sequence[str] = TEXTS,
) -> float:
    producer = create_producer(settings)
    await producer.start()
    started = time.monotonic()
    try:
        for index in range(count):
            if rate:
                delay = index / rate - (time.monotonic() - started)
                if delay > 0:
                    await asyncio.sleep(delay)
            conversation_id = conversation_ids[index // MESSAGES_PER_CONVERSATION]
            await producer.send(
                topics.CHAT_MESSAGES,
                json.dumps(chat_message(conversation_id, index, texts)).encode(),
                key=conversation_id.encode(),
            )
        await producer.flush()
    finally:
        await producer.stop()
    return started


async def _start_workers(env: dict[str, str], kinds: tuple[str, ...]) -> list[asyncio.subprocess.Process]:
    return [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "worker", kind, env=env, start_new_session=True
        )
        for kind in kinds
    ]


async def _wait_analysed(pool: asyncpg.Pool, conversation_ids: list[str], wait_seconds: float) -> int:
    """Wait until every customer message of these conversations has its analysis row; returns how many."""
    deadline = time.monotonic() + wait_seconds
    missing = -1
    while time.monotonic() < deadline:
        missing = await pool.fetchval(
            "SELECT count(*) FROM messages m LEFT JOIN message_analyses a ON a.message_event_id = m.event_id"
            " WHERE m.conversation_id = ANY($1::uuid[]) AND m.role = 'customer' AND a.message_event_id IS NULL",
            conversation_ids,
        )
        if missing == 0:
            return 0
        await asyncio.sleep(0.1)
    return int(missing)


async def _measure_analyses(pool: asyncpg.Pool, conversation_ids: list[str]) -> dict[str, Any]:
    rows = await pool.fetch(
        "SELECT extract(epoch FROM a.logged_at - m.occurred_at) * 1000 AS latency_ms, a.path FROM messages m"
        " JOIN message_analyses a ON a.message_event_id = m.event_id"
        " WHERE m.conversation_id = ANY($1::uuid[]) AND m.role = 'customer'",
        conversation_ids,
    )
    latencies = sorted(float(row["latency_ms"]) for row in rows)
    # An ML analysis replaces the fast row (and its logged_at): these are the escalated turns' slow path.
    ml_latencies = sorted(float(row["latency_ms"]) for row in rows if row["path"] == "ml")
    quantiles = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    return {
        "analyses": len(rows),
        "latency_to_analysis_ms": {name: round(percentile(latencies, q), 1) for name, q in quantiles},
        "ml_analyses": len(ml_latencies),
        "latency_to_ml_analysis_ms": {name: round(percentile(ml_latencies, q), 1) for name, q in quantiles}
        if ml_latencies
        else None,
    }


async def _wait_caught_up(
    settings: Settings, pool: asyncpg.Pool, topic_of_kind: dict[str, str], wait_seconds: float
) -> None:
    """Wait until each kind's group has committed everything on its topic, every partition included."""
    reader = StatusReader(settings, pool)
    deadline = time.monotonic() + wait_seconds
    try:
        while time.monotonic() < deadline:
            lags = [
                await reader.group_lag(consumer_group(kind), await reader.end_offsets((topic,)), strict=True)
                for kind, topic in topic_of_kind.items()
            ]
            if not any(lags):
                return
            await asyncio.sleep(0.1)
    finally:
        await reader.close()


async def _stop(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    await asyncio.gather(*(process.wait() for process in processes))


async def _naive_baseline(pool: asyncpg.Pool, count: int) -> dict[str, Any]:
    """Write `count` messages the naive way, into a temporary copy of `messages`."""
    conversation_id = uuid.uuid4()
    latencies = []
    async with pool.acquire() as connection:
        await connection.execute(
            "CREATE TEMP TABLE IF NOT EXISTS baseline_messages (LIKE messages INCLUDING ALL)"
        )
        started = time.perf_counter()
        for index in range(count):
            message = chat_message(str(conversation_id), index)
            begin = time.perf_counter()
            async with connection.transaction():
                await connection.execute(
                    "INSERT INTO baseline_messages (event_id, conversation_id, customer_id, role, text, channel, "
                    "turn_index, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                    uuid.UUID(message["event_id"]),
                    conversation_id,
                    message["customer_id"],
                    message["role"],
                    message["text"],
                    message["channel"],
                    index,
                    datetime.fromisoformat(message["occurred_at"]),
                )
            latencies.append((time.perf_counter() - begin) * 1000)
        elapsed = time.perf_counter() - started
        await connection.execute("DROP TABLE baseline_messages")
    latencies.sort()
    return {
        "messages": count,
        "throughput_msgs_per_s": round(count / elapsed, 1),
        "latency_ms": {
            name: round(percentile(latencies, q), 2)
            for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
        },
    }


async def run_pipeline_benchmark(
    settings: Settings,
    *,
    messages: int,
    rate: float | None,
    verbose: bool,
    baseline_messages: int = 5000,
    full: bool = False,
    texts: Sequence[str] = TEXTS,
) -> dict[str, Any]:
    def say(text: str) -> None:
        if verbose:
            print(text, file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="teppan-bench-") as scratch:
        servers = await asyncio.to_thread(
            start_missing,
            Path(scratch),
            kafka=settings.kafka_bootstrap_servers,
            database=settings.database_url,
            redis=settings.redis_url,
        )
        running = settings.model_copy(
            update={
                "kafka_bootstrap_servers": servers.kafka_bootstrap_servers,
                "database_url": servers.database_url,
                "redis_url": servers.redis_url,
            }
        )
        processes: list[asyncio.subprocess.Process] = []
        try:
            await create_topics(running)
            await migrate_database(running)
            pool = await create_pool(running)
            env = child_environment(servers, TEPPAN_LOG_LEVEL="WARNING")
            if full and settings.nlp_artifacts_path.exists():
                env["TEPPAN_NLP_ARTIFACTS_DIR"] = str(settings.nlp_artifacts_path.resolve())
            kinds = stack_worker_kinds(settings) if full else PIPELINE_KINDS
            if "escalation" in kinds:
                env["TEPPAN_ESCALATION_MODEL_DIR"] = str(settings.escalation_model_path.resolve())
            processes = await _start_workers(env, kinds)
            try:
                # Warm-up: group joins and first connections are start-up cost, not throughput.
                # With the slow path, several conversations, so that its group has joined and answered on the
                # partitions before the clock starts (its first answers would otherwise wait for the join).
                warm_ids = [
                    str(uuid.uuid4()) for _ in range(WARM_UP_CONVERSATIONS if "escalation" in kinds else 1)
                ]
                warm_messages = MESSAGES_PER_CONVERSATION * len(warm_ids)
                await _produce(running, warm_ids, warm_messages, None, texts)
                if (await _wait_logged(pool, warm_ids, warm_messages, 300) < warm_messages) or (
                    full and await _wait_analysed(pool, warm_ids, 300)
                ):
                    raise RuntimeError("the pipeline did not log the warm-up messages within 300 s")
                if "escalation" in kinds:
                    await _wait_caught_up(
                        running,
                        pool,
                        {"escalation": topics.ML_ESCALATIONS, "logger": topics.NLP_ANALYSES},
                        300,
                    )
                say("warm-up logged; producing")
                conversation_ids = [
                    str(uuid.uuid4()) for _ in range(-(-messages // MESSAGES_PER_CONVERSATION))
                ]
                sent_at = await _produce(running, conversation_ids, messages, rate, texts)
                produce_seconds = time.monotonic() - sent_at
                say(f"produced {messages} in {produce_seconds:.1f}s; waiting for the logger")
                timeout = 60 + messages / 200
                await _wait_logged(pool, conversation_ids, messages, timeout)
                if full:
                    await _wait_analysed(pool, conversation_ids, timeout)
                result = await _measure(pool, conversation_ids, messages)
                if full and "escalation" in kinds:
                    # The slow path answers after the fast one: wait until it and the logger behind it have
                    # read everything, by their consumer groups' lag, not by a quiet period.
                    await _wait_caught_up(
                        running,
                        pool,
                        {"escalation": topics.ML_ESCALATIONS, "logger": topics.NLP_ANALYSES},
                        timeout,
                    )
                if full:
                    # Throughput counts until the last analysis row too: the slowest stage sets the pace.
                    result.update(await _measure_analyses(pool, conversation_ids))
                    result["workers"] = list(kinds)
                    result["throughput_msgs_per_s"] = await _full_throughput(pool, conversation_ids, messages)
                if baseline_messages:
                    baseline = await _naive_baseline(pool, baseline_messages)
                    print(
                        json.dumps(
                            {
                                "baseline": BASELINE_NAME,
                                **baseline,
                                # Fed at a fixed rate, throughput is the rate, so a ratio would mean nothing.
                                "pipeline_speedup": None
                                if rate
                                else round(
                                    result["throughput_msgs_per_s"] / baseline["throughput_msgs_per_s"], 2
                                ),
                            }
                        ),
                        flush=True,
                    )
                reader = StatusReader(running, pool)
                with contextlib.suppress(Exception):
                    status = await reader.read()
                    say(f"dead letters: {status.dead_letters}, lag: {status.consumer_lag}")
                await reader.close()
                return result
            finally:
                await _stop(processes)
                await pool.close()
        finally:
            await asyncio.to_thread(servers.stop)


async def _full_throughput(pool: asyncpg.Pool, conversation_ids: list[str], messages: int) -> float:
    """Messages over first send → the later of the last message row and the last analysis row."""
    row = await pool.fetchrow(
        "SELECT extract(epoch FROM min(m.occurred_at)) AS first_sent,"
        " extract(epoch FROM greatest(max(m.logged_at), max(a.logged_at))) AS last_logged"
        " FROM messages m LEFT JOIN message_analyses a ON a.message_event_id = m.event_id"
        " WHERE m.conversation_id = ANY($1::uuid[])",
        conversation_ids,
    )
    elapsed = float(row["last_logged"]) - float(row["first_sent"]) if row and row["first_sent"] else 0.0
    return round(messages / elapsed, 1) if elapsed > 0 else 0.0


async def _measure(pool: asyncpg.Pool, conversation_ids: list[str], messages: int) -> dict[str, Any]:
    rows = await pool.fetch(
        "SELECT extract(epoch FROM logged_at - occurred_at) * 1000 AS latency_ms, "
        "extract(epoch FROM occurred_at) AS sent, extract(epoch FROM logged_at) AS logged "
        "FROM messages WHERE conversation_id = ANY($1::uuid[])",
        conversation_ids,
    )
    latencies = sorted(float(row["latency_ms"]) for row in rows)
    first_sent = min((float(row["sent"]) for row in rows), default=0.0)
    last_logged = max((float(row["logged"]) for row in rows), default=0.0)
    jsonb_entries = await pool.fetchval(
        "SELECT coalesce(sum(jsonb_array_length(conversation_data->'messages')), 0) "
        "FROM conversation_logs WHERE id = ANY($1::uuid[])",
        conversation_ids,
    )
    distinct = await pool.fetchval(
        "SELECT count(DISTINCT event_id) FROM messages WHERE conversation_id = ANY($1::uuid[])",
        conversation_ids,
    )
    elapsed = last_logged - first_sent
    return {
        "messages": messages,
        "throughput_msgs_per_s": round(len(rows) / elapsed, 1) if elapsed > 0 else 0.0,
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50), 1),
            "p95": round(percentile(latencies, 0.95), 1),
            "p99": round(percentile(latencies, 0.99), 1),
        },
        "lost": messages - int(distinct),
        # A redelivery that slipped through would show as a second row or a second JSONB entry.
        "duplicated": (len(rows) - int(distinct)) + max(0, int(jsonb_entries) - len(rows)),
    }
