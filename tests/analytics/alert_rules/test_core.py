"""Alert rules fire at seed 000's thresholds, once per episode, honouring cooldowns across restarts; an
evaluation adds the weekly readiness job and the budgets, and returns the state to persist.
"""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.analytics.alert_rules.core import (
    BUDGET_80,
    BUDGET_100,
    GPU_NEEDED,
    HIGH_LATENCY,
    ML_DATA_READY,
    MODEL_DRIFT,
    PERFORMANCE_DEGRADATION,
    AlertConfig,
    AlertEngine,
    AlertInputs,
    AlertState,
    AlertThresholds,
    FiredAlert,
    Observations,
    alert_event,
    budget_alert,
    budget_period,
    evaluate,
    weekly_due,
)
from services.analytics.reports.costs import BudgetCrossing, Budgets, Price, PriceTable, Usage

T0 = datetime(2026, 11, 22, 12, tzinfo=UTC)


def rules(engine: AlertEngine, now: datetime = T0, /, **figures: float) -> list[str]:
    return [alert.rule for alert in engine.evaluate(Observations(**figures), now)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("figures", "rule", "fires"),
    [
        ({"total_conversations": 9_999}, ML_DATA_READY, False),
        ({"total_conversations": 10_000}, ML_DATA_READY, True),
        ({"tone_accuracy": 0.75}, PERFORMANCE_DEGRADATION, False),
        ({"tone_accuracy": 0.7499}, PERFORMANCE_DEGRADATION, True),
        ({"p95_latency_ms": 200.0}, HIGH_LATENCY, False),
        ({"p95_latency_ms": 200.1}, HIGH_LATENCY, True),
        ({"conversations_per_day": 1_000}, GPU_NEEDED, False),
        ({"conversations_per_day": 1_001}, GPU_NEEDED, True),
        ({"accuracy": 0.80, "baseline_accuracy": 0.90}, MODEL_DRIFT, False),
        ({"accuracy": 0.79, "baseline_accuracy": 0.90}, MODEL_DRIFT, True),
        ({"accuracy": 0.10}, MODEL_DRIFT, False),  # no registered baseline
    ],
)
def test_seed_thresholds(figures: dict[str, float], rule: str, fires: bool) -> None:
    assert (rule in rules(AlertEngine(), **figures)) is fires


def test_alert_content() -> None:
    (alert,) = AlertEngine().evaluate(Observations(p95_latency_ms=250.0), T0)
    assert (alert.rule, alert.level, alert.value, alert.threshold, alert.fired_at) == (
        HIGH_LATENCY,
        "warning",
        250.0,
        200.0,
        T0,
    )
    assert alert.tags == {"rule": HIGH_LATENCY}
    assert "250 ms" in alert.message


def test_an_accuracy_drop_names_the_model_its_live_accuracy_and_its_baseline() -> None:
    observed = Observations(accuracy=0.70, baseline_accuracy=0.87, accuracy_model="escalation v3 (esc-{x})")
    (alert,) = AlertEngine().evaluate(observed, T0)
    assert alert.rule == MODEL_DRIFT and alert.value == pytest.approx(0.17)
    assert alert.message == (
        "escalation v3 (esc-{x}): accuracy on human labels 0.700 dropped 0.170 below the registered baseline"
        " 0.870 (> 0.10): retrain"
    )


def test_configurable_thresholds() -> None:
    engine = AlertEngine(AlertThresholds(max_p95_latency_ms=500.0, min_tone_accuracy=0.9))
    assert rules(engine, p95_latency_ms=300.0, tone_accuracy=0.85) == [PERFORMANCE_DEGRADATION]


def test_one_episode_pages_once() -> None:
    engine = AlertEngine()
    assert rules(engine, T0, p95_latency_ms=300.0) == [HIGH_LATENCY]
    for minutes in range(1, 240, 7):
        assert rules(engine, T0 + timedelta(minutes=minutes), p95_latency_ms=300.0) == []
    # An unobserved figure neither ends nor restarts the episode.
    assert rules(engine, T0 + timedelta(hours=5)) == []
    assert rules(engine, T0 + timedelta(hours=5), p95_latency_ms=300.0) == []


def test_flapping_within_cooldown_pages_once_then_again_after_it() -> None:
    engine = AlertEngine(cooldowns={HIGH_LATENCY: timedelta(minutes=30)})
    assert rules(engine, T0, p95_latency_ms=300.0) == [HIGH_LATENCY]
    assert rules(engine, T0 + timedelta(minutes=1), p95_latency_ms=100.0) == []
    assert rules(engine, T0 + timedelta(minutes=2), p95_latency_ms=300.0) == []  # new episode, in cooldown
    assert rules(engine, T0 + timedelta(minutes=40), p95_latency_ms=300.0) == []  # still that episode
    assert rules(engine, T0 + timedelta(minutes=41), p95_latency_ms=100.0) == []
    assert rules(engine, T0 + timedelta(minutes=42), p95_latency_ms=300.0) == [HIGH_LATENCY]


def test_state_survives_a_restart() -> None:
    engine = AlertEngine()
    assert rules(engine, T0, total_conversations=12_000) == [ML_DATA_READY]
    restored = AlertEngine(state=engine.state())
    assert rules(restored, T0 + timedelta(days=7), total_conversations=12_500) == []
    assert restored.state()[ML_DATA_READY] == {"active": True, "last_fired": T0.isoformat()}


def test_budget_alerts() -> None:
    warn = budget_alert(BudgetCrossing("daily", "2026-11-22", 80, 8.2, 10.0), T0)
    assert (warn.rule, warn.level, warn.threshold) == (BUDGET_80, "warning", 8.0)
    assert warn.tags == {"rule": BUDGET_80, "period": "daily", "period_key": "2026-11-22"}
    over = budget_alert(BudgetCrossing("monthly", "2026-11", 100, 130.0, 100.0), T0)
    assert (over.rule, over.level) == (BUDGET_100, "error")
    assert "130.00" in over.message and "monthly" in over.message


def usage(at: datetime, tokens_in: int) -> Usage:
    return Usage("c1", "openai", "gpt-4o-mini", tokens_in, 0, at)


PRICES = PriceTable([Price("openai", "gpt-4o-mini", 1.0, 4.0, date(2026, 1, 1))])


def test_evaluation_fires_the_rules_and_returns_the_state_to_persist() -> None:
    config = AlertConfig(cooldown=timedelta(minutes=10))
    inputs = AlertInputs(Observations(p95_latency_ms=300.0, tone_accuracy=0.9))
    first = evaluate(config, AlertState(), inputs, T0)
    assert [alert.rule for alert in first.fired] == [HIGH_LATENCY]
    assert first.state.rules[HIGH_LATENCY] == {"active": True, "last_fired": T0.isoformat()}
    assert first.state.weekly == {} and first.state.budget == {}
    # The persisted state carries the episode on: no second page while it lasts.
    assert evaluate(config, first.state, inputs, T0 + timedelta(hours=2)).fired == []


def test_the_weekly_job_runs_when_due_and_records_its_run() -> None:
    state = AlertState()
    assert weekly_due(state, T0)
    result = evaluate(AlertConfig(), state, AlertInputs(Observations(), weekly_conversations=10_500), T0)
    assert [alert.rule for alert in result.fired] == [ML_DATA_READY]
    assert result.state.weekly == {"last_run": T0.isoformat()}
    assert not weekly_due(result.state, T0 + timedelta(days=6, hours=23))
    assert weekly_due(result.state, T0 + timedelta(days=7))
    # Without the weekly count (not due) the last run stays as it was.
    later = evaluate(AlertConfig(), result.state, AlertInputs(Observations()), T0 + timedelta(days=1))
    assert later.state.weekly == result.state.weekly


def test_budgets_page_at_80_and_100_percent_once_per_period() -> None:
    config = AlertConfig(budgets=Budgets(daily_usd=10.0), prices=PRICES)
    assert config.has_budget and not AlertConfig().has_budget
    spent_8 = [usage(T0 - timedelta(hours=1), 8_000_000), usage(T0 - timedelta(days=1), 50_000_000)]
    first = evaluate(config, AlertState(), AlertInputs(Observations(), usages=spent_8), T0)
    assert [(a.rule, a.value) for a in first.fired] == [(BUDGET_80, 8.0)]
    again = evaluate(config, first.state, AlertInputs(Observations(), usages=spent_8), T0)
    assert again.fired == []
    spent_12 = [*spent_8, usage(T0, 4_000_000)]
    over = evaluate(config, again.state, AlertInputs(Observations(), usages=spent_12), T0)
    assert [a.rule for a in over.fired] == [BUDGET_100]
    # Usage is not even looked at without a budget.
    assert evaluate(AlertConfig(), AlertState(), AlertInputs(Observations(), usages=spent_12), T0).fired == []


def test_budget_period_is_the_utc_month_through_today() -> None:
    since, until = budget_period(datetime(2026, 11, 22, 23, 30, tzinfo=UTC))
    assert since == datetime(2026, 11, 1, tzinfo=UTC)
    assert until == datetime(2026, 11, 23, 23, 30, tzinfo=UTC)


def test_alert_event_carries_the_fired_alert() -> None:
    (fired,) = AlertEngine().evaluate(Observations(p95_latency_ms=250.0), T0)
    event = alert_event(fired)
    assert (event.rule, event.level, event.value, event.threshold, event.occurred_at) == (
        HIGH_LATENCY,
        "warning",
        250.0,
        200.0,
        T0,
    )
    assert (event.tags, event.source) == ({"rule": HIGH_LATENCY}, "teppan-alerts")
    debug = FiredAlert("custom", "debug", "m", 1.0, 0.0, T0)
    assert alert_event(debug).level == "info"


def test_model_drift_pages_once_for_a_drifted_head_with_the_registered_baseline() -> None:
    from services.analytics.alert_rules.drift import DriftFinding

    steady = DriftFinding("nlp", 2, "nlp-fast-3+abc", "tone", psi=0.05, p_value=0.3, live_count=900)
    shifted = DriftFinding("escalation", 4, "escalation-minilm-1+x/v4", "intent", 0.61, 1e-40, 512)
    engine = AlertEngine()
    assert engine.evaluate(Observations(drift=(steady,)), T0) == []
    (alert,) = engine.evaluate(Observations(drift=(steady, shifted)), T0 + timedelta(minutes=1))
    assert (alert.rule, alert.level, alert.value, alert.threshold) == (MODEL_DRIFT, "error", 0.61, 0.25)
    assert alert.message.startswith("model drift: escalation v4 (escalation-minilm-1+x/v4): predicted intent PSI 0.610")
    assert "over 512 live answers" in alert.message
    # The same episode does not page again; no registry (drift None) leaves the rule as it was.
    assert engine.evaluate(Observations(drift=(shifted,)), T0 + timedelta(minutes=2)) == []
    assert engine.evaluate(Observations(), T0 + timedelta(minutes=3)) == []
    assert engine.state()[MODEL_DRIFT]["active"] is True


def test_a_model_drift_page_names_every_drifted_head_worst_first() -> None:
    from services.analytics.alert_rules.drift import DriftFinding

    nlp = DriftFinding("nlp", 2, "nlp-fast-4+abc", "confidence", psi=2.0, p_value=0.0, live_count=516)
    escalation = DriftFinding("escalation", 2, "escalation-minilm-1+x", "tone", 1.2, 1e-30, 600)
    (alert,) = AlertEngine().evaluate(Observations(drift=(escalation, nlp)), T0)
    assert alert.message.startswith("model drift: nlp v2 (nlp-fast-4+abc): predicted confidence PSI 2.000")
    assert "; also drifted: escalation v2 (escalation-minilm-1+x) tone PSI 1.200: retrain" in alert.message
