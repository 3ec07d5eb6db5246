"""The metrics worker's pure core: the facts a batch stores, how its new events count into one-minute
windows, and the MetricsSnapshot each changed window is published as.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from schemas.events import (
    BookingOutcome,
    Label,
    MessageAnalysis,
    MetricsSnapshot,
    ServiceCall,
    SurveyResponse,
    Turn,
)
from services.analytics.metrics.windows import MetricsAggregator, MetricsWindow, window_start

MetricsEvent = Turn | MessageAnalysis | BookingOutcome | SurveyResponse | ServiceCall | Label
# The label fields whose accuracy can be checked against the stored analysis.
LABELLED_TASKS = ("tone", "intent")
# A model or provider the event did not name; kept visible in the costs report as an unknown model.
UNSPECIFIED = "(unspecified)"
# What the model answered for each labelled task of one message (None: it gave no answer).
ModelAnswer = Mapping[str, str | None]


class UsageRow(NamedTuple):
    """An `llm_usage` row: the tokens of one AI message or LLM call."""

    event_id: uuid.UUID
    conversation_id: uuid.UUID
    customer_id: int | None
    source: str
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    ok: bool
    occurred_at: datetime


class SurveyRow(NamedTuple):
    """A `surveys` row."""

    event_id: uuid.UUID
    conversation_id: uuid.UUID
    customer_id: int | None
    rating: int
    understood: bool | None
    tone_appropriate: bool | None
    free_text: str | None
    occurred_at: datetime


class LabelRow(NamedTuple):
    """A `labels` row: a human's correction of one field of one message."""

    event_id: uuid.UUID
    message_event_id: uuid.UUID
    conversation_id: uuid.UUID
    field: str
    entity_name: str | None
    value: str
    labeller: str | None
    occurred_at: datetime


class ConversationProgress(NamedTuple):
    """A `metrics_conversations` row: a conversation's turns so far and whether a human took over."""

    conversation_id: uuid.UUID
    turns: int
    human_handoff: bool


class EventClaim(NamedTuple):
    """A `metrics_events` row: an event counted into the window starting at `window_start`."""

    event_id: uuid.UUID
    window_start: datetime


@dataclass(frozen=True)
class MetricsFacts:
    """What a batch stores besides its windows; every part is idempotent, so it needs no claim."""

    usage: list[UsageRow]
    surveys: list[SurveyRow]
    labels: list[LabelRow]
    # Sorted by conversation, so replicas upserting the same conversations lock them in one order.
    progress: list[ConversationProgress]

    @property
    def feedback_conversations(self) -> list[uuid.UUID]:
        """Conversations whose log row shows a survey or label of this batch (the mean rating, tone accuracy)."""
        return [row.conversation_id for row in self.surveys] + [row.conversation_id for row in self.labels]


def usage_row(event: Turn | ServiceCall) -> UsageRow | None:
    """The llm_usage row of an AI message or an LLM call that reports tokens; None for anything else."""
    if isinstance(event, Turn):
        if event.role != "ai" or not (event.provider or event.model):
            return None
        source, ok = "message", True
    else:
        if event.service != "llm":
            return None
        source, ok = "service_call", event.ok
    if event.tokens_in is None and event.tokens_out is None:
        return None
    return UsageRow(
        event.event_id,
        event.conversation_id,
        event.customer_id,
        source,
        event.provider or UNSPECIFIED,
        event.model or UNSPECIFIED,
        event.tokens_in or 0,
        event.tokens_out or 0,
        ok,
        event.occurred_at,
    )


def survey_row(survey: SurveyResponse) -> SurveyRow:
    return SurveyRow(
        survey.event_id,
        survey.conversation_id,
        survey.customer_id,
        survey.rating,
        survey.understood,
        survey.tone_appropriate,
        survey.free_text,
        survey.occurred_at,
    )


def label_row(label: Label) -> LabelRow:
    return LabelRow(
        label.event_id,
        label.message_event_id,
        label.conversation_id,
        label.field,
        label.entity_name,
        json.dumps(label.value),
        label.labeller,
        label.occurred_at,
    )


def conversation_progress(turns: Iterable[Turn]) -> list[ConversationProgress]:
    """Each conversation's turn count (last index + 1) and handoff, as far as these turns show."""
    counts: dict[uuid.UUID, int] = {}
    handed_over: dict[uuid.UUID, bool] = {}
    for turn in turns:
        conversation = turn.conversation_id
        counts[conversation] = max(turn.turn_index + 1, counts.get(conversation, 0))
        handed_over[conversation] = handed_over.get(conversation, False) or turn.role == "human_agent"
    return [
        ConversationProgress(conversation, counts[conversation], handed_over[conversation])
        for conversation in sorted(counts, key=str)
    ]


def metrics_facts(events: Sequence[MetricsEvent]) -> MetricsFacts:
    return MetricsFacts(
        usage=[row for e in events if isinstance(e, Turn | ServiceCall) if (row := usage_row(e))],
        surveys=[survey_row(e) for e in events if isinstance(e, SurveyResponse)],
        labels=[label_row(e) for e in events if isinstance(e, Label)],
        progress=conversation_progress(e for e in events if isinstance(e, Turn)),
    )


def claims(events: Iterable[MetricsEvent]) -> list[EventClaim]:
    return [EventClaim(event.event_id, window_start(event.occurred_at)) for event in events]


def ended_conversations(events: Iterable[MetricsEvent]) -> list[uuid.UUID]:
    """The conversations whose outcome is among `events`: their progress is needed to count them."""
    return list({e.conversation_id for e in events if isinstance(e, BookingOutcome)})


def labelled_messages(events: Iterable[MetricsEvent]) -> list[uuid.UUID]:
    """The messages whose model answer is needed to score `events`' labels."""
    return list({e.message_event_id for e in events if isinstance(e, Label) and e.field in LABELLED_TASKS})


def record(
    aggregator: MetricsAggregator,
    event: MetricsEvent,
    conversations: Mapping[uuid.UUID, ConversationProgress],
    model_answers: Mapping[uuid.UUID, ModelAnswer],
) -> None:
    """Counts one (new) event into its window."""
    at, event_id = event.occurred_at, str(event.event_id)
    if isinstance(event, Turn):
        aggregator.record_turn(at, turn_index=event.turn_index, event_id=event_id)
    elif isinstance(event, MessageAnalysis):
        aggregator.record_analysis(
            at,
            latency_ms=event.latency_ms,
            confidence=event.confidence,
            escalated=event.escalate,
            event_id=event_id,
            model="escalation" if event.path == "ml" else "nlp",
            tone=event.tone,
            intent=event.intent,
            path=event.path,
        )
    elif isinstance(event, BookingOutcome):
        progress = conversations.get(event.conversation_id)
        aggregator.record_outcome(
            at,
            booked=event.booked,
            turns=progress.turns if progress is not None else 0,
            # The assistant completed its task when the conversation ended without a human taking over.
            task_completed=progress is None or not progress.human_handoff,
            total_value=event.total_value,
            upsells_offered=len(event.offered_upsells),
            upsells_accepted=len(event.accepted_upsells),
            event_id=event_id,
        )
    elif isinstance(event, SurveyResponse):
        aggregator.record_survey(at, rating=event.rating, event_id=event_id)
    elif isinstance(event, ServiceCall):
        # A call without a latency cannot feed the latency sketch; the front end always sends one.
        if event.latency_ms is not None:
            aggregator.record_service_call(
                at, service=event.service, ok=event.ok, latency_ms=event.latency_ms, event_id=event_id
            )
    elif event.field in LABELLED_TASKS:
        answer = model_answers.get(event.message_event_id)
        if answer is not None:
            correct = answer[event.field] is not None and answer[event.field] == str(event.value)
            aggregator.record_label(at, task=event.field, correct=correct, event_id=event_id)


def count_windows(
    events: Iterable[MetricsEvent],
    conversations: Mapping[uuid.UUID, ConversationProgress],
    model_answers: Mapping[uuid.UUID, ModelAnswer],
) -> list[MetricsWindow]:
    """The partial windows (oldest first) that `events`, new to every window, add to the stored ones."""
    aggregator = MetricsAggregator()
    for event in events:
        record(aggregator, event, conversations, model_answers)
    return aggregator.open_windows()


def flatten_figures(figures: Mapping[str, Any], prefix: str = "") -> dict[str, float | None]:
    """MetricsWindow.figures() as the flat, numeric map MetricsSnapshot carries ("conversation.booked")."""
    flat: dict[str, float | None] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_figures(value, name + "."))
        elif value is None or isinstance(value, int | float):
            flat[name] = None if value is None else float(value)
    return flat


def snapshot(window: MetricsWindow) -> MetricsSnapshot:
    sketches = {"model.nlp_latency_ms": window.nlp_latency_ms}
    sketches.update(
        {f"service.{name}.latency_ms": stats.latency_ms for name, stats in window.services.items()}
    )
    # Fixed by the window and its content, so republishing an unchanged window is recognisably the same.
    state = json.dumps(window.to_json(), sort_keys=True)
    return MetricsSnapshot(
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"teppan-metrics:{state}"),
        source="teppan-metrics",
        window_start=window.start,
        window_end=window.end,
        figures=flatten_figures(window.figures()),
        sketches={name: base64.b64encode(sketch.to_bytes()).decode() for name, sketch in sketches.items()},
    )
