"""The metrics worker's pure decisions: usage rows, stored facts, counting new events into windows,
and the snapshot each changed window is published as.
"""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import pytest

from schemas.events import Label, ServiceCall, SurveyResponse
from services.analytics.metrics.core import (
    UNSPECIFIED,
    ConversationProgress,
    EventClaim,
    LabelRow,
    SurveyRow,
    UsageRow,
    claims,
    conversation_progress,
    count_windows,
    ended_conversations,
    labelled_messages,
    metrics_facts,
    snapshot,
    usage_row,
)
from services.analytics.metrics.sketches import LatencySketch
from tests.analytics.events import T0, analysis, outcome, turn
from tests.analytics.fakes import assert_row_type_fits


def call(conversation: uuid.UUID, **fields: object) -> ServiceCall:
    values: dict[str, object] = {
        "conversation_id": conversation,
        "occurred_at": T0,
        "service": "llm",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "ok": True,
        "latency_ms": 300.0,
        "tokens_in": 100,
        "tokens_out": 20,
    }
    return ServiceCall(**{**values, **fields})  # type: ignore[arg-type]


def survey(conversation: uuid.UUID, rating: int = 5) -> SurveyResponse:
    return SurveyResponse(conversation_id=conversation, occurred_at=T0, rating=rating, free_text="great")


def label(message_event_id: uuid.UUID, conversation: uuid.UUID, field: str, value: object) -> Label:
    return Label(
        conversation_id=conversation,
        occurred_at=T0,
        message_event_id=message_event_id,
        field=field,  # type: ignore[arg-type]
        value=value,
    )


def test_row_types_are_their_tables() -> None:
    assert_row_type_fits(UsageRow, "llm_usage")
    assert_row_type_fits(SurveyRow, "surveys")
    assert_row_type_fits(LabelRow, "labels")
    assert_row_type_fits(ConversationProgress, "metrics_conversations")
    assert_row_type_fits(EventClaim, "metrics_events")


def test_usage_rows_come_from_ai_messages_and_llm_calls_that_report_tokens() -> None:
    conversation = uuid.uuid4()
    reply = turn(conversation, 1, role="ai", provider="groq", tokens_in=50, tokens_out=10)
    row = usage_row(reply)
    assert row == UsageRow(
        reply.event_id, conversation, 42, "message", "groq", UNSPECIFIED, 50, 10, True, reply.occurred_at
    )
    failed = call(conversation, ok=False, tokens_out=None)
    assert usage_row(failed) == UsageRow(
        failed.event_id, conversation, None, "service_call", "openai", "gpt-4o-mini", 100, 0, False, T0
    )
    assert usage_row(turn(conversation, tokens_in=5)) is None  # a customer's message
    assert usage_row(turn(conversation, role="ai", tokens_in=5)) is None  # no model named
    assert usage_row(turn(conversation, role="ai", model="m")) is None  # no tokens
    assert usage_row(call(conversation, service="stt")) is None


def test_progress_is_each_conversations_turn_count_and_handoff() -> None:
    a, b = sorted([uuid.uuid4(), uuid.uuid4()], key=str)
    turns = [turn(b, 0), turn(a, 4), turn(a, 2, role="human_agent", text="Sam here"), turn(b, 1)]
    assert conversation_progress(turns) == [
        ConversationProgress(a, 5, True),
        ConversationProgress(b, 2, False),
    ]


def test_facts_of_a_batch() -> None:
    conversation = uuid.uuid4()
    message = turn(conversation)
    rated = survey(conversation, 4)
    tone = label(message.event_id, conversation, "tone", "formal")
    facts = metrics_facts([message, rated, tone, call(conversation)])
    assert [row.source for row in facts.usage] == ["service_call"]
    assert facts.surveys == [SurveyRow(rated.event_id, conversation, None, 4, None, None, "great", T0)]
    assert facts.labels[0].value == '"formal"'
    assert facts.progress == [ConversationProgress(conversation, 1, False)]
    assert facts.feedback_conversations == [conversation, conversation]
    assert claims([message]) == [EventClaim(message.event_id, T0)]


def test_counting_uses_the_stored_progress_and_model_answers() -> None:
    conversation = uuid.uuid4()
    message = turn(conversation)
    ended = outcome(conversation, occurred_at=T0 + timedelta(seconds=30))
    tone_right = label(message.event_id, conversation, "tone", "casual")
    intent_wrong = label(message.event_id, conversation, "intent", "menu_question")
    unanswered = label(uuid.uuid4(), conversation, "tone", "casual")
    events = [
        message,
        analysis(message, latency_ms=40.0),
        ended,
        tone_right,
        intent_wrong,
        unanswered,
        survey(conversation, 3),
        call(conversation, latency_ms=None),
    ]
    assert ended_conversations(events) == [conversation]
    assert sorted(labelled_messages(events), key=str) == sorted(
        {message.event_id, unanswered.message_event_id}, key=str
    )
    (window,) = count_windows(
        events,
        {conversation: ConversationProgress(conversation, 6, True)},
        {message.event_id: {"tone": "casual", "intent": "booking_inquiry"}},
    )
    figures = window.figures()
    assert window.start == T0
    assert figures["conversation"]["conversations"] == 1
    assert (figures["conversation"]["avg_turns"], figures["conversation"]["task_completion_rate"]) == (6, 0)
    assert figures["model"]["accuracy"] == {"intent": 0.0, "tone": 1.0}
    assert figures["business"]["avg_rating"] == 3
    # A call without a latency cannot be counted; nothing else changes.
    assert figures["service"] == {}


def test_an_outcome_of_an_unknown_conversation_counts_as_no_turns_and_completed() -> None:
    conversation = uuid.uuid4()
    (window,) = count_windows([outcome(conversation)], {}, {})
    assert (window.outcome_turns, window.tasks_completed, window.booked) == (0, 1, 1)


def test_snapshot_carries_flat_figures_and_the_sketches() -> None:
    message = turn(uuid.uuid4())
    (window,) = count_windows(
        [message, analysis(message, latency_ms=40.0), call(message.conversation_id)], {}, {}
    )
    published = snapshot(window)
    assert (published.window_start, published.window_end) == (window.start, window.end)
    assert published.figures["conversation.turns"] == 1.0
    assert published.figures["model.escalation_rate"] == 0.0
    assert published.figures["business.csat"] is None
    latency = LatencySketch.from_bytes(base64.b64decode(published.sketches["model.nlp_latency_ms"]))
    assert latency.quantile(0.5) == pytest.approx(40.0, rel=0.01)
    assert set(published.sketches) == {"model.nlp_latency_ms", "service.llm.latency_ms"}
    assert snapshot(window).event_id == published.event_id
