"""Edge-case rules of seed document 000: which review reasons one message of a conversation raises.

Pure: the flagger worker feeds it the facts of a message and publishes/stores what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

LOW_CONFIDENCE: Final = "low_confidence"
NO_ENTITIES_FOUND: Final = "no_entities_found"
MULTIPLE_CORRECTIONS: Final = "multiple_corrections"
ESCALATED_TO_HUMAN: Final = "escalated_to_human"
CUSTOMER_EXPRESSED_FRUSTRATION: Final = "customer_expressed_frustration"

# The order reasons are returned in: the seed's order, so output is stable.
REASONS: Final[tuple[str, ...]] = (
    LOW_CONFIDENCE,
    NO_ENTITIES_FOUND,
    MULTIPLE_CORRECTIONS,
    ESCALATED_TO_HUMAN,
    CUSTOMER_EXPRESSED_FRUSTRATION,
)


@dataclass(frozen=True)
class EdgeCaseThresholds:
    """Rule thresholds; the defaults are seed document 000's."""

    # Flag when confidence < min_confidence.
    min_confidence: float = 0.7
    # Flag when the conversation's correction count > max_corrections.
    max_corrections: int = 2
    # Whether a "negative" sentiment label alone counts as frustration (the seed's rule),
    # besides the NLP's explicit frustration flag.
    negative_sentiment_is_frustration: bool = True
    # "No entities found" only matters where the customer was giving booking details: a "thanks!"
    # or a menu question carries none by nature, and flagging it would flag every conversation.
    # An unknown intent (None) keeps the seed's literal rule.
    entity_bearing_intents: frozenset[str] = frozenset(
        {"booking_inquiry", "modification_request", "scheduling_question"}
    )


@dataclass(frozen=True)
class MessageFacts:
    """What the flagger knows about one message.

    role: "customer", "ai" or "human_agent".
    confidence: the analysis' overall confidence; None when the message was not analysed.
    entities: the extracted entities (any sized collection or mapping); None when not analysed,
        so an unanalysed message is never reported as having found nothing.
    sentiment: the sentiment label ("negative", ...), if known.
    frustrated: the NLP's frustration verdict, if known.
    intent: the NLP's intent, if known.
    corrections: corrections so far in the conversation, this message included.
    """

    role: str
    confidence: float | None = None
    entities: Mapping[str, Any] | Sequence[Any] | None = None
    sentiment: str | None = None
    frustrated: bool | None = None
    intent: str | None = None
    corrections: int = 0


def edge_case_reasons(
    facts: MessageFacts, thresholds: EdgeCaseThresholds = EdgeCaseThresholds()
) -> list[str]:
    """The reasons, in `REASONS` order, why this message makes its conversation an edge case."""
    if facts.role == "human_agent":
        # A human agent speaking means the assistant handed over; nothing else applies to
        # a message the assistant did not have to understand.
        return [ESCALATED_TO_HUMAN]
    if facts.role != "customer":
        return []
    found: set[str] = set()
    if facts.confidence is not None and facts.confidence < thresholds.min_confidence:
        found.add(LOW_CONFIDENCE)
    expects_entities = facts.intent is None or facts.intent in thresholds.entity_bearing_intents
    if facts.entities is not None and len(facts.entities) == 0 and expects_entities:
        found.add(NO_ENTITIES_FOUND)
    if facts.corrections > thresholds.max_corrections:
        found.add(MULTIPLE_CORRECTIONS)
    negative = thresholds.negative_sentiment_is_frustration and (facts.sentiment or "").lower() == "negative"
    if facts.frustrated or negative:
        found.add(CUSTOMER_EXPRESSED_FRUSTRATION)
    return [reason for reason in REASONS if reason in found]
