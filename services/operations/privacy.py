"""`teppan privacy forget --customer-id N`: erases one customer's conversations from PostgreSQL, the
prediction-log JSONL files and Redis, and reports what it touched.

A customer's conversations are every conversation any table links to their `customer_id`; all of a
conversation goes, whoever wrote each message. What happens where:

- delete the conversations' rows: conversation_logs, messages, message_analyses, labels,
  prediction_inputs, predictions, edge_cases, surveys, outcomes, metrics_conversations;
- anonymise llm_usage: `customer_id` set to null; the token counts (no text) stay for cost history;
- predictions-*.jsonl (the prediction log): drop those conversations' lines, files rewritten atomically;
- Redis: delete `teppan:conversation:<id>` and `teppan:event:<id>` for each of their events.

Kept: metrics_windows and alerts_sent (aggregates with no per-person data) and metrics_events (bare
event ids, the metrics worker's proof that a redelivery was already counted).

Order: the database rows are deleted in a transaction that commits only after the files and Redis are
done, so a failure anywhere leaves the database able to name the conversations and a rerun finishes the
job. A dry run does the same work in a transaction it rolls back, and only counts lines and keys.
Events still on Kafka topics until their retention expires are out of reach: if ingest processes a
redelivery of one after this, the customer's rows come back; forget again after the topics' retention.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg
from redis.asyncio import Redis

from services.analytics.edge_cases.prediction_log import prediction_log_dir
from services.ingest.state import conversation_key, event_key
from services.operations.retention import affected_rows
from shared.db import database_url, transaction
from shared.redis_client import create_redis
from shared.settings import Settings

# Every conversation a table links to the customer; every table with a customer_id is here.
CONVERSATIONS_SQL = (
    "SELECT conversation_id FROM messages WHERE customer_id = $1"
    " UNION SELECT conversation_id FROM outcomes WHERE customer_id = $1"
    " UNION SELECT conversation_id FROM surveys WHERE customer_id = $1"
    " UNION SELECT conversation_id FROM llm_usage WHERE customer_id = $1"
    " UNION SELECT conversation_id FROM edge_cases WHERE customer_id = $1"
    " UNION SELECT id FROM conversation_logs WHERE customer_id = $1"
)

# The ids of every event of those conversations that ingest may have claimed in Redis ($1: uuid[]).
EVENT_IDS_SQL = (
    "SELECT event_id FROM messages WHERE conversation_id = ANY($1::uuid[])"
    " UNION SELECT event_id FROM outcomes WHERE conversation_id = ANY($1::uuid[])"
    " UNION SELECT event_id FROM surveys WHERE conversation_id = ANY($1::uuid[])"
    " UNION SELECT event_id FROM llm_usage WHERE conversation_id = ANY($1::uuid[])"
    " UNION SELECT event_id FROM labels WHERE conversation_id = ANY($1::uuid[])"
    " UNION SELECT analysis_event_id FROM message_analyses WHERE conversation_id = ANY($1::uuid[])"
)


@dataclass(frozen=True)
class ForgetRule:
    table: str
    action: Literal["delete", "anonymise"]
    sql: str  # $1: the conversations' ids (uuid[])


RULES: tuple[ForgetRule, ...] = (
    ForgetRule("conversation_logs", "delete", "DELETE FROM conversation_logs WHERE id = ANY($1::uuid[])"),
    ForgetRule("messages", "delete", "DELETE FROM messages WHERE conversation_id = ANY($1::uuid[])"),
    ForgetRule(
        "message_analyses", "delete", "DELETE FROM message_analyses WHERE conversation_id = ANY($1::uuid[])"
    ),
    ForgetRule("labels", "delete", "DELETE FROM labels WHERE conversation_id = ANY($1::uuid[])"),
    ForgetRule(
        "prediction_inputs", "delete", "DELETE FROM prediction_inputs WHERE conversation_id = ANY($1::uuid[])"
    ),
    ForgetRule("predictions", "delete", "DELETE FROM predictions WHERE conversation_id = ANY($1::uuid[])"),
    ForgetRule("edge_cases", "delete", "DELETE FROM edge_cases WHERE conversation_id = ANY($1::uuid[])"),
    ForgetRule("surveys", "delete", "DELETE FROM surveys WHERE conversation_id = ANY($1::uuid[])"),
    ForgetRule("outcomes", "delete", "DELETE FROM outcomes WHERE conversation_id = ANY($1::uuid[])"),
    ForgetRule(
        "metrics_conversations",
        "delete",
        "DELETE FROM metrics_conversations WHERE conversation_id = ANY($1::uuid[])",
    ),
    ForgetRule(
        "llm_usage",
        "anonymise",
        "UPDATE llm_usage SET customer_id = NULL"
        " WHERE customer_id IS NOT NULL AND conversation_id = ANY($1::uuid[])",
    ),
)


# --- pure core ---------------------------------------------------------------------------------------


def line_belongs_to(line: str, conversation_ids: Collection[str]) -> bool:
    """Whether a prediction-log line is about one of `conversation_ids`.

    A line that is not a JSON record (a torn write) is judged by whether it mentions one of the ids.
    """
    try:
        record = json.loads(line)
    except ValueError:
        return any(conversation_id in line for conversation_id in conversation_ids)
    return isinstance(record, dict) and str(record.get("conversation_id")) in conversation_ids


def split_lines(text: str, conversation_ids: Collection[str]) -> tuple[list[str], int]:
    """The lines to keep (with their newlines) and how many were dropped."""
    kept, dropped = [], 0
    for line in text.splitlines(keepends=True):
        if line.strip() and line_belongs_to(line, conversation_ids):
            dropped += 1
        else:
            kept.append(line)
    return kept, dropped


def redis_keys(conversation_ids: Iterable[object], event_ids: Iterable[object]) -> list[str]:
    return [conversation_key(c) for c in conversation_ids] + [event_key(e) for e in event_ids]


@dataclass(frozen=True)
class FileResult:
    path: str
    lines_removed: int


# --- adapters ----------------------------------------------------------------------------------------


def rewrite_without(path: Path, conversation_ids: Collection[str], *, dry_run: bool) -> int:
    """Drops the conversations' lines from one JSONL file; returns how many lines it dropped.

    Written to a temporary file and renamed over the original, so a reader never sees half a file. The
    edge-case worker may append meanwhile: if the file grew while we filtered it, filter it again.
    """
    while True:
        before = path.stat()
        text = path.read_text(encoding="utf-8")
        kept, dropped = split_lines(text, conversation_ids)
        if dropped == 0 or dry_run:
            return dropped
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as output:
                output.writelines(kept)
                output.flush()
                os.fsync(output.fileno())
            os.chmod(temporary, before.st_mode & 0o777)
            if path.stat().st_size != before.st_size:
                continue  # an append arrived; the finally removes the stale copy
            os.replace(temporary, path)
            return dropped
        finally:
            Path(temporary).unlink(missing_ok=True)


def forget_in_files(directory: Path, conversation_ids: Collection[str], *, dry_run: bool) -> list[FileResult]:
    if not conversation_ids or not directory.is_dir():
        return []
    results = []
    for path in sorted(directory.glob("*.jsonl")):
        dropped = rewrite_without(path, conversation_ids, dry_run=dry_run)
        if dropped:
            results.append(FileResult(str(path), dropped))
    return results


async def forget_in_redis(redis: Redis, keys: Sequence[str], *, dry_run: bool) -> int:
    """Deletes the keys (or, in a dry run, counts those that exist); returns how many there were."""
    if not keys:
        return 0
    count = 0
    # Chunks keep each command small however many events a customer has.
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        count += int(await (redis.exists(*chunk) if dry_run else redis.delete(*chunk)))
    return count


async def forget_customer(settings: Settings, customer_id: int, *, dry_run: bool = False) -> dict[str, Any]:
    connection = await asyncpg.connect(database_url(settings))
    redis = create_redis(settings)
    try:
        async with transaction(connection, dry_run=dry_run):
            conversations: list[uuid.UUID] = [
                row[0] for row in await connection.fetch(CONVERSATIONS_SQL, customer_id)
            ]
            event_ids = [row[0] for row in await connection.fetch(EVENT_IDS_SQL, conversations)]
            tables = []
            for rule in RULES:
                status = await connection.execute(rule.sql, conversations)
                tables.append({"table": rule.table, "action": rule.action, "rows": affected_rows(status)})
            conversation_ids = {str(conversation) for conversation in conversations}
            files = await asyncio.to_thread(
                forget_in_files, prediction_log_dir(settings), conversation_ids, dry_run=dry_run
            )
            keys_deleted = await forget_in_redis(redis, redis_keys(conversations, event_ids), dry_run=dry_run)
    finally:
        await redis.aclose()
        await connection.close()
    return {
        "customer_id": customer_id,
        "dry_run": dry_run,
        "conversations": len(conversations),
        "tables": tables,
        "prediction_log_files": [asdict(result) for result in files],
        "redis_keys_deleted": keys_deleted,
    }
