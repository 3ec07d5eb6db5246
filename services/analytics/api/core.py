"""The owner's API's pure core: ranges and buckets, the overview from hourly rollups, label events and their
validation, labeller agreement (Cohen's kappa), and the shapes of the documents. No I/O here.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.events import Label
from schemas.vocabulary import INTENTS, TONES
from services.analytics.edge_cases.core import REASONS as EDGE_CASE_REASONS
from services.analytics.metrics.sketches import LatencySketch
from services.analytics.metrics.windows import SATISFIED_RATING
from services.analytics.reports.costs import Budgets, PriceTable, Usage, model_key, period_spend, usd

# The entity names a label may correct: the fast path's extracted slots (services/nlp/slots.py) that the
# ML datasets learn from (services/ml/datasets.py ENTITY_SLOTS); analytics may import neither room.
SLOTS: tuple[str, ...] = ("party_size", "date", "time", "name")
LABEL_FIELDS = ("tone", "intent")
LABEL_SOURCE = "teppan-api"
# uuid5 namespace of label event ids: the same label saved twice is the same events.
LABEL_NAMESPACE = uuid.UUID("6f1d1c52-4e0b-5b0e-9a57-2f4b8e3c7a10")
MAX_LABEL_BODY_BYTES = 16 * 1024
MAX_LABELLER_CHARS = 64
MAX_SLOT_VALUE_CHARS = 200
# Readiness' threshold of labelled tone examples (services/analytics/reports/readiness.py THRESHOLDS).
LABELLED_TONE_TARGET = 5_000

RangeName = Literal["day", "week", "month"]
RANGES: dict[str, tuple[timedelta, str]] = {
    "day": (timedelta(days=1), "hour"),
    "week": (timedelta(days=7), "day"),
    "month": (timedelta(days=30), "day"),
}
BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


class ParameterError(ValueError):
    """A query parameter that is not valid: `location` and `message` name it and the rule, never its value."""

    def __init__(self, name: str, error_type: str, message: str) -> None:
        super().__init__(message)
        self.detail = [{"loc": ["query", name], "type": error_type, "msg": message}]


def parse_range(raw: str | None) -> str:
    value = raw or "day"
    if value not in RANGES:
        raise ParameterError("range", "literal_error", "must be 'day', 'week' or 'month'")
    return value


def parse_limit(raw: str | None, *, default: int, maximum: int, name: str = "limit") -> int:
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,6}", raw):
        raise ParameterError(name, "int_parsing", "must be a whole number")
    value = int(raw)
    if not 1 <= value <= maximum:
        raise ParameterError(name, "range_error", f"must be between 1 and {maximum}")
    return value


def parse_customer_id(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"-?[0-9]{1,10}", raw) or not -(2**31) <= int(raw) < 2**31:
        raise ParameterError("customer_id", "int_parsing", "must be an integer")
    return int(raw)


# --- Ranges and buckets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """[since, until) cut into buckets: whole UTC hours (day) or whole UTC days (week, month) up to now."""

    range: str
    since: datetime
    until: datetime
    bucket: str

    @property
    def starts(self) -> list[datetime]:
        step = BUCKETS[self.bucket]
        count = round((self.until - self.since) / step)
        return [self.since + step * index for index in range(count)]

    def bucket_of(self, at: datetime) -> datetime:
        return truncate(at, self.bucket)


def truncate(at: datetime, bucket: str) -> datetime:
    """The start of the UTC hour or day holding `at`."""
    at = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(UTC)
    at = at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0) if bucket == "day" else at


def span_of(range_name: str, now: datetime) -> Span:
    """The range ending with the bucket that holds `now` (so the current hour or day is its last point)."""
    length, bucket = RANGES[range_name]
    until = truncate(now, bucket) + BUCKETS[bucket]
    return Span(range_name, until - length, until, bucket)


# --- The overview -------------------------------------------------------------------------------------------

# The hourly rollup's additive counters the overview reads (MetricsWindow's names).
COUNTERS = (
    "conversations",
    "turns",
    "outcomes",
    "booked",
    "outcome_turns",
    "tasks_completed",
    "analyses",
    "escalations",
    "upsells_offered",
    "upsells_accepted",
    "surveys",
    "satisfied",
)
PATHS = ("fast", "ml")


def merge_sketch_json(into: dict[str, Any] | None, other: Mapping[str, Any]) -> dict[str, Any]:
    """Two LatencySketch.to_json() documents added up, without building the sketches (a month is 720 hours;
    building a sketch from JSON costs far more than adding its bins). Returns `into`, changed, or a copy."""
    if into is None:
        copied: dict[str, Any] = json.loads(json.dumps(other))
        return copied
    if (into["gamma"], into["index_offset"]) != (other["gamma"], other["index_offset"]):
        raise ValueError("cannot merge sketches of different relative accuracy")
    for store in ("positive", "negative"):
        into[store] = _merge_bins(into[store], other[store])
    into["zero_count"] += other["zero_count"]
    into["sum"] += other["sum"]
    for name, pick in (("min", min), ("max", max)):
        if other[name] is not None:
            into[name] = other[name] if into[name] is None else pick(into[name], other[name])
    return into


def _merge_bins(into: dict[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Adds `other`'s bins into `into`'s (owned by the caller, so changed in place) and returns it."""
    if not other["bins"]:
        return into
    if not into["bins"]:
        return {"offset": other["offset"], "bins": list(other["bins"])}
    bins: list[float] = into["bins"]
    offset = min(into["offset"], other["offset"])
    if offset < into["offset"]:
        bins[:0] = [0.0] * (into["offset"] - offset)
    stop = other["offset"] + len(other["bins"]) - offset
    if stop > len(bins):
        bins.extend([0.0] * (stop - len(bins)))
    for index, count in enumerate(other["bins"], other["offset"] - offset):
        bins[index] += count
    return {"offset": offset, "bins": bins}


def latency_percentiles(sketch: Mapping[str, Any] | None) -> dict[str, float | None]:
    """p50 and p95 of a sketch's JSON, or nulls when it holds nothing."""
    if sketch is None:
        return {"p50": None, "p95": None}
    built = LatencySketch.from_json(dict(sketch))
    if not built.count:
        return {"p50": None, "p95": None}
    return {"p50": built.quantile(0.50), "p95": built.quantile(0.95)}


@dataclass
class Tally:
    """The additive counts of a bucket (or of the whole range) and its latency sketches by path."""

    counts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    latency: dict[str, dict[str, Any]] = field(default_factory=dict)
    cost_usd: float = 0.0

    def add_state(self, state: Mapping[str, Any]) -> None:
        for name in COUNTERS:
            self.counts[name] += state.get(name) or 0
        for path, sketch in (state.get("path_latency_ms") or {}).items():
            self.latency[path] = merge_sketch_json(self.latency.get(path), sketch)

    def add(self, other: Tally) -> None:
        for name in COUNTERS:
            self.counts[name] += other.counts[name]
        for path, sketch in other.latency.items():
            self.latency[path] = merge_sketch_json(self.latency.get(path), sketch)
        self.cost_usd += other.cost_usd

    def rate(self, numerator: str, denominator: str) -> float | None:
        return ratio(self.counts[numerator], self.counts[denominator])


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class HourlyUsage:
    """Priced tokens of one UTC hour and model (an `llm_usage_hourly` row)."""

    hour_start: datetime
    provider: str
    model: str
    tokens_in: int
    tokens_out: int


def as_usage(row: HourlyUsage) -> Usage:
    """An hour's tokens of one model as the costs core's Usage (no conversation: it is priced, not counted)."""
    return Usage("", row.provider, row.model, row.tokens_in, row.tokens_out, row.hour_start)


def usage_cost(row: HourlyUsage, prices: PriceTable) -> float:
    """The USD cost of an hour's tokens of one model; an unknown model costs nothing here, as in the costs
    report's totals (which list it apart)."""
    return prices.cost(as_usage(row)) or 0.0


def budget_document(
    usage: Iterable[HourlyUsage], prices: PriceTable, budgets: Budgets, today: date
) -> dict[str, Any]:
    """The costs report's `budget`: spend on the UTC day `today` and in its calendar month."""
    daily, monthly = period_spend((as_usage(row) for row in usage), prices, today)
    return {
        "daily_usd": budgets.daily_usd,
        "daily_used": usd(daily),
        "monthly_usd": budgets.monthly_usd,
        "monthly_used": usd(monthly),
    }


def costs_document(
    usage: Iterable[HourlyUsage],
    month_usage: Iterable[HourlyUsage],
    prices: PriceTable,
    budgets: Budgets,
    *,
    conversations: int,
    bookings: int,
    today: date,
) -> dict[str, Any]:
    """The costs report's document (reports/costs.py cost_report) from the hourly priced tokens of the range.

    `per_conversation_avg_usd` is over the `conversations` that started in the range and `per_booking_usd`
    over its booked outcomes (both from the metrics rollup): the report itself counts the conversations with
    LLM usage, which would mean reading every usage row of the range.
    """
    total = 0.0
    by_model: dict[str, float] = defaultdict(float)
    by_day: dict[str, float] = defaultdict(float)
    unknown: set[str] = set()
    for row in usage:
        key = model_key(row.provider, row.model)
        cost = prices.cost(Usage("", row.provider, row.model, row.tokens_in, row.tokens_out, row.hour_start))
        if cost is None:
            unknown.add(key)
            continue
        total += cost
        by_model[key] += cost
        by_day[row.hour_start.astimezone(UTC).date().isoformat()] += cost
    return {
        "total_usd": usd(total),
        "by_model": {key: usd(value) for key, value in sorted(by_model.items())},
        "by_day": {key: usd(value) for key, value in sorted(by_day.items())},
        "per_conversation_avg_usd": usd(total / conversations) if conversations else None,
        "per_booking_usd": usd(total / bookings) if bookings else None,
        "unknown_models": sorted(unknown),
        "budget": budget_document(month_usage, prices, budgets, today),
    }


def overview_document(
    span: Span,
    hours: Iterable[tuple[datetime, Mapping[str, Any]]],
    usage: Iterable[HourlyUsage],
    month_usage: Iterable[HourlyUsage],
    prices: PriceTable,
    budgets: Budgets,
    *,
    today: date,
    dead_letters: int | None,
) -> dict[str, Any]:
    """`GET /api/overview` from the hourly rollup rows in the span (start, MetricsWindow state) and the hourly
    priced tokens: in the span (`usage`) and in the current month (`month_usage`, for the budget)."""
    starts = span.starts
    buckets = {start: Tally() for start in starts}
    for start, state in hours:
        bucket = buckets.get(span.bucket_of(start))
        if bucket is not None:
            bucket.add_state(state)
    for row in usage:
        bucket = buckets.get(span.bucket_of(row.hour_start))
        if bucket is not None:
            bucket.cost_usd += usage_cost(row, prices)
    total = Tally()
    for bucket in buckets.values():
        total.add(bucket)
    series: dict[str, list[Any]] = {
        "bucket_starts": [start.isoformat() for start in starts],
        "conversations": [int(buckets[s].counts["conversations"]) for s in starts],
    }
    for name, (numerator, denominator) in RATES.items():
        series[name] = [buckets[s].rate(numerator, denominator) for s in starts]
    for path in PATHS:
        series[f"{path}_latency_p95_ms"] = [
            latency_percentiles(buckets[s].latency.get(path))["p95"] for s in starts
        ]
    series["llm_cost_usd"] = [usd(buckets[s].cost_usd) for s in starts]
    figures: dict[str, Any] = {
        "conversations": int(total.counts["conversations"]),
        "messages": int(total.counts["turns"]),
        "ended": int(total.counts["outcomes"]),
        "analyses": int(total.counts["analyses"]),
    }
    for name, (numerator, denominator) in RATES.items():
        figures[name] = total.rate(numerator, denominator)
    for path in PATHS:
        figures[f"{path}_latency_ms"] = latency_percentiles(total.latency.get(path))
    figures["dead_letters"] = dead_letters
    figures["llm_cost_usd"] = usd(total.cost_usd)
    figures["budget"] = budget_document(month_usage, prices, budgets, today)
    return {
        "range": span.range,
        "since": span.since.isoformat(),
        "until": span.until.isoformat(),
        "bucket": span.bucket,
        "figures": figures,
        "series": series,
    }


# Each rate of the overview: (numerator, denominator) among COUNTERS. Conversion, average turns and task
# completion are over the conversations that ended in the bucket, as in MetricsWindow.figures().
RATES: dict[str, tuple[str, str]] = {
    "conversion_rate": ("booked", "outcomes"),
    "upsell_acceptance_rate": ("upsells_accepted", "upsells_offered"),
    "csat": ("satisfied", "surveys"),
    "avg_turns": ("outcome_turns", "outcomes"),
    "task_completion_rate": ("tasks_completed", "outcomes"),
    "escalation_rate": ("escalations", "analyses"),
}
assert SATISFIED_RATING == 4  # csat is the share of 4- and 5-star ratings, as the metrics worker counts it


# --- Conversations ------------------------------------------------------------------------------------------

HEX_PREFIX_MIN = 8
UUID_HEX_CHARS = 32


@dataclass(frozen=True)
class IdMatch:
    """The conversation ids a search text can name: [low, high], one id when the text is a whole one."""

    low: uuid.UUID
    high: uuid.UUID


def id_match(q: str) -> IdMatch | None:
    """A whole conversation id, or a prefix of at least 8 hex digits (dashes ignored), as an id range."""
    text = q.strip().lower().replace("-", "")
    if not HEX_PREFIX_MIN <= len(text) <= UUID_HEX_CHARS or not re.fullmatch(r"[0-9a-f]+", text):
        return None
    pad = UUID_HEX_CHARS - len(text)
    return IdMatch(uuid.UUID(text + "0" * pad), uuid.UUID(text + "f" * pad))


MAX_SEARCH_CHARS = 200


def search_words(q: str) -> str | None:
    """The text to match words of messages with (plainto_tsquery's input), or None when it has no word."""
    text = q.strip()[:MAX_SEARCH_CHARS].replace("\x00", "")
    return text if re.search(r"\w", text) else None


def parse_conversation_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def as_json(value: Any) -> Any:
    """A JSONB column's value as asyncpg returns it (text) decoded; None stays None."""
    return json.loads(value) if isinstance(value, str) else value


def slots_of(entities: Any) -> dict[str, Any]:
    """{slot: value} from `entities_extracted` ({name: {"text", "value"}})."""
    decoded = as_json(entities)
    if not isinstance(decoded, dict):
        return {}
    return {
        name: (entity.get("value") if isinstance(entity, dict) else entity)
        for name, entity in decoded.items()
    }


def label_value(value: Any) -> Any:
    """A stored label's value (JSONB text), decoded."""
    return as_json(value)


# --- Labels -------------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SlotValue = Annotated[str, Field(max_length=MAX_SLOT_VALUE_CHARS)] | None


class LabelRequest(BaseModel):
    """`POST /api/labels`: one person's answers for one customer turn."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_event_id: uuid.UUID
    labeller: Annotated[str, Field(min_length=1, max_length=MAX_LABELLER_CHARS)]
    tone: str | None = None
    intent: str | None = None
    slots: dict[str, SlotValue] = Field(default_factory=dict, max_length=len(SLOTS))

    @field_validator("labeller")
    @classmethod
    def _labeller(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        if _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("tone")
    @classmethod
    def _tone(cls, value: str | None) -> str | None:
        if value is not None and value not in TONES:
            raise ValueError("must be one of the tones that GET /api/vocabulary lists")
        return value

    @field_validator("intent")
    @classmethod
    def _intent(cls, value: str | None) -> str | None:
        if value is not None and value not in INTENTS:
            raise ValueError("must be one of the intents that GET /api/vocabulary lists")
        return value

    @field_validator("slots")
    @classmethod
    def _slots(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        if any(name not in SLOTS for name in value):
            raise ValueError("slot names must be among the slots that GET /api/vocabulary lists")
        if any(text is not None and "\x00" in text for text in value.values()):
            raise ValueError("slot values must not contain NUL characters")
        return value

    @model_validator(mode="after")
    def _something(self) -> LabelRequest:
        if self.tone is None and self.intent is None and not self.slots:
            raise ValueError("give at least one of tone, intent or slots")
        return self


class LabelProblem(ValueError):
    """A label body that is not valid: `status` (413 or 422) and a body in the front door's safe shape."""

    def __init__(self, status: int, detail: list[dict[str, Any]], error_count: int | None = None) -> None:
        super().__init__(f"invalid label body ({status})")
        self.status = status
        self.body: dict[str, Any] = {"detail": detail}
        if error_count is not None:
            self.body["error_count"] = error_count


# The only names a 422 location may show (the request's own field names and the slots); anything else there
# came from the client and is replaced, never echoed (as the front door does, services/ingest/http.py).
KNOWN_NAMES = frozenset({"body", *LabelRequest.model_fields, *SLOTS})
UNKNOWN_NAME = "(unknown field)"
MAX_REPORTED_ERRORS = 20
# Messages in Teppan's own words per pydantic error type: pydantic's own may quote the input.
MESSAGES: dict[str, str] = {
    "missing": "field required",
    "extra_forbidden": "unknown field; only the documented fields are accepted",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "string_type": "must be a string",
    "string_unicode": "must be a valid Unicode string",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "must have at most {max_length} characters",
    "too_long": "must have at most {max_length} items",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID",
    "uuid_version": "must be a UUID of another version",
}
SCHEMA_CONTEXT_KEYS = frozenset({"max_length", "min_length"})
# The sentences LabelRequest's validators raise: fixed text, never the input.
VALIDATOR_MESSAGES = frozenset(
    {
        "must not be blank",
        "must not contain control characters",
        "must be one of the tones that GET /api/vocabulary lists",
        "must be one of the intents that GET /api/vocabulary lists",
        "slot names must be among the slots that GET /api/vocabulary lists",
        "slot values must not contain NUL characters",
        "give at least one of tone, intent or slots",
    }
)


def _message(item: Mapping[str, Any]) -> str:
    context = item.get("ctx") or {}
    if item["type"] == "value_error":
        error = context.get("error")
        text = str(error) if isinstance(error, ValueError) else ""
        return text if text in VALIDATOR_MESSAGES else "invalid value"
    template = MESSAGES.get(item["type"], "invalid value")
    try:
        return template.format(**{key: value for key, value in context.items() if key in SCHEMA_CONTEXT_KEYS})
    except (KeyError, IndexError):
        return "invalid value"


def validation_detail(error: ValidationError) -> tuple[list[dict[str, Any]], int]:
    """(the 422 `detail`, the number of errors): locations, types and fixed messages only."""
    errors = error.errors(include_url=False)
    detail = [
        {
            "loc": [
                "body",
                *(p if isinstance(p, int) or p in KNOWN_NAMES else UNKNOWN_NAME for p in item["loc"]),
            ],
            "type": item["type"],
            "msg": _message(item),
        }
        for item in errors[:MAX_REPORTED_ERRORS]
    ]
    return detail, len(errors)


def parse_label_request(document: Any) -> LabelRequest:
    """The request from a decoded JSON body; LabelProblem (422) for anything else, never another error."""
    try:
        return LabelRequest.model_validate(document)
    except ValidationError as error:
        detail, count = validation_detail(error)
        raise LabelProblem(422, detail, count) from None


def label_event_id(
    message_event_id: uuid.UUID, labeller: str, field_name: str, entity: str | None, value: Any
) -> uuid.UUID:
    key = json.dumps([str(message_event_id), labeller, field_name, entity, value], separators=(",", ":"))
    return uuid.uuid5(LABEL_NAMESPACE, key)


def label_events(
    request: LabelRequest,
    *,
    conversation_id: uuid.UUID,
    customer_id: int | None,
    now: datetime,
) -> list[Label]:
    """One Label event per field given: tone, intent, and one entity per slot (a null value: the slot is
    absent). Ids derive from the message, labeller, field and value, so the same label saved twice is the
    same events, and a changed answer is a new one."""
    answers: list[tuple[Literal["tone", "intent", "entity"], str | None, Any]] = []
    if request.tone is not None:
        answers.append(("tone", None, request.tone))
    if request.intent is not None:
        answers.append(("intent", None, request.intent))
    for name in sorted(request.slots):
        answers.append(("entity", name, request.slots[name]))
    return [
        Label(
            event_id=label_event_id(request.message_event_id, request.labeller, field_name, entity, value),
            occurred_at=now,
            customer_id=customer_id,
            source=LABEL_SOURCE,
            conversation_id=conversation_id,
            message_event_id=request.message_event_id,
            field=field_name,
            entity_name=entity,
            value=value,
            labeller=request.labeller,
        )
        for field_name, entity, value in answers
    ]


# --- Agreement ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelAnswer:
    """A labeller's latest answer for one field of one turn."""

    message_event_id: str
    field: str
    labeller: str
    value: str


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of (first rater, second rater) answers; None without pairs.

    When chance agreement is certain (both always gave the one same answer), kappa is 1.0: they agree on
    everything there was to agree on.
    """
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first: dict[str, int] = defaultdict(int)
    second: dict[str, int] = defaultdict(int)
    for a, b in pairs:
        first[a] += 1
        second[b] += 1
    expected = sum(first[c] * second.get(c, 0) for c in first) / (n * n)
    if math.isclose(expected, 1.0):
        return 1.0
    return (observed - expected) / (1 - expected)


def agreement(answers: Iterable[LabelAnswer], fields: Sequence[str] = LABEL_FIELDS) -> dict[str, Any]:
    """Per field: Cohen's kappa pooled over every pair of labellers on every turn both labelled (each pair
    ordered by labeller name), with the number of such turns and pairs."""
    by_turn: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for answer in answers:
        by_turn[(answer.field, answer.message_event_id)][answer.labeller] = answer.value
    result: dict[str, Any] = {}
    for field_name in fields:
        pairs: list[tuple[str, str]] = []
        turns = 0
        for (turn_field, _), by_labeller in by_turn.items():
            if turn_field != field_name or len(by_labeller) < 2:
                continue
            turns += 1
            names = sorted(by_labeller)
            pairs.extend(
                (by_labeller[a], by_labeller[b]) for i, a in enumerate(names) for b in names[i + 1 :]
            )
        result[field_name] = {"kappa": cohen_kappa(pairs), "turns": turns, "pairs": len(pairs)}
    return result


# The reasons an edge case may have (the queue's `reason` filter).
REASONS = EDGE_CASE_REASONS


def vocabulary() -> dict[str, list[str]]:
    return {"tones": list(TONES), "intents": list(INTENTS), "slots": list(SLOTS)}


def isoformat(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat()
