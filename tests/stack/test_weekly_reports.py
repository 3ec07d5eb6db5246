"""The guide's accuracy criterion and the weekly job, against a real PostgreSQL (a scratch database of
their own, since readiness counts everything stored).

Five weeks of fast-path answers with human labels, 60 a week, whose accuracy climbs and then flattens
near 80%: `teppan ml readiness` must call that a plateau below 85% with scipy's slope, count only the
fast path's answers, and `teppan report weekly --store` must keep one row a day for `report history`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from scipy import stats

from shared.embedded import EmbeddedServers
from shared.settings import Settings
from tests.operations.helpers import scratch_settings
from tests.stack.analytics_helpers import teppan, teppan_json

pytestmark = pytest.mark.stack

LABELS_PER_WEEK = 60
# Correct answers per week: 70%, 78.3%, 80%, 81.7%, 80%.
CORRECT_PER_WEEK = (42, 47, 48, 49, 48)
FIRST_MONDAY = date(2026, 9, 7)


@pytest.fixture
async def settings(stack_servers: EmbeddedServers, tmp_path: Path) -> AsyncIterator[Settings]:
    async with scratch_settings(stack_servers, tmp_path / "data") as settings:
        yield settings


async def seed_labelled_answer(
    connection: asyncpg.Connection, *, at: datetime, path: str, field: str, answer: str, label: str
) -> None:
    message, conversation = uuid.uuid4(), uuid.uuid4()
    analysis = {"path": path, "tone": "casual", "intent": "booking_inquiry", field: answer}
    await connection.execute(
        "INSERT INTO predictions (analysis_event_id, message_event_id, conversation_id, occurred_at, analysis) "
        "VALUES ($1, $2, $3, $4, $5::jsonb)",
        uuid.uuid4(),
        message,
        conversation,
        at,
        json.dumps(analysis),
    )
    await connection.execute(
        "INSERT INTO labels (event_id, message_event_id, conversation_id, field, value, labeller, occurred_at) "
        "VALUES ($1, $2, $3, $4, $5::jsonb, 'test', $6)",
        uuid.uuid4(),
        message,
        conversation,
        field,
        json.dumps(label),
        at + timedelta(hours=1),
    )


async def seed_weeks(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        for week, correct in enumerate(CORRECT_PER_WEEK):
            monday = datetime.combine(FIRST_MONDAY + timedelta(weeks=week), datetime.min.time(), UTC)
            for i in range(LABELS_PER_WEEK):
                field = "tone" if i % 2 == 0 else "intent"
                right = "casual" if field == "tone" else "booking_inquiry"
                answer = right if i < correct else ("formal" if field == "tone" else "other")
                at = monday + timedelta(days=i % 7, minutes=i)
                await seed_labelled_answer(connection, at=at, path="fast", field=field, answer=answer, label=right)
                # The escalation model's answers to the same kind of turn, all right: not the rules', so
                # they must not lift the rules' accuracy.
                await seed_labelled_answer(connection, at=at, path="ml", field=field, answer=right, label=right)
    finally:
        await connection.close()


async def test_readiness_reports_the_fast_paths_plateau_and_the_weekly_job_keeps_history(
    settings: Settings,
) -> None:
    assert settings.database_url
    await seed_weeks(settings.database_url)

    trend = (await teppan_json(settings, "ml", "readiness"))["rules_accuracy"]
    weeks = [(w["week_start"], w["labelled"], w["accuracy"]) for w in trend["weeks"]]
    assert weeks == [
        ((FIRST_MONDAY + timedelta(weeks=i)).isoformat(), LABELS_PER_WEEK, pytest.approx(c / LABELS_PER_WEEK))
        for i, c in enumerate(CORRECT_PER_WEEK)
    ]
    recent = [c / LABELS_PER_WEEK for c in CORRECT_PER_WEEK[-4:]]
    assert trend["gain_per_week"] == pytest.approx(stats.linregress(range(4), recent).slope)
    assert trend["recent_accuracy"] == pytest.approx(sum(CORRECT_PER_WEEK[-4:]) / (4 * LABELS_PER_WEEK))
    assert trend["plateaued_below_target"] is True
    text = await teppan(settings, "ml", "readiness")
    assert "[ok] fast-path accuracy plateau" in text and "80.0% over the last 4 labelled weeks, +0.67 points a week" in text

    assert (await teppan_json(settings, "report", "history"))["reports"] == []
    first = await teppan_json(settings, "report", "weekly", "--store")
    again = await teppan_json(settings, "report", "weekly", "--store")
    assert first.keys() == again.keys()
    history = (await teppan_json(settings, "report", "history"))["reports"]
    assert len(history) == 1, "a rerun on the same day replaces that day's row"
    (row,) = history
    assert row["report_date"] == datetime.now(UTC).date().isoformat()
    assert row["kpis"] == again
    assert row["readiness"]["rules_accuracy"]["plateaued_below_target"] is True
    assert row["readiness"]["counts"]["labeled_tone"] == 5 * LABELS_PER_WEEK  # distinct messages, both paths
    assert "No weekly report" not in await teppan(settings, "report", "history")
