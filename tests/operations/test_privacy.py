"""`teppan privacy forget`: line filtering (pure), and a real run over two customers' data in PostgreSQL,
the prediction-log JSONL files and Redis: one is erased everywhere, the other is untouched.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from services.ingest.state import conversation_key, event_key
from services.operations.privacy import RULES, rewrite_without, split_lines
from shared.settings import Settings
from tests.operations.helpers import (
    SeededConversation,
    claim_in_redis,
    rows_mentioning,
    seed_conversation,
    snapshot,
    teppan_command,
    teppan_json,
    write_prediction_line,
)

FORGOTTEN, KEPT = 301, 302


def test_lines_are_dropped_by_conversation_and_torn_lines_by_mention() -> None:
    forget = {"c-1"}
    text = (
        json.dumps({"conversation_id": "c-1", "input": {"user_text": "hi"}})
        + "\n"
        + json.dumps({"conversation_id": "c-2", "input": {"user_text": "c-1 is mentioned"}})
        + "\n"
        + '{"conversation_id": "c-1", "inp\n'  # torn by a crash mid-write
        + "\n"
        + '{"conversation_id": "c-3"'
    )
    kept, dropped = split_lines(text, forget)
    assert dropped == 2
    assert [json.loads(line)["conversation_id"] for line in kept[:1]] == ["c-2"]
    assert kept[1:] == ["\n", '{"conversation_id": "c-3"']


def test_rewrite_is_atomic_and_keeps_other_lines(tmp_path: Path) -> None:
    path = tmp_path / "predictions-2026-01-01.jsonl"
    lines = [json.dumps({"conversation_id": c}) + "\n" for c in ("a", "b", "a", "c")]
    path.write_text("".join(lines))
    assert rewrite_without(path, {"a"}, dry_run=True) == 2 and path.read_text() == "".join(lines)
    assert rewrite_without(path, {"a"}, dry_run=False) == 2
    assert path.read_text() == lines[1] + lines[3]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left behind
    assert rewrite_without(path, {"a"}, dry_run=False) == 0


@pytest.mark.stack
async def test_every_table_linked_to_a_customer_or_conversation_is_covered(ops_settings: Settings) -> None:
    assert ops_settings.database_url
    rows = await _read(
        ops_settings.database_url,
        "SELECT DISTINCT c.table_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_schema, table_name) "
        "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
        "AND c.column_name IN ('customer_id', 'conversation_id')",
    )
    linked = {row["table_name"] for row in rows} | {"conversation_logs"}
    assert linked == {rule.table for rule in RULES}


async def _read(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(sql, *args)
    finally:
        await connection.close()


async def _snapshot(url: str) -> dict[str, list[str]]:
    connection = await asyncpg.connect(url)
    try:
        return await snapshot(connection)
    finally:
        await connection.close()


def _rows_of(tables: dict[str, list[str]], needle: str) -> dict[str, list[str]]:
    return {table: [row for row in rows if needle in row] for table, rows in tables.items()}


def _keys(seeded: SeededConversation) -> list[str]:
    return [conversation_key(seeded.conversation_id)] + [event_key(e) for e in seeded.event_ids]


def _log_lines(settings: Settings) -> list[str]:
    return [
        line
        for path in sorted((settings.data_dir / "predictions").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def _counts(report: dict) -> dict[str, int]:
    return {t["table"]: t["rows"] for t in report["tables"]}


@pytest.mark.stack
async def test_forget_erases_one_customer_everywhere_and_leaves_the_other_intact(
    ops_settings: Settings,
) -> None:
    assert ops_settings.database_url and ops_settings.redis_url
    url = ops_settings.database_url
    now = datetime.now(UTC)
    connection = await asyncpg.connect(url)
    try:
        forgotten = [
            await seed_conversation(connection, customer_id=FORGOTTEN, started_at=now - timedelta(days=2)),
            await seed_conversation(connection, customer_id=FORGOTTEN, started_at=now - timedelta(hours=1)),
        ]
        kept = await seed_conversation(connection, customer_id=KEPT, started_at=now - timedelta(hours=2))
    finally:
        await connection.close()
    redis = Redis.from_url(ops_settings.redis_url)
    try:
        for seeded in (*forgotten, kept):
            write_prediction_line(
                ops_settings, seeded, now - timedelta(days=2 if seeded is forgotten[0] else 0)
            )
            await claim_in_redis(redis, seeded)
        forgotten_keys = [key for seeded in forgotten for key in _keys(seeded)]
        assert await redis.exists(*forgotten_keys, *_keys(kept)) == len(forgotten_keys) + len(_keys(kept))
        before, lines_before = await _snapshot(url), _log_lines(ops_settings)

        dry = await teppan_json(
            ops_settings, "privacy", "forget", "--customer-id", str(FORGOTTEN), "--dry-run"
        )
        assert dry["dry_run"] is True and dry["conversations"] == 2
        assert await _snapshot(url) == before and _log_lines(ops_settings) == lines_before
        assert await redis.exists(*forgotten_keys) == len(forgotten_keys)

        report = await teppan_json(ops_settings, "privacy", "forget", "--customer-id", str(FORGOTTEN))
        assert report["conversations"] == 2
        assert (
            _counts(report)
            == _counts(dry)
            == {
                "conversation_logs": 2,
                "messages": 4,
                "message_analyses": 2,
                "labels": 2,
                "prediction_inputs": 2,
                "predictions": 2,
                "edge_cases": 2,
                "surveys": 2,
                "outcomes": 2,
                "metrics_conversations": 2,
                "llm_usage": 4,
            }
        )
        assert report["redis_keys_deleted"] == dry["redis_keys_deleted"] == len(forgotten_keys)
        assert sum(f["lines_removed"] for f in report["prediction_log_files"]) == 2
        assert report["prediction_log_files"] == dry["prediction_log_files"]

        after = await _snapshot(url)
        for seeded in forgotten:
            # Not a word they wrote, in any table or log line ...
            assert rows_mentioning(after, seeded.marker) == {}
            assert not [line for line in _log_lines(ops_settings) if seeded.marker in line]
            assert not [line for line in _log_lines(ops_settings) if str(seeded.conversation_id) in line]
            # ... and their conversations survive only as anonymous token counts.
            assert set(rows_mentioning(after, str(seeded.conversation_id))) == {"llm_usage"}
        for table, rows in after.items():
            assert not [row for row in rows if json.loads(row).get("customer_id") == FORGOTTEN], table
        assert await redis.exists(*forgotten_keys) == 0

        # The other customer's rows, log line and Redis state are exactly as they were.
        assert _rows_of(after, str(kept.conversation_id)) == _rows_of(before, str(kept.conversation_id))
        assert _rows_of(after, kept.marker) == _rows_of(before, kept.marker)
        assert [line for line in _log_lines(ops_settings) if kept.marker in line] == [
            line for line in lines_before if kept.marker in line
        ]
        assert await redis.exists(*_keys(kept)) == len(_keys(kept))
        assert await redis.hget(conversation_key(kept.conversation_id), "turns") == b"2"

        status, out, _ = await teppan_command(
            ops_settings, "privacy", "forget", "--customer-id", str(FORGOTTEN)
        )
        assert status == 0 and "0 conversations" in out and "redis keys deleted: 0" in out
    finally:
        await redis.delete(*_keys(kept))
        await redis.aclose()
