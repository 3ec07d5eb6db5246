"""Per-minute metrics windows (conversation, model, service, business) as additive, mergeable state.

Pure: events are recorded into `MetricsAggregator`'s windows, stored with `MetricsWindow.to_json()` and
published as `figures()`; days and replicas are combined with `merge`, never by averaging.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.analytics.metrics.sketches import RELATIVE_ACCURACY, LatencySketch

CONFIDENCE_BINS = 10


def confidence_bin(confidence: float) -> str:
    """The bin ("0".."9") of a confidence in [0, 1]: tenths, with 1.0 in the top bin."""
    if not math.isfinite(confidence):
        return "0"
    return str(min(CONFIDENCE_BINS - 1, max(0, int(confidence * CONFIDENCE_BINS))))


WINDOW = timedelta(minutes=1)
# CSAT is the share of survey ratings at or above this (4 or 5 stars out of 5), the usual definition.
SATISFIED_RATING = 4


def window_start(at: datetime) -> datetime:
    """The start of the one-minute UTC window holding `at` (naive datetimes are taken as UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


@dataclass
class ServiceStats:
    """The agent's calls to one service (stt, llm, tts): count, errors, latency."""

    calls: int = 0
    errors: int = 0
    latency_ms: LatencySketch = field(default_factory=LatencySketch)

    def merge(self, other: ServiceStats) -> None:
        self.calls += other.calls
        self.errors += other.errors
        self.latency_ms.merge(other.latency_ms)

    def to_json(self) -> dict[str, Any]:
        return {"calls": self.calls, "errors": self.errors, "latency_ms": self.latency_ms.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServiceStats:
        return cls(data["calls"], data["errors"], LatencySketch.from_json(data["latency_ms"]))


# Additive counters of a window: merging two windows adds them, so every derived figure
# (rates, means) of a merged window is exact.
_COUNTERS: tuple[str, ...] = (
    "conversations",
    "turns",
    "outcomes",
    "booked",
    "outcome_turns",
    "tasks_completed",
    "analyses",
    "confidence_sum",
    "escalations",
    "upsells_offered",
    "upsells_accepted",
    "booking_values",
    "booking_value_sum",
    "surveys",
    "satisfied",
    "rating_sum",
)


@dataclass
class MetricsWindow:
    """Everything counted in one window (or in a merge of windows), as additive state.

    Conversation counts: `conversations` are conversations whose first turn fell in the window;
    conversion, average turns and task completion are over `outcomes`, the conversations that
    ended (received their BookingOutcome) in the window, which is what makes them additive.
    """

    start: datetime
    end: datetime
    conversations: int = 0
    turns: int = 0
    outcomes: int = 0
    booked: int = 0
    outcome_turns: int = 0
    tasks_completed: int = 0
    analyses: int = 0
    confidence_sum: float = 0.0
    escalations: int = 0
    nlp_latency_ms: LatencySketch = field(default_factory=LatencySketch)
    # The same latencies apart by the path that answered ("fast", "ml"): the two differ by orders of magnitude,
    # so one percentile over both says little about either. Windows stored before this was kept have none.
    path_latency_ms: dict[str, LatencySketch] = field(default_factory=dict)
    # Per labelled task ("tone", "intent", ...): human labels seen and how many the model got right.
    labelled: dict[str, int] = field(default_factory=dict)
    correct: dict[str, int] = field(default_factory=dict)
    services: dict[str, ServiceStats] = field(default_factory=dict)
    # Per served model and head ("nlp.tone", "escalation.intent", "nlp.confidence"): how often each answer,
    # or confidence tenth, was given. The drift check compares these with the registered reference.
    predictions: dict[str, dict[str, int]] = field(default_factory=dict)
    upsells_offered: int = 0
    upsells_accepted: int = 0
    booking_values: int = 0
    booking_value_sum: float = 0.0
    surveys: int = 0
    satisfied: int = 0
    rating_sum: float = 0.0

    def merge(self, other: MetricsWindow) -> None:
        """Adds `other` into this window; the span grows to cover both."""
        self.start = min(self.start, other.start)
        self.end = max(self.end, other.end)
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.nlp_latency_ms.merge(other.nlp_latency_ms)
        for path, sketch in other.path_latency_ms.items():
            self.path_latency_ms.setdefault(path, LatencySketch(sketch.relative_accuracy)).merge(sketch)
        for task, count in other.labelled.items():
            self.labelled[task] = self.labelled.get(task, 0) + count
        for task, count in other.correct.items():
            self.correct[task] = self.correct.get(task, 0) + count
        for service, stats in other.services.items():
            self.services.setdefault(service, ServiceStats()).merge(stats)
        for key, counts in other.predictions.items():
            mine = self.predictions.setdefault(key, {})
            for answer, count in counts.items():
                mine[answer] = mine.get(answer, 0) + count

    def figures(self) -> dict[str, Any]:
        """The derived figures; a rate or mean is None when its denominator is zero."""
        return {
            "window_start": self.start.isoformat(),
            "window_end": self.end.isoformat(),
            "sketch_relative_accuracy": self.nlp_latency_ms.relative_accuracy,
            "conversation": {
                "conversations": self.conversations,
                "turns": self.turns,
                "ended": self.outcomes,
                "booked": self.booked,
                "conversion_rate": _ratio(self.booked, self.outcomes),
                "avg_turns": _ratio(self.outcome_turns, self.outcomes),
                "task_completion_rate": _ratio(self.tasks_completed, self.outcomes),
            },
            "model": {
                "analyses": self.analyses,
                "nlp_latency_ms": self.nlp_latency_ms.percentiles(),
                "mean_confidence": _ratio(self.confidence_sum, self.analyses),
                "escalation_rate": _ratio(self.escalations, self.analyses),
                "accuracy": {
                    task: _ratio(self.correct.get(task, 0), count)
                    for task, count in sorted(self.labelled.items())
                },
                "labelled": dict(sorted(self.labelled.items())),
            },
            "service": {
                name: {
                    "calls": stats.calls,
                    "errors": stats.errors,
                    "error_rate": _ratio(stats.errors, stats.calls),
                    "latency_ms": stats.latency_ms.percentiles(),
                }
                for name, stats in sorted(self.services.items())
            },
            "business": {
                "upsells_offered": self.upsells_offered,
                "upsells_accepted": self.upsells_accepted,
                "upsell_acceptance_rate": _ratio(self.upsells_accepted, self.upsells_offered),
                "bookings_with_value": self.booking_values,
                "avg_booking_value": _ratio(self.booking_value_sum, self.booking_values),
                "surveys": self.surveys,
                "csat": _ratio(self.satisfied, self.surveys),
                "avg_rating": _ratio(self.rating_sum, self.surveys),
            },
        }

    def to_json(self) -> dict[str, Any]:
        """The full state, sketches included, so stored windows can be merged later."""
        data: dict[str, Any] = {name: getattr(self, name) for name in _COUNTERS}
        data.update(
            start=self.start.isoformat(),
            end=self.end.isoformat(),
            nlp_latency_ms=self.nlp_latency_ms.to_json(),
            path_latency_ms={path: sketch.to_json() for path, sketch in self.path_latency_ms.items()},
            labelled=dict(self.labelled),
            correct=dict(self.correct),
            services={name: stats.to_json() for name, stats in self.services.items()},
            predictions={key: dict(counts) for key, counts in self.predictions.items()},
        )
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricsWindow:
        window = cls(
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            nlp_latency_ms=LatencySketch.from_json(data["nlp_latency_ms"]),
            # Windows stored before latencies were kept by path have none.
            path_latency_ms={
                path: LatencySketch.from_json(sketch)
                for path, sketch in (data.get("path_latency_ms") or {}).items()
            },
            labelled=dict(data["labelled"]),
            correct=dict(data["correct"]),
            services={name: ServiceStats.from_json(stats) for name, stats in data["services"].items()},
            # Windows stored before the drift check counted no predictions.
            predictions={key: dict(counts) for key, counts in (data.get("predictions") or {}).items()},
        )
        for name in _COUNTERS:
            setattr(window, name, data[name])
        return window


def merge_windows(windows: Iterable[MetricsWindow]) -> MetricsWindow | None:
    """One window covering all of `windows` (a day, several replicas), or None when there are none."""
    result: MetricsWindow | None = None
    for window in windows:
        if result is None:
            # Copy through JSON so merging never mutates the caller's windows.
            result = MetricsWindow.from_json(window.to_json())
        else:
            result.merge(window)
    return result


HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rollup_start(at: datetime, length: timedelta) -> datetime:
    """The start of the UTC hour (or day, or any length dividing a day) holding `at`."""
    since_epoch = window_start(at) - _EPOCH
    return _EPOCH + (since_epoch // length) * length


def hour_start(at: datetime) -> datetime:
    """The start of the UTC hour holding `at` (naive datetimes are taken as UTC)."""
    return rollup_start(at, HOUR)


def rollup_windows(windows: Iterable[MetricsWindow], length: timedelta = HOUR) -> list[MetricsWindow]:
    """`windows` (one-minute ones) added up per UTC hour or day, oldest first: a rollup's partial windows.

    Each spans its whole hour or day, so merging it into the stored one keeps that row's span.
    """
    rolled: dict[datetime, MetricsWindow] = {}
    for window in windows:
        start = rollup_start(window.start, length)
        total = rolled.get(start)
        if total is None:
            accuracy = window.nlp_latency_ms.relative_accuracy
            sketch = LatencySketch(accuracy)
            total = rolled[start] = MetricsWindow(start, start + length, nlp_latency_ms=sketch)
        total.merge(window)
    return [rolled[start] for start in sorted(rolled)]


class MetricsAggregator:
    """Routes events into one-minute windows by their event time.

    Each `record_*` takes the event's time and, optionally, its `event_id`: an id already recorded
    in an open window is ignored, so a redelivery while the window is open changes nothing.
    """

    def __init__(self, relative_accuracy: float = RELATIVE_ACCURACY) -> None:
        self._relative_accuracy = relative_accuracy
        self._windows: dict[datetime, MetricsWindow] = {}
        self._seen: dict[datetime, set[str]] = {}

    def _window(self, at: datetime, event_id: str | None) -> MetricsWindow | None:
        start = window_start(at)
        if event_id is not None:
            seen = self._seen.setdefault(start, set())
            if event_id in seen:
                return None
            seen.add(event_id)
        window = self._windows.get(start)
        if window is None:
            window = MetricsWindow(
                start, start + WINDOW, nlp_latency_ms=LatencySketch(self._relative_accuracy)
            )
            self._windows[start] = window
        return window

    def record_turn(self, at: datetime, *, turn_index: int, event_id: str | None = None) -> None:
        """A customer or assistant turn; turn 0 opens a conversation."""
        if (w := self._window(at, event_id)) is not None:
            w.turns += 1
            w.conversations += turn_index == 0

    def record_analysis(
        self,
        at: datetime,
        *,
        latency_ms: float,
        confidence: float,
        escalated: bool,
        event_id: str | None = None,
        model: str | None = None,
        tone: str | None = None,
        intent: str | None = None,
        path: str | None = None,
    ) -> None:
        """One NLP analysis; `escalated` when it was sent to the slow (ML) path. With `model` (the model that
        answered: "nlp" or "escalation"), its tone, intent and confidence tenth are counted for the drift check;
        with `path` ("fast" or "ml"), its latency also goes into that path's own sketch."""
        if (w := self._window(at, event_id)) is not None:
            w.analyses += 1
            w.confidence_sum += confidence
            w.escalations += escalated
            w.nlp_latency_ms.add(latency_ms)
            if path is not None:
                sketch = w.path_latency_ms.get(path)
                if sketch is None:
                    sketch = w.path_latency_ms[path] = LatencySketch(self._relative_accuracy)
                sketch.add(latency_ms)
            if model is not None:
                for head, answer in (("tone", tone), ("intent", intent), ("confidence", confidence_bin(confidence))):
                    if answer is not None:
                        counts = w.predictions.setdefault(f"{model}.{head}", {})
                        counts[answer] = counts.get(answer, 0) + 1

    def record_outcome(
        self,
        at: datetime,
        *,
        booked: bool,
        turns: int,
        task_completed: bool,
        total_value: float | None = None,
        upsells_offered: int = 0,
        upsells_accepted: int = 0,
        event_id: str | None = None,
    ) -> None:
        """A conversation's outcome, with its number of turns and whether its task was completed."""
        if (w := self._window(at, event_id)) is not None:
            w.outcomes += 1
            w.booked += booked
            w.outcome_turns += turns
            w.tasks_completed += task_completed
            w.upsells_offered += upsells_offered
            w.upsells_accepted += upsells_accepted
            if booked and total_value is not None:
                w.booking_values += 1
                w.booking_value_sum += total_value

    def record_service_call(
        self, at: datetime, *, service: str, ok: bool, latency_ms: float, event_id: str | None = None
    ) -> None:
        """One of the agent's own STT/LLM/TTS calls."""
        if (w := self._window(at, event_id)) is not None:
            stats = w.services.get(service)
            if stats is None:
                stats = w.services[service] = ServiceStats(latency_ms=LatencySketch(self._relative_accuracy))
            stats.calls += 1
            stats.errors += not ok
            stats.latency_ms.add(latency_ms)

    def record_label(self, at: datetime, *, task: str, correct: bool, event_id: str | None = None) -> None:
        """A human label for `task` ("tone", "intent", ...) and whether the model had agreed with it."""
        if (w := self._window(at, event_id)) is not None:
            w.labelled[task] = w.labelled.get(task, 0) + 1
            w.correct[task] = w.correct.get(task, 0) + correct

    def record_survey(self, at: datetime, *, rating: int, event_id: str | None = None) -> None:
        """A post-conversation survey rating, 1 to 5."""
        if not 1 <= rating <= 5:
            raise ValueError(f"a rating is 1 to 5, got {rating}")
        if (w := self._window(at, event_id)) is not None:
            w.surveys += 1
            w.satisfied += rating >= SATISFIED_RATING
            w.rating_sum += rating

    def open_windows(self) -> list[MetricsWindow]:
        return [self._windows[start] for start in sorted(self._windows)]

    def pop_closed(self, now: datetime, grace: timedelta = timedelta(seconds=5)) -> list[MetricsWindow]:
        """Removes and returns, oldest first, the windows that ended at least `grace` before `now`.

        The grace lets slightly late events still land in their own minute.
        """
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        closed = [start for start in sorted(self._windows) if start + WINDOW + grace <= now]
        for start in closed:
            self._seen.pop(start, None)
        return [self._windows.pop(start) for start in closed]
