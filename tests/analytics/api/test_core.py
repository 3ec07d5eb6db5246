"""The owner's API's pure core: spans and buckets, the overview from hourly rollups, label validation and
events, Cohen's kappa. No database."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.analytics.api import core
from services.analytics.metrics.sketches import LatencySketch
from services.analytics.metrics.windows import DAY, HOUR, MetricsAggregator, MetricsWindow, rollup_windows
from services.analytics.reports.costs import Budgets, Price, PriceTable

NOW = datetime(2026, 12, 6, 16, 42, 7, tzinfo=UTC)


# --- Spans --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "count", "bucket", "since"),
    [
        ("day", 24, "hour", datetime(2026, 12, 5, 17, tzinfo=UTC)),
        ("week", 7, "day", datetime(2026, 11, 30, tzinfo=UTC)),
        ("month", 30, "day", datetime(2026, 11, 7, tzinfo=UTC)),
    ],
)
def test_span_ends_with_the_bucket_holding_now(name: str, count: int, bucket: str, since: datetime) -> None:
    span = core.span_of(name, NOW)
    assert span.bucket == bucket and span.since == since
    assert len(span.starts) == count and span.starts[0] == since
    assert span.starts[-1] <= NOW < span.until
    assert span.bucket_of(NOW) == span.starts[-1]


def test_parameters_are_checked_without_quoting_them() -> None:
    assert core.parse_range(None) == "day" and core.parse_range("month") == "month"
    with pytest.raises(core.ParameterError) as raised:
        core.parse_range("decade<script>")
    assert "script" not in json.dumps(raised.value.detail)
    assert core.parse_limit(None, default=20, maximum=200) == 20
    assert core.parse_limit("7", default=20, maximum=200) == 7
    for bad in ("0", "201", "-1", "1e3", "x"):
        with pytest.raises(core.ParameterError):
            core.parse_limit(bad, default=20, maximum=200)
    assert core.parse_customer_id("-12") == -12
    with pytest.raises(core.ParameterError):
        core.parse_customer_id("99999999999")


FIXED_PARAMETER_ERRORS = [
    [{"loc": ["query", "range"], "type": "literal_error", "msg": "must be 'day', 'week' or 'month'"}],
    [{"loc": ["query", "limit"], "type": "int_parsing", "msg": "must be a whole number"}],
    [{"loc": ["query", "limit"], "type": "range_error", "msg": "must be between 1 and 50"}],
    [{"loc": ["query", "customer_id"], "type": "int_parsing", "msg": "must be an integer"}],
]


@given(st.text(max_size=80))
def test_query_parameters_only_ever_raise_parameter_errors(text: str) -> None:
    for parse in (
        lambda: core.parse_range(text),
        lambda: core.parse_limit(text, default=5, maximum=50),
        lambda: core.parse_customer_id(text),
    ):
        try:
            parse()
        except core.ParameterError as error:
            # Every answer is one of the fixed bodies, so none can carry the input. (A check that the input
            # is not a substring of the body failed on "limi", a piece of the parameter's name "limit".)
            assert error.detail in FIXED_PARAMETER_ERRORS
    core.search_words(text)
    core.id_match(text)


def test_id_match_takes_whole_ids_and_hex_prefixes() -> None:
    conversation = uuid.UUID("0b7e3d2a-1c4f-4e8a-9d6b-5f2c8a1e7b90")
    whole = core.id_match(str(conversation))
    assert whole is not None and whole.low == whole.high == conversation
    prefix = core.id_match("0B7E3D2A")
    assert prefix is not None and prefix.low <= conversation <= prefix.high
    assert str(prefix.low).startswith("0b7e3d2a-0000") and str(prefix.high).startswith("0b7e3d2a-ffff")
    assert core.id_match("0b7e3d2") is None  # 7 digits: too short
    assert core.id_match("hibachis") is None  # not hex
    assert core.search_words("  ") is None and core.search_words("lobster") == "lobster"


# --- Sketches and the overview ------------------------------------------------------------------------------

latencies = st.lists(st.floats(min_value=0.0, max_value=1e6, allow_nan=False), max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.lists(latencies, min_size=1, max_size=5))
def test_sketch_json_merge_matches_merging_sketches(groups: list[list[float]]) -> None:
    sketches = []
    for group in groups:
        sketch = LatencySketch()
        for value in group:
            sketch.add(value)
        sketches.append(sketch)
    merged: dict[str, Any] | None = None
    for sketch in sketches:
        merged = core.merge_sketch_json(merged, sketch.to_json())
    expected = LatencySketch.merged(sketches)
    got = LatencySketch.from_json(merged or {})
    assert got.count == expected.count
    for q in (0.0, 0.5, 0.95, 1.0):
        assert got.quantile(q) == expected.quantile(q)


def minute(offset_minutes: float) -> datetime:
    return datetime(2026, 12, 6, 10, tzinfo=UTC) + timedelta(minutes=offset_minutes)


def recorded_minutes() -> list[MetricsWindow]:
    aggregator = MetricsAggregator()
    for index in range(4):  # two conversations in hour 10, two in hour 11
        at = minute(index * 40)
        aggregator.record_turn(at, turn_index=0)
        aggregator.record_turn(at, turn_index=1)
        aggregator.record_analysis(at, latency_ms=2.0 + index, confidence=0.9, escalated=False, path="fast")
        aggregator.record_analysis(at, latency_ms=100.0 + index, confidence=0.6, escalated=True, path="ml")
        aggregator.record_outcome(
            at, booked=index % 2 == 0, turns=2, task_completed=True, upsells_offered=2, upsells_accepted=1
        )
        aggregator.record_survey(at, rating=5 if index else 2)
    return aggregator.open_windows()


def recorded_hours() -> list[MetricsWindow]:
    return rollup_windows(recorded_minutes(), HOUR)


def test_hourly_windows_add_minutes_up_per_hour() -> None:
    hours = recorded_hours()
    assert [hour.start for hour in hours] == [minute(0), minute(60), minute(120)]
    assert all(hour.end - hour.start == timedelta(hours=1) for hour in hours)
    assert sum(hour.conversations for hour in hours) == 4 and sum(hour.turns for hour in hours) == 8
    assert sum(hour.path_latency_ms["ml"].count for hour in hours) == 4
    (day,) = rollup_windows(recorded_minutes(), DAY)
    assert day.start == minute(-600) and day.end == minute(-600) + DAY
    assert day.conversations == 4 and day.path_latency_ms["fast"].count == 4


def test_week_overview_from_daily_rows() -> None:
    days = [(day.start, day.to_json()) for day in rollup_windows(recorded_minutes(), DAY)]
    document = core.overview_document(
        core.span_of("week", minute(150)),
        days,
        [],
        [],
        PRICES,
        Budgets(),
        today=minute(0).date(),
        dead_letters=0,
    )
    assert document["figures"]["conversations"] == 4 and document["series"]["conversations"][-1] == 4


def test_windows_stored_before_path_latencies_still_load() -> None:
    state = recorded_hours()[0].to_json()
    del state["path_latency_ms"]
    window = MetricsWindow.from_json(state)
    assert window.path_latency_ms == {} and window.conversations == 2


PRICES = PriceTable([Price("acme", "*", 1.0, 2.0, date(2026, 1, 1))])


def test_overview_from_hourly_rows() -> None:
    span = core.span_of("day", minute(150))
    hours = [(hour.start, hour.to_json()) for hour in recorded_hours()]
    usage = [core.HourlyUsage(minute(60), "acme", "m", 1_000_000, 500_000)]
    old = core.HourlyUsage(minute(60) - timedelta(days=40), "acme", "m", 1_000_000, 0)  # another month
    document = core.overview_document(
        span,
        hours,
        usage,
        [*usage, old],
        PRICES,
        Budgets(daily_usd=5.0),
        today=minute(0).date(),
        dead_letters=3,
    )
    figures, series = document["figures"], document["series"]
    assert document["bucket"] == "hour" and len(series["bucket_starts"]) == 24
    assert figures["conversations"] == 4 and figures["messages"] == 8
    assert figures["conversion_rate"] == 0.5 and figures["upsell_acceptance_rate"] == 0.5
    assert figures["csat"] == 0.75 and figures["avg_turns"] == 2.0 and figures["task_completion_rate"] == 1.0
    assert figures["escalation_rate"] == 0.5 and figures["dead_letters"] == 3
    # The two paths keep their own percentiles: a pooled p95 would be the ML path's and a pooled p50 neither.
    assert figures["fast_latency_ms"]["p95"] == pytest.approx(4.0, rel=0.02)  # rank floor(0.95 * 3) of 2..5
    assert figures["ml_latency_ms"]["p50"] == pytest.approx(101.0, rel=0.02)
    assert figures["llm_cost_usd"] == 2.0
    assert figures["budget"] == {
        "daily_usd": 5.0,
        "daily_used": 2.0,
        "monthly_usd": None,
        "monthly_used": 2.0,
    }
    ten = series["bucket_starts"].index(minute(0).isoformat())
    assert series["conversations"][ten : ten + 3] == [2, 1, 1]
    assert series["llm_cost_usd"][ten + 1] == 2.0
    assert series["ml_latency_p95_ms"][ten] == pytest.approx(101.0, rel=0.02)
    assert series["conversion_rate"][0] is None and series["fast_latency_p95_ms"][0] is None


def test_costs_from_hourly_usage() -> None:
    usage = [
        core.HourlyUsage(minute(0), "acme", "m", 1_000_000, 0),
        core.HourlyUsage(minute(60), "ACME", "m", 0, 1_000_000),
        core.HourlyUsage(minute(60), "nobody", "x", 5, 5),
    ]
    document = core.costs_document(
        usage,
        usage[:1],
        PRICES,
        Budgets(monthly_usd=10.0),
        conversations=4,
        bookings=0,
        today=minute(0).date(),
    )
    assert document["total_usd"] == 3.0 and document["by_model"] == {"acme/m": 3.0}
    assert document["by_day"] == {"2026-12-06": 3.0} and document["unknown_models"] == ["nobody/x"]
    assert document["per_conversation_avg_usd"] == 0.75 and document["per_booking_usd"] is None
    assert document["budget"]["monthly_used"] == 1.0 and document["budget"]["monthly_usd"] == 10.0


def test_empty_overview_has_nulls_not_zeros() -> None:
    document = core.overview_document(
        core.span_of("month", NOW), [], [], [], PRICES, Budgets(), today=NOW.date(), dead_letters=None
    )
    figures = document["figures"]
    assert figures["conversations"] == 0 and figures["conversion_rate"] is None
    assert figures["fast_latency_ms"] == {"p50": None, "p95": None} == figures["ml_latency_ms"]
    assert figures["dead_letters"] is None and figures["budget"]["daily_usd"] is None
    assert len(document["series"]["bucket_starts"]) == 30


# --- Labels -------------------------------------------------------------------------------------------------

MESSAGE = uuid.UUID("5d0c7a52-9f3e-4b1a-8c2d-6e4f0a1b2c3d")
CONVERSATION = uuid.UUID("1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d")


def body(**fields: Any) -> dict[str, Any]:
    return {"message_event_id": str(MESSAGE), "labeller": "ana", **fields}


def test_a_label_is_one_event_per_field_with_stable_ids() -> None:
    request = core.parse_label_request(
        body(tone="anxious", intent="booking_inquiry", slots={"party_size": "12", "date": None})
    )
    events = core.label_events(request, conversation_id=CONVERSATION, customer_id=7, now=NOW)
    assert [(e.field, e.entity_name, e.value) for e in events] == [
        ("tone", None, "anxious"),
        ("intent", None, "booking_inquiry"),
        ("entity", "date", None),
        ("entity", "party_size", "12"),
    ]
    assert all(e.conversation_id == CONVERSATION and e.labeller == "ana" for e in events)
    again = core.label_events(
        request, conversation_id=CONVERSATION, customer_id=7, now=NOW + timedelta(hours=1)
    )
    assert [e.event_id for e in again] == [e.event_id for e in events]
    other = core.label_events(
        core.parse_label_request(body(tone="warm")), conversation_id=CONVERSATION, customer_id=7, now=NOW
    )
    assert other[0].event_id != events[0].event_id


@pytest.mark.parametrize(
    ("fields", "loc", "error_type"),
    [
        ({"tone": "furious"}, ["body", "tone"], "value_error"),
        ({"intent": "smalltalk"}, ["body", "intent"], "value_error"),
        ({"slots": {"shoe_size": "9"}}, ["body", "slots"], "value_error"),
        ({"labeller": "", "tone": "warm"}, ["body", "labeller"], "string_too_short"),
        ({"labeller": "   ", "tone": "warm"}, ["body", "labeller"], "value_error"),
        ({"labeller": "x" * 65, "tone": "warm"}, ["body", "labeller"], "string_too_long"),
        ({"tone": "warm", "secret_field": 1}, ["body", "(unknown field)"], "extra_forbidden"),
        ({"message_event_id": "not-a-uuid", "tone": "warm"}, ["body", "message_event_id"], "uuid_parsing"),
        ({"slots": {"name": "y" * 201}}, ["body", "slots", "name"], "string_too_long"),
        ({}, ["body"], "value_error"),
    ],
)
def test_invalid_labels_name_the_field(fields: dict[str, Any], loc: list[Any], error_type: str) -> None:
    with pytest.raises(core.LabelProblem) as raised:
        core.parse_label_request(body(**fields))
    problem = raised.value
    assert problem.status == 422
    assert {"loc": loc, "type": error_type} in [
        {"loc": item["loc"], "type": item["type"]} for item in problem.body["detail"]
    ]
    text = json.dumps(problem.body)
    for quoted in ("furious", "smalltalk", "shoe_size", "secret_field", "not-a-uuid", "yyyy"):
        assert quoted not in text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
MARKER = "Zq\u2603"


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["message_event_id", "labeller", "tone", "intent", "slots", "extra"])
        | st.text(max_size=10),
        json_values,
        max_size=6,
    )
)
def test_any_body_is_a_label_or_a_422(document: dict[str, Any]) -> None:
    try:
        request = core.parse_label_request(document)
    except core.LabelProblem as problem:
        assert problem.status == 422 and problem.body["detail"]
        json.dumps(problem.body)
        return
    events = core.label_events(request, conversation_id=CONVERSATION, customer_id=None, now=NOW)
    assert events and all(event.message_event_id == request.message_event_id for event in events)


@settings(max_examples=200, deadline=None)
@given(
    st.text(min_size=1, max_size=40), st.sampled_from(["labeller", "tone", "intent", "slot", "key", "extra"])
)
def test_a_422_never_quotes_the_input(text: str, where: str) -> None:
    value = MARKER + text
    document: dict[str, Any] = body(tone="warm")
    if where == "slot":
        document["slots"] = {"name": value * 20}
    elif where == "key":
        document["slots"] = {value: "1"}
    elif where == "extra":
        document[value] = value
    else:
        document[where] = value * (5 if where == "labeller" else 1)
    try:
        core.parse_label_request(document)
    except core.LabelProblem as problem:
        assert MARKER not in json.dumps(problem.body, ensure_ascii=False)


# --- Agreement ----------------------------------------------------------------------------------------------


def test_cohen_kappa() -> None:
    assert core.cohen_kappa([]) is None
    assert core.cohen_kappa([("a", "a"), ("b", "b")]) == 1.0
    assert core.cohen_kappa([("a", "a"), ("a", "a")]) == 1.0  # one category, always agreed
    # The textbook table: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> kappa 0.4.
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert core.cohen_kappa(pairs) == pytest.approx(0.4)
    assert core.cohen_kappa([("a", "b"), ("b", "a")]) == pytest.approx(-1.0)


def test_agreement_pools_pairs_over_turns() -> None:
    answers = [
        core.LabelAnswer("m1", "tone", "ana", "warm"),
        core.LabelAnswer("m1", "tone", "bo", "warm"),
        core.LabelAnswer("m1", "tone", "cy", "casual"),
        core.LabelAnswer("m2", "tone", "ana", "direct"),  # one labeller only: not a pair
        core.LabelAnswer("m1", "intent", "ana", "other"),
        core.LabelAnswer("m1", "intent", "bo", "other"),
    ]
    result = core.agreement(answers)
    assert result["tone"]["turns"] == 1 and result["tone"]["pairs"] == 3
    assert result["tone"]["kappa"] is not None and result["tone"]["kappa"] < 1
    assert result["intent"] == {"kappa": 1.0, "turns": 1, "pairs": 1}
    assert core.agreement([])["tone"] == {"kappa": None, "turns": 0, "pairs": 0}


@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("abc")), max_size=30))
def test_kappa_is_at_most_one(pairs: list[tuple[str, str]]) -> None:
    kappa = core.cohen_kappa(pairs)
    assert (kappa is None) == (not pairs)
    assert kappa is None or -1.0 - 1e-9 <= kappa <= 1.0 + 1e-9


def test_vocabulary_and_slots() -> None:
    words = core.vocabulary()
    assert "anxious" in words["tones"] and "booking_inquiry" in words["intents"]
    assert words["slots"] == ["party_size", "date", "time", "name"]
    assert core.slots_of('{"date": {"text": "May 3", "value": "2027-05-03"}}') == {"date": "2027-05-03"}
    assert core.slots_of(None) == {}
