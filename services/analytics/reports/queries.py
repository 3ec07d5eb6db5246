"""Read side of analytics: the PostgreSQL queries behind the reports, `/metrics` and the alert rules.

Each function returns the pure cores' inputs (Usage, ConversationResult, ReadinessCounts, ...); the cores
compute the figures. Every value is passed as a query parameter.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.analytics.metrics.windows import MetricsWindow, merge_windows
from services.analytics.reports.costs import Budgets, PriceTable, Usage, cost_report
from services.analytics.reports.experiments import ConversationResult, LabelCheck, experiment_report
from services.analytics.reports.readiness import (
    GROWTH_WINDOW_DAYS,
    LabelledWeek,
    ReadinessCounts,
    WeeklyInputs,
    readiness_report,
    rules_accuracy_trend,
    weekly_kpis,
)
from services.common.experiments import Experiment

MONTH = timedelta(days=30)
WEEK = timedelta(days=7)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


async def merged_window(connection: Any, since: datetime, until: datetime) -> MetricsWindow | None:
    """The stored one-minute windows starting in [since, until), merged (sketches merged, not averaged)."""
    rows = await connection.fetch(
        "SELECT state FROM metrics_windows WHERE window_start >= $1 AND window_start < $2 ORDER BY window_start",
        since,
        until,
    )
    return merge_windows(MetricsWindow.from_json(json.loads(row["state"])) for row in rows)


# Which usage rows are priced: a conversation whose LLM calls arrive as ServiceCalls is priced from those
# (every real API call, retries and failures included); its AI messages carry the same tokens again, so
# they price only conversations that report no LLM ServiceCall. Rows are summed per conversation, model
# and UTC day, which is exact since a price applies per model and day.
USAGE_SQL = """
SELECT u.conversation_id, u.provider, u.model, (u.occurred_at AT TIME ZONE 'UTC')::date AS day,
       sum(u.tokens_in) AS tokens_in, sum(u.tokens_out) AS tokens_out
FROM llm_usage u
WHERE (u.source = 'service_call' OR NOT EXISTS (
        SELECT 1 FROM llm_usage c WHERE c.conversation_id = u.conversation_id AND c.source = 'service_call'))
  AND u.occurred_at >= $1 AND u.occurred_at < $2
GROUP BY 1, 2, 3, 4
"""
EVER = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


async def usages(connection: Any, since: datetime = EVER[0], until: datetime = EVER[1]) -> list[Usage]:
    rows = await connection.fetch(USAGE_SQL, since, until)
    return [
        Usage(
            conversation_id=str(row["conversation_id"]),
            provider=row["provider"],
            model=row["model"],
            tokens_in=int(row["tokens_in"]),
            tokens_out=int(row["tokens_out"]),
            at=day_start(row["day"]),
        )
        for row in rows
    ]


async def costs(
    connection: Any,
    prices: PriceTable,
    budgets: Budgets,
    *,
    since: date | None = None,
    until: date | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """The costs report over UTC days [since, until] (inclusive; default everything)."""
    start = day_start(since) if since else EVER[0]
    end = day_start(until + timedelta(days=1)) if until else EVER[1]
    bookings = await connection.fetchval(
        "SELECT count(DISTINCT conversation_id) FROM outcomes WHERE booked AND occurred_at >= $1 "
        "AND occurred_at < $2",
        start,
        end,
    )
    report = cost_report(
        await usages(connection, start, end), prices, bookings=int(bookings), budgets=budgets, today=today
    )
    if since is None and until is None:
        return report
    # The budget always speaks of today and this month, whatever range the rest of the report covers.
    today = today or datetime.now(UTC).date()
    month = day_start(today.replace(day=1))
    report["budget"] = cost_report(
        await usages(connection, month, day_start(today + timedelta(days=1))),
        prices,
        bookings=0,
        budgets=budgets,
        today=today,
    )["budget"]
    return report


# Every conversation with a turn stamped with the experiment that started while it ran, whether or not it
# ever sent an outcome (a customer who leaves sends none and must still count as exposed). Its latest outcome
# and survey, when there are any; attribution to the unit's first exposure is the pure core's job.
EXPERIMENT_SQL = """
WITH assigned AS (
    SELECT m.conversation_id,
           (array_agg(m.experiments ->> $1 ORDER BY m.turn_index) FILTER (WHERE m.experiments ? $1))[1] AS variant,
           (array_agg(m.customer_id ORDER BY m.turn_index) FILTER (WHERE m.customer_id IS NOT NULL))[1]
               AS customer_id,
           min(m.occurred_at) AS started_at,
           count(*) AS turns
    FROM messages m
    GROUP BY m.conversation_id
    HAVING bool_or(m.experiments ? $1)
)
SELECT a.conversation_id, a.variant, a.customer_id, a.turns, a.started_at,
       coalesce(o.booked, false) AS booked, o.occurred_at AS outcome_at, o.total_value,
       coalesce(jsonb_array_length(o.offered_upsells), 0) AS offered,
       coalesce(jsonb_array_length(o.accepted_upsells), 0) AS accepted,
       s.rating
FROM assigned a
LEFT JOIN LATERAL (SELECT * FROM outcomes WHERE conversation_id = a.conversation_id
                   ORDER BY occurred_at DESC, event_id LIMIT 1) o ON true
LEFT JOIN LATERAL (SELECT rating FROM surveys WHERE conversation_id = a.conversation_id
                   ORDER BY occurred_at DESC, event_id LIMIT 1) s ON true
WHERE a.started_at >= $2 AND a.started_at < $3
"""


async def experiment_results(connection: Any, experiment: Experiment) -> list[ConversationResult]:
    """Every exposed conversation that started while the experiment ran, with its outcome when it has one."""
    rows = await connection.fetch(
        EXPERIMENT_SQL, experiment.name, experiment.start, experiment.end or EVER[1]
    )
    return [
        ConversationResult(
            unit_id=experiment.unit_id(
                None if row["customer_id"] is None else str(row["customer_id"]), str(row["conversation_id"])
            ),
            variant=row["variant"],
            booked=row["booked"],
            turns=int(row["turns"]),
            upsells_offered=int(row["offered"]),
            upsells_accepted=int(row["accepted"]),
            rating=row["rating"],
            booking_value=None if row["total_value"] is None else float(row["total_value"]),
            started_at=row["started_at"],
            booked_at=row["outcome_at"] if row["booked"] else None,
        )
        for row in rows
    ]


# Human tone and intent labels on turns of the experiment's exposed conversations, each with whether the
# answer kept for that turn (message_analyses: the ML path's when the turn was escalated) agreed. The
# conversation's variant is its first stamped turn's, as in EXPERIMENT_SQL.
EXPERIMENT_LABELS_SQL = """
WITH assigned AS (
    SELECT m.conversation_id,
           (array_agg(m.experiments ->> $1 ORDER BY m.turn_index) FILTER (WHERE m.experiments ? $1))[1] AS variant,
           min(m.occurred_at) AS started_at
    FROM messages m
    GROUP BY m.conversation_id
    HAVING bool_or(m.experiments ? $1)
)
SELECT a.variant, l.field,
       CASE l.field WHEN 'tone' THEN ma.detected_tone ELSE ma.detected_intent END = l.value #>> '{}' AS correct
FROM labels l
JOIN assigned a ON a.conversation_id = l.conversation_id
JOIN message_analyses ma ON ma.message_event_id = l.message_event_id
WHERE l.field IN ('tone', 'intent') AND a.started_at >= $2 AND a.started_at < $3
"""


async def experiment_label_checks(connection: Any, experiment: Experiment) -> list[LabelCheck]:
    rows = await connection.fetch(
        EXPERIMENT_LABELS_SQL, experiment.name, experiment.start, experiment.end or EVER[1]
    )
    return [LabelCheck(row["variant"], row["field"], bool(row["correct"])) for row in rows]


async def experiment(connection: Any, definition: Experiment) -> dict[str, Any]:
    return experiment_report(
        definition,
        await experiment_results(connection, definition),
        await experiment_label_checks(connection, definition),
    )


async def readiness_counts(connection: Any, as_of: datetime, active_since: datetime) -> ReadinessCounts:
    """Seed 000's readiness counts of what happened before `as_of`; monthly actives from `active_since`."""
    row = await connection.fetchrow(
        "SELECT"
        " (SELECT count(*) FROM conversation_logs WHERE timestamp < $1) AS conversations,"
        " (SELECT count(DISTINCT message_event_id) FROM labels WHERE field = 'tone' AND occurred_at < $1)"
        "   AS labeled_tone,"
        " (SELECT count(DISTINCT conversation_id) FROM outcomes WHERE occurred_at < $1) AS booking_outcomes,"
        " (SELECT count(*) FROM surveys WHERE occurred_at < $1) AS surveys,"
        " (SELECT count(DISTINCT conversation_id) FROM edge_cases WHERE flagged_at < $1) AS edge_cases,"
        " (SELECT count(DISTINCT customer_id) FROM messages WHERE occurred_at < $1 AND occurred_at >= $2)"
        "   AS monthly_active_customers",
        as_of,
        active_since,
    )
    return ReadinessCounts(**{name: int(value) for name, value in dict(row).items()})


async def readiness(connection: Any, now: datetime | None = None) -> dict[str, Any]:
    """The readiness report: counts now, and the growth rate of the last four weeks for the estimate."""
    now = now or datetime.now(UTC)
    # Everything stored counts, including events stamped a little ahead of this clock.
    current = await readiness_counts(connection, EVER[1], now - MONTH)
    trend = rules_accuracy_trend(await labelled_weeks(connection))
    first = await connection.fetchval("SELECT min(timestamp) FROM conversation_logs")
    if first is None:
        return readiness_report(current, rules_accuracy=trend)
    age_days = (now - first).total_seconds() / 86400
    if age_days >= GROWTH_WINDOW_DAYS:
        then = now - timedelta(days=GROWTH_WINDOW_DAYS)
        earlier = await readiness_counts(connection, then, then - MONTH)
        return readiness_report(current, earlier, window_days=GROWTH_WINDOW_DAYS, rules_accuracy=trend)
    # Younger than the window: growth since the first conversation (the pure core's documented fallback).
    return readiness_report(current, ReadinessCounts(), window_days=max(age_days, 1.0), rules_accuracy=trend)


# The fast path's answers that humans labelled, by the (ISO, Monday) week the answer was made in: tone and
# intent labels pooled, each label counted (two labellers on one turn are two checks). `predictions` keeps
# every analysis the edge-cases worker saw, the fast path's too, even where an ML answer replaced it in
# `message_analyses`.
LABELLED_WEEKS_SQL = """
SELECT (date_trunc('week', p.occurred_at AT TIME ZONE 'UTC'))::date AS week_start,
       count(*) AS labelled,
       count(*) FILTER (WHERE p.analysis ->> l.field = l.value #>> '{}') AS correct
FROM labels l
JOIN predictions p ON p.message_event_id = l.message_event_id AND p.analysis ->> 'path' = 'fast'
WHERE l.field IN ('tone', 'intent')
GROUP BY 1
ORDER BY 1
"""


async def labelled_weeks(connection: Any) -> list[LabelledWeek]:
    rows = await connection.fetch(LABELLED_WEEKS_SQL)
    return [LabelledWeek(row["week_start"], int(row["labelled"]), int(row["correct"])) for row in rows]


async def weekly(connection: Any, now: datetime | None = None) -> dict[str, Any]:
    """`teppan report weekly`: the seven days up to `now`."""
    kpis, _ = await weekly_with_readiness(connection, now or datetime.now(UTC))
    return kpis


async def store_weekly(connection: Any, now: datetime | None = None) -> dict[str, Any]:
    """`teppan report weekly --store` (the weekly job): the report, kept with the readiness report in
    `weekly_reports` under today's UTC date (a rerun the same day replaces it)."""
    now = now or datetime.now(UTC)
    kpis, readiness_document = await weekly_with_readiness(connection, now)
    await connection.execute(
        "INSERT INTO weekly_reports (report_date, period_start, period_end, kpis, readiness) "
        "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb) ON CONFLICT (report_date) DO UPDATE SET "
        "period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end, kpis = EXCLUDED.kpis, "
        "readiness = EXCLUDED.readiness, stored_at = clock_timestamp()",
        now.astimezone(UTC).date(),
        now - WEEK,
        now,
        json.dumps(kpis),
        json.dumps(readiness_document),
    )
    return kpis


async def weekly_history(connection: Any, limit: int) -> list[dict[str, Any]]:
    """The stored weekly reports, oldest first (the last `limit`), for drawing the trend."""
    rows = await connection.fetch(
        "SELECT * FROM (SELECT report_date, period_start, period_end, kpis, readiness FROM weekly_reports "
        "ORDER BY report_date DESC LIMIT $1) AS recent ORDER BY report_date",
        limit,
    )
    return [
        {
            "report_date": row["report_date"].isoformat(),
            "period_start": row["period_start"].isoformat(),
            "period_end": row["period_end"].isoformat(),
            "kpis": json.loads(row["kpis"]),
            "readiness": json.loads(row["readiness"]),
        }
        for row in rows
    ]


async def weekly_with_readiness(connection: Any, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The weekly KPIs of the seven days up to `now`, and the readiness report they include."""
    since = now - WEEK
    row = await connection.fetchrow(
        "SELECT"
        " (SELECT count(*) FROM conversation_logs WHERE timestamp >= $1 AND timestamp < $2) AS this_week,"
        " (SELECT count(*) FROM conversation_logs) AS total,"
        " (SELECT count(*) FROM messages WHERE role = 'customer' AND occurred_at >= $1 AND occurred_at < $2)"
        "   AS labellable,"
        " (SELECT count(DISTINCT m.event_id) FROM messages m JOIN labels l ON l.message_event_id = m.event_id"
        "   AND l.field = 'tone' WHERE m.role = 'customer' AND m.occurred_at >= $1 AND m.occurred_at < $2)"
        "   AS labelled,"
        " (SELECT count(DISTINCT conversation_id) FROM outcomes WHERE booked AND occurred_at >= $1"
        "   AND occurred_at < $2) AS bookings,"
        " (SELECT coalesce(sum(jsonb_array_length(offered_upsells)), 0) FROM outcomes"
        "   WHERE occurred_at >= $1 AND occurred_at < $2) AS offered,"
        " (SELECT coalesce(sum(jsonb_array_length(accepted_upsells)), 0) FROM outcomes"
        "   WHERE occurred_at >= $1 AND occurred_at < $2) AS accepted,"
        " (SELECT coalesce(sum(total_value), 0) FROM outcomes WHERE booked AND total_value IS NOT NULL"
        "   AND occurred_at >= $1 AND occurred_at < $2) AS value_sum,"
        " (SELECT count(*) FROM outcomes WHERE booked AND total_value IS NOT NULL"
        "   AND occurred_at >= $1 AND occurred_at < $2) AS value_count",
        since,
        now,
    )
    # Column names come from this constant pair only; the values are parameters.
    accuracy = {
        field: await connection.fetchrow(
            f"SELECT count(*) AS labelled, count(*) FILTER (WHERE a.{column} = l.value #>> '{{}}') AS correct "  # noqa: S608
            "FROM labels l JOIN message_analyses a ON a.message_event_id = l.message_event_id "
            "WHERE l.field = $1 AND l.occurred_at >= $2 AND l.occurred_at < $3",
            field,
            since,
            now,
        )
        for field, column in (("tone", "detected_tone"), ("intent", "detected_intent"))
    }
    window = await merged_window(connection, since, now)
    inputs = WeeklyInputs(
        conversations_this_week=int(row["this_week"]),
        total_conversations=int(row["total"]),
        labelled_items=int(row["labelled"]),
        labellable_items=int(row["labellable"]),
        tone_correct=int(accuracy["tone"]["correct"]),
        tone_labelled=int(accuracy["tone"]["labelled"]),
        intent_correct=int(accuracy["intent"]["correct"]),
        intent_labelled=int(accuracy["intent"]["labelled"]),
        response_time=window.nlp_latency_ms if window and window.nlp_latency_ms.count else None,
        bookings=int(row["bookings"]),
        upsells_offered=int(row["offered"]),
        upsells_accepted=int(row["accepted"]),
        booking_value_sum=float(row["value_sum"]),
        booking_values=int(row["value_count"]),
    )
    readiness_document = await readiness(connection, now)
    return weekly_kpis(inputs, readiness_document), readiness_document
