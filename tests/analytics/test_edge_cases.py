"""The five edge-case rules of seed 000 and their configurable thresholds."""

import pytest

from services.analytics.edge_cases import (
    CUSTOMER_EXPRESSED_FRUSTRATION,
    ESCALATED_TO_HUMAN,
    LOW_CONFIDENCE,
    MULTIPLE_CORRECTIONS,
    NO_ENTITIES_FOUND,
    REASONS,
    EdgeCaseThresholds,
    MessageFacts,
    edge_case_reasons,
)

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
