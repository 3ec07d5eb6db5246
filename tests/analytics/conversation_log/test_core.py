"""The conversation log's row builders and batch planning, without a database."""

from __future__ import annotations

import json
import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.analytics.conversation_log.core import (
    ASSISTANT_FIELDS,
    AnalysisRow,
    MessageRow,
    OutcomeRow,
    analysis_row,
    log_batch,
    message_row,
    outcome_row,
    supersedes,
)
from tests.analytics.events import analysis, outcome, turn
from tests.analytics.fakes import assert_row_type_fits


def test_row_types_are_their_tables() -> None:
    assert_row_type_fits(MessageRow, "messages")
    assert_row_type_fits(AnalysisRow, "message_analyses")
    assert_row_type_fits(OutcomeRow, "outcomes")


def test_customer_message_row() -> None:
    conversation = uuid.uuid4()
    message = turn(conversation, 2, experiments={"greeting": "warm"}, customer_id=None)
    row = message_row(message)
    assert (row.event_id, row.conversation_id, row.customer_id, row.role, row.turn_index) == (
        message.event_id,
        conversation,
        None,
        "customer",
        2,
    )
    assert row.occurred_at == message.occurred_at
    assert row.assistant is None
    assert json.loads(row.experiments) == {"greeting": "warm"}
    assert json.loads(row.context) == {"requested_slots": [], "corrections": 0}


def test_ai_message_row_keeps_exactly_the_assistant_fields() -> None:
    message = turn(
        uuid.uuid4(),
        1,
        role="ai",
        text="How many guests?",
        tone_used="warm",
        suggested_upsells=["sake"],
        requested_slots=["people"],
        model="gpt-4o-mini",
        provider="openai",
        tokens_in=120,
        tokens_out=30,
        latency_ms=450.0,
    )
    assistant = json.loads(message_row(message).assistant or "null")
    assert set(assistant) == ASSISTANT_FIELDS
    assert assistant["suggested_upsells"] == ["sake"] and assistant["tokens_in"] == 120
    assert assistant["prompt_version"] is None


def test_analysis_row_names_each_entity_by_its_text_and_value() -> None:
    message = turn(uuid.uuid4())
    reading = analysis(message, path="ml", escalate=True)
    row = analysis_row(reading)
    assert (row.message_event_id, row.analysis_event_id, row.path, row.escalate) == (
        message.event_id,
        reading.event_id,
        "ml",
        True,
    )
    assert (row.detected_tone, row.detected_intent, row.confidence) == ("casual", "booking_inquiry", 0.9)
    assert json.loads(row.entities_extracted) == {"party_size": {"text": "30 people", "value": 30}}
    assert json.loads(row.analysis)["event_id"] == str(reading.event_id)


def test_outcome_row() -> None:
    ended = outcome(uuid.uuid4())
    row = outcome_row(ended)
    assert (row.event_id, row.booked, row.booking_id, row.total_value) == (
        ended.event_id,
        True,
        "BK1",
        1950.0,
    )
    assert json.loads(row.offered_upsells) == ["lobster", "sake"]
    assert json.loads(row.accepted_upsells) == ["lobster"]


def test_batch_drops_in_batch_repeats_and_sorts_the_touched_conversations() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first, later = turn(a), turn(a, 1)
    reading = analysis(turn(b))
    ended = outcome(c)
    batch = log_batch([first, reading, first, ended, reading, later])
    assert [row.event_id for row in batch.messages] == [first.event_id, later.event_id]
    assert len(batch.analyses) == 1 and len(batch.outcomes) == 1
    assert batch.conversations == sorted({a, b, c}, key=str)


def test_an_empty_batch_touches_nothing() -> None:
    batch = log_batch([])
    assert (batch.messages, batch.analyses, batch.outcomes, batch.conversations) == ([], [], [], [])


def test_one_batch_with_both_readings_of_a_message_keeps_the_ml_one() -> None:
    message = turn(uuid.uuid4())
    fast, ml = analysis(message, path="fast"), analysis(message, path="ml", tone="formal")
    for order in ([fast, ml], [ml, fast], [fast, ml, fast]):
        [kept] = log_batch(order).analyses
        assert (kept.path, kept.analysis_event_id) == ("ml", ml.event_id)
    second_fast = analysis(message, path="fast", tone="formal")
    [kept] = log_batch([fast, second_fast]).analyses
    assert kept.analysis_event_id == fast.event_id, "between two readings of one path the first stays"


@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["fast", "ml"])), max_size=12))
def test_a_batch_keeps_what_the_store_keeps_when_the_readings_come_one_at_a_time(
    readings: list[tuple[int, str]],
) -> None:
    messages = [turn(uuid.uuid4()) for _ in range(3)]
    events = [analysis(messages[index], path=path) for index, path in readings]
    one_at_a_time: dict[uuid.UUID, AnalysisRow] = {}
    for event in events:
        row = analysis_row(event)
        stored = one_at_a_time.get(row.message_event_id)
        if stored is None or supersedes(row, stored):
            one_at_a_time[row.message_event_id] = row
    kept = {row.message_event_id: row for row in log_batch(events).analyses}
    assert kept == one_at_a_time
