"""The five edge-case rules of seed 000 and their thresholds, and what a batch of turns and analyses
stores, announces and writes to the prediction log.
"""

import json
import uuid

import pytest

from services.analytics.edge_cases.core import (
    CUSTOMER_EXPRESSED_FRUSTRATION,
    ESCALATED_TO_HUMAN,
    LOW_CONFIDENCE,
    MULTIPLE_CORRECTIONS,
    NO_ENTITIES_FOUND,
    REASONS,
    EdgeCaseThresholds,
    FlagRow,
    MessageFacts,
    PredictionInputRow,
    PredictionRow,
    ReadyPrediction,
    edge_case_batch,
    edge_case_reasons,
    flag_rows,
    flagged_events,
    prediction_for,
)
from tests.analytics.events import T0, analysis, turn
from tests.analytics.fakes import assert_row_type_fits

CLEAN = {"role": "customer", "confidence": 0.9, "entities": {"party_size": 30}, "sentiment": "positive"}


def facts(**changes: object) -> MessageFacts:
    return MessageFacts(**{**CLEAN, **changes})  # type: ignore[arg-type]


def test_reason_names_are_the_issues() -> None:
    assert REASONS == (
        "low_confidence",
        "no_entities_found",
        "multiple_corrections",
        "escalated_to_human",
        "customer_expressed_frustration",
    )


def test_a_clean_customer_message_raises_nothing() -> None:
    assert edge_case_reasons(facts()) == []


@pytest.mark.parametrize(
    ("confidence", "flagged"), [(0.69, True), (0.6999, True), (0.7, False), (0.95, False), (None, False)]
)
def test_low_confidence_is_strictly_below_threshold(confidence: float | None, flagged: bool) -> None:
    assert (LOW_CONFIDENCE in edge_case_reasons(facts(confidence=confidence))) is flagged


@pytest.mark.parametrize(
    ("entities", "flagged"), [({}, True), ([], True), ({"date": "2026-12-01"}, False), (None, False)]
)
def test_no_entities_only_when_analysed_and_empty(entities: object, flagged: bool) -> None:
    assert (NO_ENTITIES_FOUND in edge_case_reasons(facts(entities=entities))) is flagged


@pytest.mark.parametrize(("corrections", "flagged"), [(0, False), (2, False), (3, True), (7, True)])
def test_more_than_two_corrections(corrections: int, flagged: bool) -> None:
    assert (MULTIPLE_CORRECTIONS in edge_case_reasons(facts(corrections=corrections))) is flagged


def test_frustration_from_flag_or_negative_sentiment() -> None:
    assert edge_case_reasons(facts(frustrated=True)) == [CUSTOMER_EXPRESSED_FRUSTRATION]
    assert edge_case_reasons(facts(sentiment="NEGATIVE")) == [CUSTOMER_EXPRESSED_FRUSTRATION]
    assert edge_case_reasons(facts(sentiment="neutral", frustrated=False)) == []
    only_flag = EdgeCaseThresholds(negative_sentiment_is_frustration=False)
    assert edge_case_reasons(facts(sentiment="negative"), only_flag) == []


def test_human_agent_message_is_an_escalation_and_ai_messages_raise_nothing() -> None:
    assert edge_case_reasons(MessageFacts(role="human_agent", confidence=0.1, entities={})) == [
        ESCALATED_TO_HUMAN
    ]
    assert edge_case_reasons(MessageFacts(role="ai", confidence=0.1, entities={}, corrections=9)) == []


def test_reasons_come_in_seed_order_and_thresholds_are_configurable() -> None:
    worst = facts(confidence=0.5, entities={}, corrections=3, frustrated=True)
    assert edge_case_reasons(worst) == [
        LOW_CONFIDENCE,
        NO_ENTITIES_FOUND,
        MULTIPLE_CORRECTIONS,
        CUSTOMER_EXPRESSED_FRUSTRATION,
    ]
    lenient = EdgeCaseThresholds(min_confidence=0.4, max_corrections=5)
    assert edge_case_reasons(worst, lenient) == [NO_ENTITIES_FOUND, CUSTOMER_EXPRESSED_FRUSTRATION]


@pytest.mark.parametrize(
    ("intent", "flagged"),
    [
        ("booking_inquiry", True),
        ("modification_request", True),
        ("menu_question", False),
        ("other", False),
        (None, True),
    ],
)
def test_no_entities_counts_only_where_details_are_expected(intent: str | None, flagged: bool) -> None:
    reasons = edge_case_reasons(MessageFacts(role="customer", confidence=0.9, entities={}, intent=intent))
    assert (NO_ENTITIES_FOUND in reasons) is flagged


def test_row_types_are_their_tables() -> None:
    assert_row_type_fits(FlagRow, "edge_cases")
    assert_row_type_fits(PredictionInputRow, "prediction_inputs")
    assert_row_type_fits(PredictionRow, "predictions")


def test_a_turn_is_judged_on_its_role_and_the_corrections_so_far() -> None:
    conversation = uuid.uuid4()
    handed_over = turn(conversation, 3, role="human_agent", text="Hi, Sam here")
    (flag,) = flag_rows(handed_over, EdgeCaseThresholds())
    assert flag == FlagRow(
        conversation, ESCALATED_TO_HUMAN, handed_over.event_id, 42, handed_over.occurred_at
    )
    corrected = turn(conversation, 4, context={"corrections": 3})
    assert [f.reason for f in flag_rows(corrected, EdgeCaseThresholds())] == [MULTIPLE_CORRECTIONS]
    assert flag_rows(corrected, EdgeCaseThresholds(max_corrections=3)) == []


def test_an_analysis_is_judged_on_confidence_entities_and_frustration_for_its_message() -> None:
    message = turn(uuid.uuid4())
    reading = analysis(message, confidence=0.5, entities={}, frustrated=True)
    flags = flag_rows(reading, EdgeCaseThresholds())
    assert [f.reason for f in flags] == [LOW_CONFIDENCE, NO_ENTITIES_FOUND, CUSTOMER_EXPRESSED_FRUSTRATION]
    assert {f.event_id for f in flags} == {message.event_id}
    assert {f.flagged_at for f in flags} == {reading.occurred_at}
    assert flag_rows(analysis(message), EdgeCaseThresholds()) == []


def test_an_ml_analysis_the_model_is_unsure_of_is_flagged_low_confidence_for_a_human() -> None:
    message = turn(uuid.uuid4())
    unsure = analysis(message, path="ml", escalate=True, confidence=0.75)
    assert [f.reason for f in flag_rows(unsure, EdgeCaseThresholds())] == [LOW_CONFIDENCE]
    # `escalate` on a fast analysis only sends the turn to the model; it is not a reason by itself.
    assert flag_rows(analysis(message, path="fast", escalate=True, confidence=0.75), EdgeCaseThresholds()) == []
    assert flag_rows(analysis(message, path="ml", escalate=False, confidence=0.75), EdgeCaseThresholds()) == []


def test_batch_keeps_scrubbed_customer_inputs_every_analysis_and_each_flag_once() -> None:
    conversation = uuid.uuid4()
    asked = turn(conversation, 0, text="call me at 415-555-0123", context={"requested_slots": ["date"]})
    answer = turn(conversation, 1, role="ai", text="Sure!")
    low = analysis(asked, confidence=0.5)
    again = analysis(turn(conversation, 2), confidence=0.4)
    batch = edge_case_batch([asked, answer, low, asked, again, low], EdgeCaseThresholds())
    (row,) = batch.inputs
    assert (row.message_event_id, row.user_text, json.loads(row.requested_slots)) == (
        asked.event_id,
        "call me at [phone]",
        ["date"],
    )
    assert [p.analysis_event_id for p in batch.predictions] == [low.event_id, again.event_id]
    assert json.loads(batch.predictions[0].analysis)["confidence"] == 0.5
    # The conversation's low confidence is one flag, raised by the first message that showed it.
    assert [(f.reason, f.event_id) for f in batch.flags] == [(LOW_CONFIDENCE, asked.event_id)]
    assert batch.messages == sorted({asked.event_id, again.message_event_id}, key=str)


def test_flagged_events_are_one_per_message_with_ids_fixed_by_content() -> None:
    conversation, message, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    flags = [
        FlagRow(conversation, NO_ENTITIES_FOUND, message, 7, T0),
        FlagRow(conversation, LOW_CONFIDENCE, message, 7, T0),
        FlagRow(conversation, MULTIPLE_CORRECTIONS, other, 7, T0),
    ]
    first, second = flagged_events(flags)
    assert (first.message_event_id, first.reasons) == (message, [LOW_CONFIDENCE, NO_ENTITIES_FOUND])
    assert (first.customer_id, first.occurred_at, first.source) == (7, T0, "teppan-edge-cases")
    assert second.reasons == [MULTIPLE_CORRECTIONS]
    assert [e.event_id for e in flagged_events(flags)] == [first.event_id, second.event_id]
    assert flagged_events(flags[:1])[0].event_id != first.event_id
    assert flagged_events([]) == []


def test_prediction_record_of_an_analysis() -> None:
    message = turn(uuid.uuid4())
    reading = analysis(
        message, entities={"date": {"surface": "Dec 5", "value": "2026-12-05", "confidence": 1}}
    )
    ready = ReadyPrediction(
        reading.event_id, reading.model_dump(mode="json"), "on Dec 5, mail jo@example.com", ["date", "time"]
    )
    record = prediction_for(ready)
    assert record["model"] == {
        "name": "teppan-nlp-fast",
        "provider": "teppan",
        "prompt_version": "intent=i2,tone=t1",
    }
    assert record["input"] == {
        "user_text": "on Dec 5, mail [email]",
        "state": "awaiting:date,time",
        "slots": {},
    }
    assert record["output"]["extracted_slots"] == {"date": "2026-12-05"}
    assert record["output"]["next_state"] == "booking_inquiry"
    assert record["metadata"]["cost"] == 0.0 and record["metadata"]["tokens"] == {
        "input": None,
        "output": None,
    }
    assert record["event_id"] == str(reading.event_id)
    assert (
        prediction_for(ReadyPrediction(reading.event_id, reading.model_dump(mode="json"), "hi", []))["input"][
            "state"
        ]
        is None
    )
