"""The edge-case flagger's pure core: the ML guide's five rules, and what a batch stores and announces.

Also shapes each analysis into the ML improvements summary's prediction-log record once its input is known.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

from schemas.events import EdgeCaseFlagged, MessageAnalysis, Turn
from services.analytics.edge_cases.prediction_log import prediction_record
from shared.pii import scrub_pii

LOW_CONFIDENCE: Final = "low_confidence"
NO_ENTITIES_FOUND: Final = "no_entities_found"
MULTIPLE_CORRECTIONS: Final = "multiple_corrections"
ESCALATED_TO_HUMAN: Final = "escalated_to_human"
CUSTOMER_EXPRESSED_FRUSTRATION: Final = "customer_expressed_frustration"

# The order reasons are returned in: the ML guide's order, so output is stable.
REASONS: Final[tuple[str, ...]] = (
    LOW_CONFIDENCE,
    NO_ENTITIES_FOUND,
    MULTIPLE_CORRECTIONS,
    ESCALATED_TO_HUMAN,
    CUSTOMER_EXPRESSED_FRUSTRATION,
)


@dataclass(frozen=True)
class EdgeCaseThresholds:
    """Rule thresholds; the defaults are the ML guide's."""

    # Flag when confidence < min_confidence.
    min_confidence: float = 0.7
    # Flag when the conversation's correction count > max_corrections.
    max_corrections: int = 2
    # Whether a "negative" sentiment label alone counts as frustration (the ML guide's rule),
    # besides the NLP's explicit frustration flag.
    negative_sentiment_is_frustration: bool = True
    # "No entities found" only matters where the customer was giving booking details: a "thanks!"
    # or a menu question carries none by nature, and flagging it would flag every conversation.
    # An unknown intent (None) keeps the ML guide's literal rule.
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
    model_unsure: the slow path's model also answered below its own threshold, so a human should look.
    """

    role: str
    confidence: float | None = None
    entities: Mapping[str, Any] | Sequence[Any] | None = None
    sentiment: str | None = None
    frustrated: bool | None = None
    intent: str | None = None
    corrections: int = 0
    model_unsure: bool = False


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
    if (facts.confidence is not None and facts.confidence < thresholds.min_confidence) or facts.model_unsure:
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


# Namespace of the deterministic EdgeCaseFlagged event ids: a batch retried after a crash republishes
# the same ids, so consumers of analytics.edge-cases.v1 stay idempotent.
FLAG_NAMESPACE = uuid.UUID("5b0f3c1e-8f7a-4d3b-9a51-2f0c6e7d8a90")


class FlagRow(NamedTuple):
    """An `edge_cases` row: a reason a conversation raised, and the message that first raised it."""

    conversation_id: uuid.UUID
    reason: str
    event_id: uuid.UUID
    customer_id: int | None
    flagged_at: datetime


class PredictionInputRow(NamedTuple):
    """A `prediction_inputs` row: the scrubbed customer text an analysis was made on."""

    message_event_id: uuid.UUID
    conversation_id: uuid.UUID
    user_text: str
    requested_slots: str
    occurred_at: datetime


class PredictionRow(NamedTuple):
    """A `predictions` row: one NLP analysis, waiting for its input to become a prediction-log record."""

    analysis_event_id: uuid.UUID
    message_event_id: uuid.UUID
    conversation_id: uuid.UUID
    occurred_at: datetime
    analysis: str


@dataclass(frozen=True)
class EdgeCaseBatch:
    """What one batch of turns and analyses stores, each row once."""

    flags: list[FlagRow]
    inputs: list[PredictionInputRow]
    predictions: list[PredictionRow]

    @property
    def messages(self) -> list[uuid.UUID]:
        """The messages whose prediction may now be complete (sorted: the order they are locked in)."""
        touched = {row.message_event_id for row in self.inputs} | {
            row.message_event_id for row in self.predictions
        }
        return sorted(touched, key=str)


@dataclass(frozen=True)
class ReadyPrediction:
    """A stored analysis whose input is known and that is not in the prediction log yet."""

    analysis_event_id: uuid.UUID
    analysis: Mapping[str, Any]
    user_text: str
    requested_slots: Sequence[str]


def flag_rows(event: Turn | MessageAnalysis, thresholds: EdgeCaseThresholds) -> list[FlagRow]:
    """The (conversation, reason) rows one turn or analysis raises.

    A turn carries the role and the conversation's correction count; an analysis carries confidence,
    entities and frustration. Each is judged on what it knows, so neither has to wait for the other.
    """
    if isinstance(event, Turn):
        facts = MessageFacts(role=event.role, corrections=event.context.corrections)
        message_id = event.event_id
    else:
        facts = MessageFacts(
            role="customer",
            confidence=event.confidence,
            entities=event.entities,
            sentiment=event.sentiment,
            frustrated=event.frustrated,
            intent=event.intent,
            # On an ML analysis, `escalate` means the escalation model was unsure too: a turn for a human.
            model_unsure=event.path == "ml" and event.escalate,
        )
        message_id = event.message_event_id
    return [
        FlagRow(event.conversation_id, reason, message_id, event.customer_id, event.occurred_at)
        for reason in edge_case_reasons(facts, thresholds)
    ]


def edge_case_batch(
    events: Iterable[Turn | MessageAnalysis], thresholds: EdgeCaseThresholds
) -> EdgeCaseBatch:
    """The flags, prediction inputs and predictions a batch stores; the first of repeats is kept."""
    flags: dict[tuple[uuid.UUID, str], FlagRow] = {}
    inputs: dict[uuid.UUID, PredictionInputRow] = {}
    predictions: dict[uuid.UUID, PredictionRow] = {}
    for event in events:
        for row in flag_rows(event, thresholds):
            flags.setdefault((row.conversation_id, row.reason), row)
        if isinstance(event, Turn):
            if event.role == "customer":
                inputs.setdefault(
                    event.event_id,
                    PredictionInputRow(
                        event.event_id,
                        event.conversation_id,
                        scrub_pii(event.text),
                        json.dumps(event.context.requested_slots),
                        event.occurred_at,
                    ),
                )
        else:
            predictions.setdefault(
                event.event_id,
                PredictionRow(
                    event.event_id,
                    event.message_event_id,
                    event.conversation_id,
                    event.occurred_at,
                    event.model_dump_json(),
                ),
            )
    return EdgeCaseBatch(list(flags.values()), list(inputs.values()), list(predictions.values()))


def flagged_events(new_flags: Sequence[FlagRow]) -> list[EdgeCaseFlagged]:
    """One EdgeCaseFlagged per message that raised new reasons, with an id fixed by its content."""
    by_message: dict[tuple[uuid.UUID, uuid.UUID], list[FlagRow]] = defaultdict(list)
    for row in new_flags:
        by_message[(row.conversation_id, row.event_id)].append(row)
    events = []
    for (conversation_id, message_id), rows in by_message.items():
        reasons = sorted(row.reason for row in rows)
        events.append(
            EdgeCaseFlagged(
                event_id=uuid.uuid5(FLAG_NAMESPACE, f"{conversation_id}:{message_id}:{','.join(reasons)}"),
                occurred_at=rows[0].flagged_at,
                conversation_id=conversation_id,
                customer_id=rows[0].customer_id,
                source="teppan-edge-cases",
                message_event_id=message_id,
                reasons=reasons,  # type: ignore[arg-type]
            )
        )
    return events


def prediction_for(ready: ReadyPrediction) -> dict[str, Any]:
    """Seed document 004's record for one NLP analysis (the NLP path is local: no tokens, no cost)."""
    analysis = ready.analysis
    path = analysis.get("path", "fast")
    versions = analysis.get("model_versions") or {}
    return prediction_record(
        conversation_id=analysis["conversation_id"],
        timestamp=datetime.fromisoformat(analysis["occurred_at"]),
        model_name=f"teppan-nlp-{path}",
        provider="teppan",
        prompt_version=",".join(f"{task}={version}" for task, version in sorted(versions.items())) or None,
        user_text=ready.user_text,
        state="awaiting:" + ",".join(ready.requested_slots) if ready.requested_slots else None,
        slots={},
        response=None,
        extracted_slots={name: entity.get("value") for name, entity in analysis["entities"].items()},
        confidence=analysis["confidence"],
        next_state=analysis.get("intent"),
        latency_ms=analysis.get("latency_ms"),
        tokens_in=None,
        tokens_out=None,
        cost=0.0,
        event_id=analysis["event_id"],
    )
