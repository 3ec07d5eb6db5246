"""Promotion rules: by gold sets, and from a model experiment the challenger must have won."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.analytics.reports.experiments import ConversationResult, experiment_report
from services.common.experiments import Experiment
from services.ml.promotion import MIN_CHANCE_TO_BEAT, compare_on_gold, judge_experiment

MODELS_AB = Experiment(
    name="models_ab",
    unit="customer_id",
    variants=(("champion", 0.5), ("challenger", 0.5)),
    control="champion",
    start=datetime(2026, 11, 1, tzinfo=UTC),
    models=("nlp", "escalation"),
)


def report(champion: tuple[int, int], challenger: tuple[int, int]) -> dict[str, Any]:
    """The experiment report of `(units, bookings)` per variant."""
    results = [
        ConversationResult(unit_id=f"{variant}-{i}", variant=variant, booked=i < booked, turns=3)
        for variant, (units, booked) in (("champion", champion), ("challenger", challenger))
        for i in range(units)
    ]
    return experiment_report(MODELS_AB, results)


def test_a_challenger_that_clearly_won_may_be_promoted() -> None:
    won = report((500, 100), (500, 140))
    assert won["comparisons"]["challenger"]["chance_to_beat_control"] > MIN_CHANCE_TO_BEAT
    verdict = judge_experiment(won, model="nlp", models=MODELS_AB.models)
    assert verdict.allowed, verdict.reasons
    assert "chance to beat champion" in verdict.reasons[0]


def test_an_undecided_or_losing_challenger_is_refused() -> None:
    undecided = judge_experiment(report((500, 100), (500, 105)), model="nlp", models=MODELS_AB.models)
    assert not undecided.allowed and "< 95%" in undecided.reasons[0]
    lost = judge_experiment(report((500, 140), (500, 100)), model="escalation", models=MODELS_AB.models)
    assert not lost.allowed
    empty = judge_experiment(report((0, 0), (0, 0)), model="nlp", models=MODELS_AB.models)
    assert not empty.allowed and "no exposed units" in empty.reasons[0]


def test_a_sample_ratio_mismatch_refuses_even_a_winner() -> None:
    skewed = report((300, 50), (700, 200))  # configured 50/50
    assert skewed["srm"]["flagged"]
    verdict = judge_experiment(skewed, model="nlp", models=MODELS_AB.models)
    assert not verdict.allowed and any("sample-ratio mismatch" in reason for reason in verdict.reasons)


def test_an_experiment_that_does_not_choose_the_model_or_has_no_challenger_decides_nothing() -> None:
    won = report((500, 100), (500, 140))
    assert not judge_experiment(won, model="upsell", models=MODELS_AB.models).allowed
    assert not judge_experiment(won, model="nlp", models=MODELS_AB.models, challenger="candidate").allowed


def test_gold_comparison_refuses_a_worse_version_within_the_tolerance_only() -> None:
    champion = {"gold_intent_accuracy": 0.90, "gold_tone_macro_f1": 0.70, "held_out": 0.99}
    assert compare_on_gold({"gold_intent_accuracy": 0.896, "gold_tone_macro_f1": 0.71}, champion).allowed
    assert not compare_on_gold({"gold_intent_accuracy": 0.89, "gold_tone_macro_f1": 0.71}, champion).allowed
    assert compare_on_gold({"gold_intent_accuracy": 0.5}, None).allowed
