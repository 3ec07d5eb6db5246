"""The alert rules' pure core: the ML guide's rules with per-rule cooldowns, the weekly readiness job
and the LLM budgets, evaluated from persisted state and the latest figures into alerts and a new state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final, Literal

from schemas.events import Alert
from services.analytics.alert_rules.drift import PSI_THRESHOLD, DriftFinding
from services.analytics.reports.costs import (
    BudgetCrossing,
    Budgets,
    BudgetTracker,
    PriceTable,
    Usage,
    period_spend,
)

ML_DATA_READY: Final = "ml_data_ready"
PERFORMANCE_DEGRADATION: Final = "performance_degradation"
HIGH_LATENCY: Final = "high_latency"
GPU_NEEDED: Final = "gpu_needed"
MODEL_DRIFT: Final = "model_drift"
BUDGET_80: Final = "budget_80"
BUDGET_100: Final = "budget_100"

AlertLevel = Literal["debug", "info", "warning", "error", "fatal"]
# Sentry levels: good news is info, capacity/latency a warning, broken models and blown budgets errors.
LEVELS: Final[dict[str, AlertLevel]] = {
    ML_DATA_READY: "info",
    PERFORMANCE_DEGRADATION: "error",
    HIGH_LATENCY: "warning",
    GPU_NEEDED: "warning",
    MODEL_DRIFT: "error",
    BUDGET_80: "warning",
    BUDGET_100: "error",
}
DEFAULT_COOLDOWN = timedelta(hours=1)


@dataclass(frozen=True)
class AlertThresholds:
    """The rule thresholds; the defaults are the ML guide's."""

    ml_data_ready_conversations: int = 10_000  # fires when total conversations >= this
    min_tone_accuracy: float = 0.75  # fires when labelled tone accuracy < this
    max_p95_latency_ms: float = 200.0  # fires when p95 latency > this
    gpu_needed_conversations_per_day: int = 1_000  # fires when conversations per day > this
    max_accuracy_drop: float = 0.10  # fires when baseline accuracy - accuracy > this


@dataclass(frozen=True)
class Observations:
    """The latest figures the rules look at; a None figure leaves its rule untouched.

    accuracy and baseline_accuracy feed model_drift: a served model's live intent accuracy on human labels
    and the gold-set accuracy it was registered with (None until enough labels, or without a baseline);
    accuracy_model names it ("escalation v3 (model version)"). `drift` feeds it too: the
    served models' heads checked against their registered references (None: no registry to compare with).
    """

    total_conversations: int | None = None
    tone_accuracy: float | None = None
    p95_latency_ms: float | None = None
    conversations_per_day: int | None = None
    accuracy: float | None = None
    baseline_accuracy: float | None = None
    drift: tuple[DriftFinding, ...] | None = None
    accuracy_model: str | None = None


@dataclass(frozen=True)
class FiredAlert:
    """One page: `rule` is also the Sentry fingerprint, so each rule is one Sentry issue."""

    rule: str
    level: AlertLevel
    message: str
    value: float
    threshold: float
    fired_at: datetime
    tags: Mapping[str, str] = field(default_factory=dict)


def _model_drift_check(
    o: Observations, drop: float | None, max_drop: float
) -> tuple[str, float | None, float, bool, str]:
    """model_drift: a served model's answers moved away from its registered reference (the worst head's PSI
    names it), or its accuracy dropped below its registered baseline. Untouched (value None) when neither
    can be checked."""
    drifted = sorted((f for f in o.drift or () if f.drifted), key=lambda f: f.psi, reverse=True)
    if drifted:
        worst = drifted[0]
        # Every drifted head is named, worst first, so a page for one model cannot hide another's drift.
        listed = [f"{f.model} v{f.registered_version} ({f.model_version}) {f.head} PSI {f.psi:.3f}" for f in drifted[1:6]]
        more = f" and {len(drifted) - 6} more" if len(drifted) > 6 else ""
        others = f"; also drifted: {', '.join(listed)}{more}" if listed else ""
        message = "model drift: " + worst.describe().replace("{", "{{").replace("}", "}}") + others + ": retrain"
        return (MODEL_DRIFT, worst.psi, PSI_THRESHOLD, True, message)
    if drop is not None:
        model = (o.accuracy_model or "the served model").replace("{", "{{").replace("}", "}}")
        return (MODEL_DRIFT, drop, max_drop, drop > max_drop,
                f"{model}: accuracy on human labels {o.accuracy:.3f} dropped {{value:.3f}} below the registered"
                f" baseline {o.baseline_accuracy:.3f} (> {{threshold:.2f}}): retrain")  # fmt: skip
    if o.drift:
        worst_psi = max(f.psi for f in o.drift)
        return (MODEL_DRIFT, worst_psi, PSI_THRESHOLD, False, "")
    return (MODEL_DRIFT, None, PSI_THRESHOLD, False, "")


class AlertEngine:
    """Fires each rule once per episode, and not again within its cooldown.

    An episode starts when a rule's condition becomes true and ends when it is seen false. A rule
    pages when an episode starts, unless it paged less than its cooldown ago; a condition that
    flaps within the cooldown therefore pages once, and one that stays true never pages again.
    """

    def __init__(
        self,
        thresholds: AlertThresholds = AlertThresholds(),
        *,
        cooldowns: Mapping[str, timedelta] | None = None,
        default_cooldown: timedelta = DEFAULT_COOLDOWN,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        self.thresholds = thresholds
        self._cooldowns = dict(cooldowns or {})
        self._default_cooldown = default_cooldown
        self._active: dict[str, bool] = {}
        self._last_fired: dict[str, datetime] = {}
        for rule, entry in (state or {}).items():
            self._active[rule] = bool(entry["active"])
            if entry.get("last_fired"):
                self._last_fired[rule] = datetime.fromisoformat(entry["last_fired"])

    def evaluate(self, observations: Observations, now: datetime) -> list[FiredAlert]:
        """The alerts that page now, given the latest observations."""
        t, o = self.thresholds, observations
        drop = (
            o.baseline_accuracy - o.accuracy
            if o.accuracy is not None and o.baseline_accuracy is not None
            else None
        )
        checks: list[tuple[str, float | None, float, bool, str]] = [
            (ML_DATA_READY, o.total_conversations, t.ml_data_ready_conversations,
             o.total_conversations is not None and o.total_conversations >= t.ml_data_ready_conversations,
             "{value:.0f} conversations collected (>= {threshold:.0f}): enough data to train deep models"),
            (PERFORMANCE_DEGRADATION, o.tone_accuracy, t.min_tone_accuracy,
             o.tone_accuracy is not None and o.tone_accuracy < t.min_tone_accuracy,
             "tone accuracy {value:.3f} on labelled data is below {threshold:.2f}"),
            (HIGH_LATENCY, o.p95_latency_ms, t.max_p95_latency_ms,
             o.p95_latency_ms is not None and o.p95_latency_ms > t.max_p95_latency_ms,
             "p95 latency {value:.0f} ms is above {threshold:.0f} ms"),
            (GPU_NEEDED, o.conversations_per_day, t.gpu_needed_conversations_per_day,
             o.conversations_per_day is not None and o.conversations_per_day > t.gpu_needed_conversations_per_day,
             "{value:.0f} conversations per day (> {threshold:.0f}): scale out GPU workers"),
            _model_drift_check(o, drop, t.max_accuracy_drop),
        ]  # fmt: skip
        fired = []
        for rule, value, threshold, condition, template in checks:
            if value is None:
                continue
            if self._step(rule, condition, now):
                fired.append(
                    FiredAlert(
                        rule=rule,
                        level=LEVELS[rule],
                        message=template.format(value=value, threshold=threshold),
                        value=float(value),
                        threshold=float(threshold),
                        fired_at=now,
                        tags={"rule": rule},
                    )
                )
        return fired

    def _step(self, rule: str, condition: bool, now: datetime) -> bool:
        was_active = self._active.get(rule, False)
        self._active[rule] = condition
        if not condition or was_active:
            return False
        last = self._last_fired.get(rule)
        if last is not None and now - last < self._cooldowns.get(rule, self._default_cooldown):
            return False
        self._last_fired[rule] = now
        return True

    def state(self) -> dict[str, Any]:
        """A JSON-ready dict to persist and pass back as `state`."""
        return {
            rule: {
                "active": active,
                "last_fired": self._last_fired[rule].isoformat() if rule in self._last_fired else None,
            }
            for rule, active in self._active.items()
        }


def budget_alert(crossing: BudgetCrossing, now: datetime | None = None) -> FiredAlert:
    """The page for a budget crossing; `BudgetTracker` already limits these to once per period."""
    rule = BUDGET_100 if crossing.threshold_pct >= 100 else BUDGET_80
    return FiredAlert(
        rule=rule,
        level=LEVELS[rule],
        message=(
            f"{crossing.period} LLM spend ${crossing.used_usd:.2f} reached {crossing.threshold_pct}% "
            f"of the ${crossing.budget_usd:.2f} budget ({crossing.period_key})"
        ),
        value=crossing.used_usd,
        threshold=crossing.budget_usd * crossing.threshold_pct / 100,
        fired_at=now or datetime.now(UTC),
        tags={"rule": rule, "period": crossing.period, "period_key": crossing.period_key},
    )


# high_latency looks at the p95 of the last few minutes: long enough for a stable p95, short enough to page
# while it is happening.
LATENCY_WINDOW = timedelta(minutes=5)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class AlertConfig:
    """Everything the rules are configured with."""

    thresholds: AlertThresholds = AlertThresholds()
    cooldown: timedelta = DEFAULT_COOLDOWN
    budgets: Budgets = Budgets()
    prices: PriceTable = field(default_factory=lambda: PriceTable([]))

    @property
    def has_budget(self) -> bool:
        return bool(self.budgets.daily_usd or self.budgets.monthly_usd)


@dataclass(frozen=True)
class AlertState:
    """The persisted state, JSON-ready: rule episodes and cooldowns, budget notices, the weekly job's last run."""

    rules: Mapping[str, Any] = field(default_factory=dict)
    budget: Mapping[str, Any] = field(default_factory=dict)
    weekly: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertInputs:
    """The figures one evaluation looks at.

    weekly_conversations: the readiness count of conversations, given only when the weekly job is due;
    usages: LLM usage of the current month (see `budget_period`), needed only when a budget is set.
    """

    observations: Observations
    weekly_conversations: int | None = None
    usages: Sequence[Usage] = ()


@dataclass(frozen=True)
class Evaluation:
    fired: list[FiredAlert]
    state: AlertState


def weekly_due(state: AlertState, now: datetime) -> bool:
    """Whether the weekly job (ml_data_ready on the readiness counts) runs at `now`."""
    last = state.weekly.get("last_run")
    return last is None or now - datetime.fromisoformat(last) >= WEEK


def budget_period(now: datetime) -> tuple[datetime, datetime]:
    """The span of usage the budgets look at: the calendar month of `now` (UTC), through its day."""
    return datetime.combine(now.date().replace(day=1), time(), UTC), now + DAY


def evaluate(config: AlertConfig, state: AlertState, inputs: AlertInputs, now: datetime) -> Evaluation:
    """The alerts that page now, and the state to persist with them."""
    engine = AlertEngine(config.thresholds, default_cooldown=config.cooldown, state=state.rules)
    fired = engine.evaluate(inputs.observations, now)
    weekly = state.weekly
    if inputs.weekly_conversations is not None:
        fired += engine.evaluate(Observations(total_conversations=inputs.weekly_conversations), now)
        weekly = {"last_run": now.isoformat()}
    tracker = BudgetTracker(config.budgets, state=state.budget)
    if config.has_budget:
        daily, monthly = period_spend(inputs.usages, config.prices, now.date())
        fired += [
            budget_alert(crossing, now)
            for crossing in tracker.observe(daily_used=daily, monthly_used=monthly, at=now)
        ]
    return Evaluation(fired, AlertState(engine.state(), tracker.state(), weekly))


def alert_event(alert: FiredAlert) -> Alert:
    """The Alert event that carries a fired alert to the paging worker."""
    return Alert(
        occurred_at=alert.fired_at,
        source="teppan-alerts",
        rule=alert.rule,
        # FiredAlert may say "debug", which no rule uses; Alert starts at "info".
        level="info" if alert.level == "debug" else alert.level,
        message=alert.message,
        value=alert.value,
        threshold=alert.threshold,
        tags=dict(alert.tags),
    )
