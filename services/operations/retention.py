"""`teppan retention apply`: deletes or redacts what is older than the raw and aggregate retention ages.

Policy. "Raw" (TEPPAN_RETENTION_DAYS_RAW, default 90) is text a customer wrote and anything kept per
message or per event; "aggregate" (TEPPAN_RETENTION_DAYS_AGGREGATES, default 730) is what reports are
made from and holds no customer text. Raw must not outlive aggregates.

| table                 | age       | action                                                              |
|-----------------------|-----------|---------------------------------------------------------------------|
| conversation_logs     | raw       | redact: each message's `content` and `entities_extracted` set to null |
| messages              | raw       | delete                                                              |
| message_analyses      | raw       | delete                                                              |
| labels                | raw       | delete (a label without its message's text teaches nothing)         |
| prediction_inputs     | raw       | delete                                                              |
| predictions           | raw       | delete (`record` holds the input text)                              |
| edge_cases            | raw       | delete (they point at messages that are gone)                       |
| metrics_conversations | raw       | delete (per-conversation working state of the metrics worker)       |
| metrics_events        | raw       | delete (the metrics worker's per-event de-duplication claims)       |
| surveys               | raw       | redact: `free_text` set to null; the rating stays                   |
| predictions-*.jsonl   | raw       | delete whole daily files of the prediction log                      |
| conversation_logs     | aggregate | delete                                                              |
| outcomes              | aggregate | delete                                                              |
| surveys               | aggregate | delete                                                              |
| metrics_windows       | aggregate | delete                                                              |
| metrics_hourly_windows, metrics_daily_windows | aggregate | delete (the rollups the owner's page reads) |
| llm_usage             | aggregate | delete                                                              |
| llm_usage_hourly      | aggregate | delete (the hourly token rollup the owner's page prices)            |
| alerts_sent           | aggregate | delete (alert history)                                              |
| weekly_reports        | aggregate | delete (the weekly job's stored KPIs and readiness)                 |

Kept: `alert_state` (the alert rules' current state, not history) and `schema_migrations`.

Whole conversations, never parts of one: `refresh_conversation_logs` rebuilds a conversation's log row
from its messages, analyses, outcomes, surveys and labels, so removing only some of them would change
the row the next time anything about that conversation arrives. A message-level row therefore goes only
when its conversation has no message or analysis newer than the raw cutoff, and a conversation's log,
outcomes and surveys only when nothing of it is newer than the aggregate cutoff. The conversations'
last activity is snapshotted once, at the start, into a temporary table, and everything runs in one
transaction: a dry run is the same transaction rolled back, so its counts are exact.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import asyncpg

from services.analytics.edge_cases.prediction_log import prediction_log_dir
from shared.db import database_url, transaction
from shared.settings import Settings

Age = Literal["raw", "aggregate"]
Action = Literal["delete", "redact"]


@dataclass(frozen=True)
class RetentionRule:
    table: str
    age: Age
    action: Action
    what: str
    # One statement; $1 is the cutoff of `age`. It may read `retention_conversations` (see SNAPSHOT_SQL).
    sql: str


@dataclass(frozen=True)
class Cutoffs:
    raw: datetime
    aggregate: datetime

    def of(self, age: Age) -> datetime:
        return self.raw if age == "raw" else self.aggregate


# Each conversation's newest per-message activity (messages, analyses) and newest activity of any kind.
SNAPSHOT_SQL = (
    "CREATE TEMPORARY TABLE retention_conversations ON COMMIT DROP AS "
    "SELECT conversation_id, max(at) FILTER (WHERE per_message) AS last_message_at,"
    " max(at) AS last_activity_at "
    "FROM ("
    " SELECT conversation_id, occurred_at AS at, true AS per_message FROM messages"
    " UNION ALL SELECT conversation_id, occurred_at, true FROM message_analyses"
    " UNION ALL SELECT id, timestamp, false FROM conversation_logs"
    " UNION ALL SELECT conversation_id, occurred_at, false FROM outcomes"
    " UNION ALL SELECT conversation_id, occurred_at, false FROM surveys"
    ") AS activity GROUP BY conversation_id"
)
SNAPSHOT_INDEX_SQL = "ALTER TABLE retention_conversations ADD PRIMARY KEY (conversation_id)"

# A message-level row goes once its conversation has no message or analysis since the raw cutoff; a
# conversation-level row once its conversation has nothing at all since the aggregate cutoff.
RULES: tuple[RetentionRule, ...] = (
    RetentionRule(
        "conversation_logs",
        "raw",
        "redact",
        "message text and extracted entities in the seed-shaped log",
        "UPDATE conversation_logs AS c SET conversation_data = jsonb_set(c.conversation_data, '{messages}', ("
        " SELECT COALESCE(jsonb_agg(m || jsonb_build_object('content', NULL)"
        " || CASE WHEN m ? 'entities_extracted' THEN jsonb_build_object('entities_extracted', NULL)"
        " ELSE '{}'::jsonb END ORDER BY position), '[]'::jsonb)"
        " FROM jsonb_array_elements(c.conversation_data -> 'messages') WITH ORDINALITY AS e(m, position))),"
        " metadata = COALESCE(c.metadata, '{}'::jsonb) || jsonb_build_object('text_redacted_at', now())"
        " FROM retention_conversations r WHERE r.conversation_id = c.id AND r.last_message_at < $1"
        " AND jsonb_path_exists(c.conversation_data,"
        " '$.messages[*] ? (@.content != null || @.entities_extracted != null)')",
    ),
    RetentionRule(
        "messages",
        "raw",
        "delete",
        "chat messages (their text)",
        "DELETE FROM messages AS x WHERE x.occurred_at < $1 AND"
        " NOT EXISTS (SELECT 1 FROM retention_conversations r"
        " WHERE r.conversation_id = x.conversation_id AND r.last_message_at >= $1)",
    ),
    RetentionRule(
        "message_analyses",
        "raw",
        "delete",
        "per-message NLP analyses",
        "DELETE FROM message_analyses AS x WHERE x.occurred_at < $1 AND"
        " NOT EXISTS (SELECT 1 FROM retention_conversations r"
        " WHERE r.conversation_id = x.conversation_id AND r.last_message_at >= $1)",
    ),
    RetentionRule(
        "labels",
        "raw",
        "delete",
        "human corrections of messages",
        "DELETE FROM labels AS x WHERE x.occurred_at < $1 AND"
        " NOT EXISTS (SELECT 1 FROM retention_conversations r"
        " WHERE r.conversation_id = x.conversation_id AND r.last_message_at >= $1)",
    ),
    RetentionRule(
        "prediction_inputs",
        "raw",
        "delete",
        "the customer text predictions were made on",
        "DELETE FROM prediction_inputs AS x WHERE x.occurred_at < $1 AND"
        " NOT EXISTS (SELECT 1 FROM retention_conversations r"
        " WHERE r.conversation_id = x.conversation_id AND r.last_message_at >= $1)",
    ),
    RetentionRule(
        "predictions",
        "raw",
        "delete",
        "prediction records (with their input text)",
        "DELETE FROM predictions AS x WHERE x.occurred_at < $1 AND"
        " NOT EXISTS (SELECT 1 FROM retention_conversations r"
        " WHERE r.conversation_id = x.conversation_id AND r.last_message_at >= $1)",
    ),
    RetentionRule(
        "edge_cases",
        "raw",
        "delete",
        "edge-case flags on messages",
        "DELETE FROM edge_cases AS x WHERE x.flagged_at < $1 AND"
        " NOT EXISTS (SELECT 1 FROM retention_conversations r"
        " WHERE r.conversation_id = x.conversation_id AND r.last_message_at >= $1)",
    ),
    RetentionRule(
        "metrics_conversations",
        "raw",
        "delete",
        "the metrics worker's per-conversation state",
        "DELETE FROM metrics_conversations AS x USING retention_conversations r "
        "WHERE r.conversation_id = x.conversation_id AND r.last_message_at < $1",
    ),
    RetentionRule(
        "metrics_events",
        "raw",
        "delete",
        "the metrics worker's per-event de-duplication claims",
        "DELETE FROM metrics_events WHERE window_start < $1",
    ),
    RetentionRule(
        "surveys",
        "raw",
        "redact",
        "survey free text (ratings stay)",
        "UPDATE surveys SET free_text = NULL WHERE occurred_at < $1 AND free_text IS NOT NULL",
    ),
    RetentionRule(
        "conversation_logs",
        "aggregate",
        "delete",
        "seed-shaped conversation rows",
        "DELETE FROM conversation_logs AS x WHERE x.timestamp < $1 AND"
        " NOT EXISTS (SELECT 1 FROM retention_conversations r"
        " WHERE r.conversation_id = x.id AND r.last_activity_at >= $1)",
    ),
    RetentionRule(
        "outcomes",
        "aggregate",
        "delete",
        "booking outcomes",
        "DELETE FROM outcomes AS x WHERE x.occurred_at < $1 AND"
        " NOT EXISTS (SELECT 1 FROM retention_conversations r"
        " WHERE r.conversation_id = x.conversation_id AND r.last_activity_at >= $1)",
    ),
    RetentionRule(
        "surveys",
        "aggregate",
        "delete",
        "survey ratings",
        "DELETE FROM surveys AS x WHERE x.occurred_at < $1 AND"
        " NOT EXISTS (SELECT 1 FROM retention_conversations r"
        " WHERE r.conversation_id = x.conversation_id AND r.last_activity_at >= $1)",
    ),
    RetentionRule(
        "metrics_windows",
        "aggregate",
        "delete",
        "one-minute metrics windows",
        "DELETE FROM metrics_windows WHERE window_start < $1",
    ),
    RetentionRule(
        "metrics_hourly_windows",
        "aggregate",
        "delete",
        "hourly rollups of the metrics windows (the owner's page)",
        "DELETE FROM metrics_hourly_windows WHERE window_start < $1",
    ),
    RetentionRule(
        "metrics_daily_windows",
        "aggregate",
        "delete",
        "daily rollups of the metrics windows (the owner's page)",
        "DELETE FROM metrics_daily_windows WHERE window_start < $1",
    ),
    RetentionRule(
        "llm_usage",
        "aggregate",
        "delete",
        "LLM token usage (cost history)",
        "DELETE FROM llm_usage WHERE occurred_at < $1",
    ),
    RetentionRule(
        "llm_usage_hourly",
        "aggregate",
        "delete",
        "hourly LLM token rollup (the owner's page)",
        "DELETE FROM llm_usage_hourly WHERE hour_start < $1",
    ),
    RetentionRule(
        "alerts_sent",
        "aggregate",
        "delete",
        "alert history",
        "DELETE FROM alerts_sent WHERE fired_at < $1",
    ),
    RetentionRule(
        "weekly_reports",
        "aggregate",
        "delete",
        "the weekly job's stored KPIs and readiness",
        "DELETE FROM weekly_reports WHERE period_end < $1",
    ),
)

# Tables no rule touches: the alert rules' current state (not history) and the migration ledger.
KEPT_TABLES: frozenset[str] = frozenset({"alert_state", "schema_migrations"})

PREDICTION_LOG_FILE = re.compile(r"^predictions-(\d{4}-\d{2}-\d{2})\.jsonl$")


# --- pure core ---------------------------------------------------------------------------------------


def cutoffs(now: datetime, *, raw_days: int, aggregate_days: int) -> Cutoffs:
    if raw_days < 1 or aggregate_days < 1:
        raise ValueError("retention ages are whole days, at least 1")
    if raw_days > aggregate_days:
        # Aggregate rules delete whole conversations, which would leave raw rows of them behind.
        raise ValueError(
            f"TEPPAN_RETENTION_DAYS_RAW ({raw_days}) must not exceed "
            f"TEPPAN_RETENTION_DAYS_AGGREGATES ({aggregate_days})"
        )
    now = now.astimezone(UTC)
    return Cutoffs(raw=now - timedelta(days=raw_days), aggregate=now - timedelta(days=aggregate_days))


def affected_rows(status: str) -> int:
    """asyncpg's command status (`DELETE 3`, `UPDATE 0`) -> the row count."""
    return int(status.rsplit(" ", 1)[-1])


def expired_log_files(names: Sequence[str], cutoff: datetime) -> list[str]:
    """Daily prediction-log files whose every record is older than `cutoff` (the day before its date)."""
    expired = []
    for name in names:
        match = PREDICTION_LOG_FILE.match(name)
        if match and date.fromisoformat(match.group(1)) < cutoff.astimezone(UTC).date():
            expired.append(name)
    return sorted(expired)


@dataclass(frozen=True)
class TableResult:
    table: str
    age: Age
    action: Action
    what: str
    rows: int


# --- adapter -----------------------------------------------------------------------------------------


async def apply_rules(
    connection: asyncpg.Connection, limits: Cutoffs, rules: Sequence[RetentionRule] = RULES
) -> list[TableResult]:
    """Runs the snapshot and every rule on `connection`, which must be inside a transaction."""
    await connection.execute(SNAPSHOT_SQL)
    await connection.execute(SNAPSHOT_INDEX_SQL)
    results = []
    for rule in rules:
        status = await connection.execute(rule.sql, limits.of(rule.age))
        results.append(TableResult(rule.table, rule.age, rule.action, rule.what, affected_rows(status)))
    return results


def _file_names(directory: Path) -> list[str]:
    return [path.name for path in directory.iterdir()] if directory.is_dir() else []


def _delete_files(directory: Path, names: Sequence[str]) -> None:
    for name in names:
        (directory / name).unlink(missing_ok=True)


async def apply_retention(
    settings: Settings, *, dry_run: bool = False, now: datetime | None = None
) -> dict[str, Any]:
    """Applies the policy; with `dry_run` it reports the same counts and changes nothing."""
    limits = cutoffs(
        now or datetime.now(UTC),
        raw_days=settings.retention_days_raw,
        aggregate_days=settings.retention_days_aggregates,
    )
    log_dir = prediction_log_dir(settings)
    expired_files = expired_log_files(await asyncio.to_thread(_file_names, log_dir), limits.raw)
    connection = await asyncpg.connect(database_url(settings))
    try:
        async with transaction(connection, dry_run=dry_run):
            results = await apply_rules(connection, limits)
    finally:
        await connection.close()
    if not dry_run:
        # After the commit: a failed commit leaves the files, and a rerun deletes them.
        await asyncio.to_thread(_delete_files, log_dir, expired_files)
    return {
        "dry_run": dry_run,
        "cutoffs": {
            "raw": {"days": settings.retention_days_raw, "before": limits.raw.isoformat()},
            "aggregate": {"days": settings.retention_days_aggregates, "before": limits.aggregate.isoformat()},
        },
        "tables": [asdict(result) for result in results],
        "prediction_log_files": {"directory": str(log_dir), "deleted": expired_files},
    }
