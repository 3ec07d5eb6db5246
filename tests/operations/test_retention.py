"""`teppan retention apply`: the cutoffs and file choice (pure), and a real run over conversations of
different ages: old text goes, whole conversations stay consistent, aggregates outlive raw data.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.operations.retention import (
    KEPT_TABLES,
    RULES,
    affected_rows,
    cutoffs,
    expired_log_files,
)
from shared.settings import Settings
from tests.operations.helpers import (
    SeededConversation,
    rows_mentioning,
    seed_aggregates,
    seed_conversation,
    snapshot,
    teppan_command,
    teppan_json,
    user_tables,
    write_prediction_line,
)

AGES = {"TEPPAN_RETENTION_DAYS_RAW": "90", "TEPPAN_RETENTION_DAYS_AGGREGATES": "365"}


def test_cutoffs_count_back_from_now_and_raw_cannot_outlive_aggregates() -> None:
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    limits = cutoffs(now, raw_days=90, aggregate_days=730)
    assert limits.raw == now - timedelta(days=90) and limits.aggregate == now - timedelta(days=730)
    assert limits.of("raw") == limits.raw and limits.of("aggregate") == limits.aggregate
    assert cutoffs(now, raw_days=30, aggregate_days=30).raw == now - timedelta(days=30)
    with pytest.raises(ValueError, match="must not exceed"):
        cutoffs(now, raw_days=400, aggregate_days=365)
    with pytest.raises(ValueError, match="at least 1"):
        cutoffs(now, raw_days=0, aggregate_days=365)


def test_only_whole_days_before_the_cutoff_are_expired_files() -> None:
    cutoff = datetime(2026, 3, 10, 15, tzinfo=UTC)
    names = [
        "predictions-2026-03-09.jsonl",
        "predictions-2026-03-10.jsonl",  # holds records after the cutoff too: kept
        "predictions-2025-12-31.jsonl",
        "notes.txt",
        "predictions-2026-03-01.jsonl.bak",
    ]
    assert expired_log_files(names, cutoff) == [
        "predictions-2025-12-31.jsonl",
        "predictions-2026-03-09.jsonl",
    ]


def test_command_status_counts() -> None:
    assert affected_rows("DELETE 12") == 12 and affected_rows("UPDATE 0") == 0


def _counts(report: dict) -> dict[tuple[str, str, str], int]:
    return {(t["table"], t["age"], t["action"]): t["rows"] for t in report["tables"]}


def _rows_of(tables: dict[str, list[str]], needle: str) -> dict[str, list[str]]:
    return {table: [row for row in rows if needle in row] for table, rows in tables.items()}


async def _read(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(sql, *args)
    finally:
        await connection.close()


@pytest.mark.stack
async def test_policy_names_every_table(ops_settings: Settings) -> None:
    assert ops_settings.database_url
    connection = await asyncpg.connect(ops_settings.database_url)
    try:
        tables = set(await user_tables(connection))
    finally:
        await connection.close()
    # A table added by a later migration must be given a retention rule (or be listed as kept).
    assert tables == {rule.table for rule in RULES} | KEPT_TABLES


@pytest.mark.stack
async def test_retention_redacts_and_deletes_by_age_and_keeps_conversations_whole(
    ops_settings: Settings,
) -> None:
    assert ops_settings.database_url
    url = ops_settings.database_url
    now = datetime.now(UTC)
    connection = await asyncpg.connect(url)
    try:
        recent = await seed_conversation(connection, customer_id=201, started_at=now - timedelta(days=1))
        # Began before the raw cutoff but was still going after it: nothing of it may go yet.
        spanning = await seed_conversation(
            connection,
            customer_id=202,
            started_at=now - timedelta(days=100),
            last_at=now - timedelta(days=10),
        )
        old = await seed_conversation(connection, customer_id=203, started_at=now - timedelta(days=200))
        ancient = await seed_conversation(connection, customer_id=204, started_at=now - timedelta(days=400))
        for days_ago in (1, 200, 400):
            await seed_aggregates(connection, now - timedelta(days=days_ago))
        before = await snapshot(connection)
    finally:
        await connection.close()
    files = {
        name: write_prediction_line(ops_settings, seeded, at)
        for name, seeded, at in (
            ("recent", recent, now - timedelta(days=1)),
            ("old", old, now - timedelta(days=200)),
            ("ancient", ancient, now - timedelta(days=400)),
        )
    }

    dry = await teppan_json(ops_settings, "retention", "apply", "--dry-run", **AGES)
    assert dry["dry_run"] is True
    assert await _snapshot(url) == before
    assert all(path.exists() for path in files.values())

    applied = await teppan_json(ops_settings, "retention", "apply", **AGES)
    assert applied["cutoffs"]["raw"]["days"] == 90 and applied["cutoffs"]["aggregate"]["days"] == 365
    assert _counts(applied) == _counts(dry)
    assert _counts(applied) == {
        # raw: the old and the ancient conversation, two messages each
        ("conversation_logs", "raw", "redact"): 2,
        ("messages", "raw", "delete"): 4,
        ("message_analyses", "raw", "delete"): 2,
        ("labels", "raw", "delete"): 2,
        ("prediction_inputs", "raw", "delete"): 2,
        ("predictions", "raw", "delete"): 2,
        ("edge_cases", "raw", "delete"): 2,
        ("metrics_conversations", "raw", "delete"): 2,
        # per-event claims go by their own minute: the spanning conversation's six are old too
        ("metrics_events", "raw", "delete"): 18,
        ("surveys", "raw", "redact"): 2,
        # aggregate: only what is older than a year
        ("conversation_logs", "aggregate", "delete"): 1,
        ("outcomes", "aggregate", "delete"): 1,
        ("surveys", "aggregate", "delete"): 1,
        ("metrics_windows", "aggregate", "delete"): 1,
        ("metrics_hourly_windows", "aggregate", "delete"): 1,
        ("metrics_daily_windows", "aggregate", "delete"): 1,
        ("llm_usage", "aggregate", "delete"): 2,
        ("llm_usage_hourly", "aggregate", "delete"): 1,
        ("alerts_sent", "aggregate", "delete"): 1,
        ("weekly_reports", "aggregate", "delete"): 1,
    }
    assert applied["prediction_log_files"]["deleted"] == sorted([files["ancient"].name, files["old"].name])
    assert dry["prediction_log_files"] == applied["prediction_log_files"]
    assert files["recent"].exists() and not files["old"].exists() and not files["ancient"].exists()

    after = await _snapshot(url)
    # No text of the old or ancient customers is left anywhere ...
    for gone in (old, ancient):
        assert rows_mentioning(after, gone.marker) == {}
    # ... and nothing at all of the ancient conversation.
    assert rows_mentioning(after, str(ancient.conversation_id)) == {}
    # The recent and the spanning conversation are untouched, row for row.
    for kept in (recent, spanning):
        assert _rows_of(after, str(kept.conversation_id)) == _rows_of(before, str(kept.conversation_id))
        assert _rows_of(after, kept.marker) == _rows_of(before, kept.marker)

    await _check_old_conversation_summary(url, old)
    windows = sorted(
        row["window_start"] for row in await _read(url, "SELECT window_start FROM metrics_windows")
    )
    assert windows == [(now - timedelta(days=days)).replace(second=0, microsecond=0) for days in (200, 1)]

    again = await teppan_json(ops_settings, "retention", "apply", **AGES)
    assert set(_counts(again).values()) == {0} and again["prediction_log_files"]["deleted"] == []

    status, out, _ = await teppan_command(ops_settings, "retention", "apply", "--dry-run", **AGES)
    assert status == 0 and "would change" in out and "conversation_logs" in out


async def _check_old_conversation_summary(url: str, old: SeededConversation) -> None:
    """Past the raw age a conversation keeps its summary: roles, tones, intents, outcome, rating, usage."""
    (log,) = await _read(
        url, "SELECT conversation_data, metadata FROM conversation_logs WHERE id = $1", old.conversation_id
    )
    messages = json.loads(log["conversation_data"])["messages"]
    assert [m["role"] for m in messages] == ["customer", "ai"]
    assert all(m["content"] is None for m in messages) and messages[0]["entities_extracted"] is None
    assert messages[0]["detected_tone"] == "casual" and messages[1]["tone_used"] == "warm"
    assert "text_redacted_at" in json.loads(log["metadata"])
    (survey,) = await _read(
        url, "SELECT rating, free_text FROM surveys WHERE conversation_id = $1", old.conversation_id
    )
    assert survey["rating"] == 4 and survey["free_text"] is None
    assert (
        len(await _read(url, "SELECT 1 FROM outcomes WHERE conversation_id = $1", old.conversation_id)) == 1
    )
    assert (
        len(await _read(url, "SELECT 1 FROM llm_usage WHERE conversation_id = $1", old.conversation_id)) == 2
    )


async def _snapshot(url: str) -> dict[str, list[str]]:
    connection = await asyncpg.connect(url)
    try:
        return await snapshot(connection)
    finally:
        await connection.close()


@pytest.mark.stack
async def test_raw_age_longer_than_aggregate_age_is_refused(ops_settings: Settings) -> None:
    status, _, error = await teppan_command(
        ops_settings,
        "retention",
        "apply",
        TEPPAN_RETENTION_DAYS_RAW="400",
        TEPPAN_RETENTION_DAYS_AGGREGATES="365",
    )
    assert status == 1 and "must not exceed" in error
