"""ML readiness against the ML guide's table, with an estimate of the days left, and the weekly KPIs.

Pure: the CLI and the weekly job count rows in storage and pass the counts in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np

from services.analytics.metrics.sketches import LatencySketch

GROWTH_WINDOW_DAYS = 28


@dataclass(frozen=True)
class ReadinessCounts:
    """The counts the ML guide's readiness table tracks (also used for its thresholds)."""

    conversations: int = 0
    labeled_tone: int = 0
    booking_outcomes: int = 0
    surveys: int = 0
    edge_cases: int = 0
    monthly_active_customers: int = 0


THRESHOLDS = ReadinessCounts(
    conversations=10_000,
    labeled_tone=5_000,
    booking_outcomes=1_000,
    surveys=500,
    edge_cases=200,
    monthly_active_customers=1_000,
)


def estimated_days_to_ready(
    current: ReadinessCounts,
    earlier: ReadinessCounts | None,
    *,
    window_days: float = GROWTH_WINDOW_DAYS,
    thresholds: ReadinessCounts = THRESHOLDS,
) -> int | None:
    """Days until every count reaches its threshold, extrapolating the growth of the last window.

    Method: each count below its threshold is assumed to keep growing linearly at its average
    daily growth over the window, (current - earlier) / window_days; the estimate is the slowest
    count's (threshold - current) / rate, rounded up. 0 when all are met. None when there is no
    earlier snapshot or a missing count did not grow (it would never arrive at this rate).
    `earlier` is the counts as of `window_days` ago; for a system younger than the window pass
    zeros and its age in days. Monthly active customers is a level, not a running total; its
    change over the window is extrapolated the same way.
    """
    now, target = asdict(current), asdict(thresholds)
    missing = [name for name in target if now[name] < target[name]]
    if not missing:
        return 0
    if earlier is None or window_days <= 0:
        return None
    before = asdict(earlier)
    days = 0.0
    for name in missing:
        rate = (now[name] - before[name]) / window_days
        if rate <= 0:
            return None
        days = max(days, (target[name] - now[name]) / rate)
    return math.ceil(days)


# The guide's last criterion: "lightweight NLP accuracy plateaus (<85%)". Plateaued means: over the last
# PLATEAU_WEEKS weeks that each have at least MIN_LABELS_PER_WEEK human labels, the least-squares trend of the
# fast path's weekly accuracy gains less than PLATEAU_MAX_GAIN_PER_WEEK (one percentage point) a week. Fewer
# labels a week make a weekly accuracy too noisy to call a trend (at 50 labels and 80% its standard error
# is already 5.7 points); four weeks is the shortest span over which a trend is more than two points.
RULES_ACCURACY_TARGET = 0.85
PLATEAU_WEEKS = 4
MIN_LABELS_PER_WEEK = 50
PLATEAU_MAX_GAIN_PER_WEEK = 0.01


@dataclass(frozen=True)
class LabelledWeek:
    """One week of the fast path's answers that humans labelled (tone and intent labels pooled)."""

    week_start: date
    labelled: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None


def rules_accuracy_trend(weeks: Sequence[LabelledWeek]) -> dict[str, Any]:
    """Whether the fast path's accuracy on human labels has plateaued below 85%, with the weeks it used.

    `plateaued_below_target` is None while fewer than PLATEAU_WEEKS weeks have MIN_LABELS_PER_WEEK labels;
    otherwise True when, over the last PLATEAU_WEEKS such weeks, the weekly accuracy's least-squares slope
    is under PLATEAU_MAX_GAIN_PER_WEEK and their pooled accuracy is under RULES_ACCURACY_TARGET.
    """
    ordered = sorted(weeks, key=lambda week: week.week_start)
    qualifying = [week for week in ordered if week.labelled >= MIN_LABELS_PER_WEEK]
    recent = qualifying[-PLATEAU_WEEKS:]
    report: dict[str, Any] = {
        "target": RULES_ACCURACY_TARGET,
        "weeks_needed": PLATEAU_WEEKS,
        "min_labels_per_week": MIN_LABELS_PER_WEEK,
        "weeks": [
            {"week_start": week.week_start.isoformat(), "labelled": week.labelled, "accuracy": week.accuracy}
            for week in ordered
        ],
        "recent_accuracy": None,
        "gain_per_week": None,
        "plateaued_below_target": None,
    }
    if len(recent) < PLATEAU_WEEKS:
        return report
    offsets = np.array([(week.week_start - recent[0].week_start).days / 7 for week in recent])
    accuracies = np.array([week.correct / week.labelled for week in recent])
    slope = float(np.polyfit(offsets, accuracies, 1)[0])
    pooled = sum(week.correct for week in recent) / sum(week.labelled for week in recent)
    report.update(
        recent_accuracy=pooled,
        gain_per_week=slope,
        plateaued_below_target=slope < PLATEAU_MAX_GAIN_PER_WEEK and pooled < RULES_ACCURACY_TARGET,
    )
    return report


def readiness_report(
    current: ReadinessCounts,
    earlier: ReadinessCounts | None = None,
    *,
    window_days: float = GROWTH_WINDOW_DAYS,
    thresholds: ReadinessCounts = THRESHOLDS,
    rules_accuracy: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `teppan ml readiness --json` document; ml_ready needs every count at its threshold.

    `rules_accuracy` (a `rules_accuracy_trend` result) is reported beside the counts: the guide's accuracy
    criterion says when the fast path stops improving, not when there is enough data, so it does not
    gate `ml_ready`.
    """
    counts, limits = asdict(current), asdict(thresholds)
    met = {name: counts[name] >= limits[name] for name in limits}
    return {
        "counts": counts,
        "thresholds": limits,
        "met": met,
        "ml_ready": all(met.values()),
        "estimated_days_to_ready": estimated_days_to_ready(
            current, earlier, window_days=window_days, thresholds=thresholds
        ),
        "rules_accuracy": dict(rules_accuracy) if rules_accuracy is not None else rules_accuracy_trend([]),
    }


@dataclass(frozen=True)
class WeeklyInputs:
    """The week's raw figures for `weekly_kpis`.

    labelled_items / labellable_items: customer messages with a human tone label / all customer
    messages. response_time: the week's merged NLP latency sketch. Bookings, upsells and values
    are those of the week's outcomes.
    """

    conversations_this_week: int
    total_conversations: int
    labelled_items: int
    labellable_items: int
    tone_correct: int
    tone_labelled: int
    intent_correct: int
    intent_labelled: int
    response_time: LatencySketch | None
    bookings: int
    upsells_offered: int
    upsells_accepted: int
    booking_value_sum: float
    booking_values: int


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def weekly_kpis(inputs: WeeklyInputs, readiness: Mapping[str, Any]) -> dict[str, Any]:
    """The `teppan report weekly --json` document: the ML guide's KPI set, keyed as the guide names them.

    `readiness` is a `readiness_report` result. A figure without data is None; the labelled
    share is a percentage (0-100), the other rates are fractions.
    """
    labelled = _ratio(inputs.labelled_items, inputs.labellable_items)
    return {
        "conversations_this_week": inputs.conversations_this_week,
        "total_conversations": inputs.total_conversations,
        "labeled_data_percentage": None if labelled is None else 100 * labelled,
        "tone_accuracy": _ratio(inputs.tone_correct, inputs.tone_labelled),
        "intent_accuracy": _ratio(inputs.intent_correct, inputs.intent_labelled),
        "response_time_p95": inputs.response_time.quantile(0.95) if inputs.response_time else None,
        "conversion_rate": _ratio(inputs.bookings, inputs.conversations_this_week),
        "upsell_acceptance_rate": _ratio(inputs.upsells_accepted, inputs.upsells_offered),
        "avg_booking_value": _ratio(inputs.booking_value_sum, inputs.booking_values),
        "ml_ready": bool(readiness["ml_ready"]),
        "estimated_days_to_ml_ready": readiness["estimated_days_to_ready"],
    }
