"""The typed events every Teppan worker passes: frozen pydantic v2 models with one shared envelope.

Input events (what front ends produce) forbid unknown fields, so a typo is a dead letter, not data loss.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from schemas.vocabulary import Sentiment

# A chat turn is text a person typed; anything longer is a paste or an attack, and goes to the DLQ.
MAX_TEXT_CHARS = 16_000
# The columns these land in are PostgreSQL INTEGER (customer ids: the seed's own DDL) and NUMERIC(12, 2);
# a value the database cannot hold is rejected at the edge, never discovered by a worker on every retry.
INT32_MAX = 2_147_483_647
MAX_MONEY = 9_999_999_999.99
# Event times outside these years are a front end's bug (or an attack on date arithmetic): the latest
# representable datetime overflows as soon as it is converted to UTC or a window is added to it.
EARLIEST_EVENT_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC)

CustomerId = Annotated[int, Field(ge=0, le=INT32_MAX)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
Milliseconds = Annotated[float, Field(ge=0, le=1e9)]

Role = Literal["customer", "ai", "human_agent"]
SlotName = Literal["people", "date", "time", "first_name", "last_name"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Fields every event carries. `occurred_at` is always stored as UTC."""

    # NaN and infinity fit no column and break every sum they enter.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    event_id: UUID = Field(default_factory=uuid4)
    event_type: str
    schema_version: Literal[1] = 1
    occurred_at: datetime = Field(default_factory=utc_now)
    customer_id: CustomerId | None = None
    source: Annotated[str, Field(max_length=200)] | None = None

    @field_validator("occurred_at")
    @classmethod
    def _as_utc(cls, value: datetime) -> datetime:
        # A naive timestamp from a front end is taken as UTC rather than guessed from the server's zone.
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            raise ValueError("must be between 1970 and 2100 (UTC)") from None
        if not EARLIEST_EVENT_TIME <= value < LATEST_EVENT_TIME:
            raise ValueError("must be between 1970 and 2100 (UTC)")
        return value


class ConversationEvent(Envelope):
    conversation_id: UUID


def _strip_nul(text: str) -> str:
    # PostgreSQL text cannot hold NUL; it carries no meaning in chat, so it is removed, not rejected.
    return text.replace("\x00", "")


class ChatMessageFields(ConversationEvent):
    role: Role
    text: Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
    channel: str | None = None
    # Only AI messages carry these.
    tone_used: str | None = None
    suggested_upsells: list[str] = Field(default_factory=list)
    requested_slots: list[SlotName] = Field(default_factory=list)
    model: str | None = None
    provider: str | None = None
    prompt_version: str | None = None
    tokens_in: Count | None = None
    tokens_out: Count | None = None
    latency_ms: Milliseconds | None = None

    @field_validator("text")
    @classmethod
    def _text_without_nul(cls, value: str) -> str:
        return _strip_nul(value)


class ChatMessage(ChatMessageFields):
    """One chat message on `chat.messages.v1`, keyed by `conversation_id`."""

    event_type: Literal["chat.message"] = "chat.message"


class BookingOutcome(ConversationEvent):
    """How a conversation ended, on `chat.outcomes.v1`."""

    event_type: Literal["booking.outcome"] = "booking.outcome"
    booked: bool
    booking_id: str | None = None
    total_value: Annotated[float, Field(ge=0, le=MAX_MONEY)] | None = None
    offered_upsells: list[str] = Field(default_factory=list)
    accepted_upsells: list[str] = Field(default_factory=list)


class SurveyResponse(ConversationEvent):
    """A post-conversation survey answer, on `chat.surveys.v1`."""

    event_type: Literal["survey.response"] = "survey.response"
    rating: Annotated[int, Field(ge=1, le=5)]
    understood: bool | None = None
    tone_appropriate: bool | None = None
    free_text: Annotated[str, Field(max_length=MAX_TEXT_CHARS)] | None = None

    @field_validator("free_text")
    @classmethod
    def _free_text_without_nul(cls, value: str | None) -> str | None:
        return None if value is None else _strip_nul(value)


class ServiceCall(ConversationEvent):
    """One of the agent's own STT, LLM or TTS calls, on `chat.service-calls.v1`."""

    event_type: Literal["service.call"] = "service.call"
    service: Literal["stt", "llm", "tts"]
    provider: str
    model: str | None = None
    ok: bool
    error: Annotated[str, Field(max_length=MAX_TEXT_CHARS)] | None = None
    latency_ms: Milliseconds | None = None
    tokens_in: Count | None = None
    tokens_out: Count | None = None


InputEvent = Annotated[
    ChatMessage | BookingOutcome | SurveyResponse | ServiceCall, Field(discriminator="event_type")
]
INPUT_EVENT_ADAPTER: TypeAdapter[ChatMessage | BookingOutcome | SurveyResponse | ServiceCall] = TypeAdapter(
    InputEvent
)


class TurnContext(BaseModel):
    """Conversation state ingest keeps in Redis, as it stood when this message arrived."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requested_slots: list[SlotName] = Field(default_factory=list)
    corrections: Count = 0


class Turn(ChatMessageFields):
    """An accepted ChatMessage, numbered within its conversation, on `chat.turns.v1`.

    It keeps the message's `event_id`, so every downstream write is idempotent on the original message.
    """

    event_type: Literal["chat.turn"] = "chat.turn"
    turn_index: Count
    experiments: dict[str, str] = Field(default_factory=dict)
    context: TurnContext = Field(default_factory=TurnContext)


class ExtractedEntity(BaseModel):
    model_config = ConfigDict(frozen=True)

    surface: str
    value: Any = None
    confidence: Annotated[float, Field(ge=0, le=1)]
    needs_confirmation: bool = False


class MessageAnalysis(ConversationEvent):
    """What the NLP fast path (or the ML escalation path) found in one customer turn."""

    event_type: Literal["nlp.analysis"] = "nlp.analysis"
    message_event_id: UUID
    turn_index: Count
    tone: str
    tone_probs: dict[str, float] = Field(default_factory=dict)
    intent: str
    intent_probs: dict[str, float] = Field(default_factory=dict)
    sentiment: Sentiment
    frustrated: bool = False
    entities: dict[str, ExtractedEntity] = Field(default_factory=dict)
    correction: bool = False
    pii_detected: list[str] = Field(default_factory=list)
    confidence: Annotated[float, Field(ge=0, le=1)]
    escalate: bool = False
    path: Literal["fast", "ml"] = "fast"
    model_versions: dict[str, str] = Field(default_factory=dict)
    latency_ms: float = 0.0
    suggested_reply_tone: str | None = None
    suggested_upsells: list[str] = Field(default_factory=list)


class EscalationRequest(ConversationEvent):
    """A customer turn the fast path was unsure of, for the GPU model on `ml.escalations.v1`."""

    event_type: Literal["ml.escalation"] = "ml.escalation"
    message_event_id: UUID
    turn_index: Count
    text: str
    requested_slots: list[SlotName] = Field(default_factory=list)
    fast_confidence: float
    reason: str
    # The fast path's own analysis: the slow path replaces its tone, intent, sentiment and confidence and
    # keeps its slots, PII, corrections and upsells (the model has no slot head).
    fast_analysis: MessageAnalysis | None = None
    # The turn's experiment stamp ({experiment: variant}), so a model experiment over the escalation model
    # answers the turn with its variant's alias, as sticky as ingest's assignment.
    experiments: dict[str, str] = Field(default_factory=dict)


class EdgeCaseFlagged(ConversationEvent):
    event_type: Literal["analytics.edge_case"] = "analytics.edge_case"
    message_event_id: UUID | None = None
    reasons: list[
        Literal[
            "low_confidence",
            "no_entities_found",
            "multiple_corrections",
            "escalated_to_human",
            "customer_expressed_frustration",
        ]
    ]


class Label(ConversationEvent):
    """A human's correction of a tone, intent or entity, on `labels.v1`."""

    event_type: Literal["label"] = "label"
    message_event_id: UUID
    field: Literal["tone", "intent", "entity"]
    entity_name: str | None = None
    value: Any
    labeller: str | None = None


class MetricsSnapshot(Envelope):
    event_type: Literal["analytics.metrics"] = "analytics.metrics"
    window_start: datetime
    window_end: datetime
    figures: dict[str, float | None] = Field(default_factory=dict)
    # Serialised mergeable sketches (base64), so percentiles over many windows are merged, not averaged.
    sketches: dict[str, str] = Field(default_factory=dict)


class Alert(Envelope):
    event_type: Literal["analytics.alert"] = "analytics.alert"
    rule: str
    level: Literal["info", "warning", "error", "fatal"] = "warning"
    message: str
    value: float | None = None
    threshold: float | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class DeadLetter(Envelope):
    """A message a stage could not decode or validate, kept whole so nothing is lost."""

    event_type: Literal["dead_letter"] = "dead_letter"
    stage: str
    source_topic: str
    partition: int
    offset: int
    key_b64: str | None = None
    original_b64: str
    error: str


EVENT_MODELS: tuple[type[Envelope], ...] = (
    ChatMessage,
    BookingOutcome,
    SurveyResponse,
    ServiceCall,
    Turn,
    MessageAnalysis,
    EscalationRequest,
    EdgeCaseFlagged,
    Label,
    MetricsSnapshot,
    Alert,
    DeadLetter,
)
