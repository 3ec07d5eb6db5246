"""Every experiment report statistic checked against scipy (definitions and assignment: tests/unit)."""

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.stats.contingency import relative_risk

from services.analytics.reports.experiments import (
    Z95,
    ConversationResult,
    LabelCheck,
    chance_to_beat,
    experiment_report,
    newcombe_diff_ci,
    srm_check,
    two_proportion_test,
    welch_test,
)
from services.common.experiments import Experiment

REPLY_STYLE = Experiment(
    name="reply_style",
    unit="customer_id",
    variants=(("control", 0.5), ("nlp_enhanced", 0.5)),
    start=datetime(2026, 11, 1, tzinfo=UTC),
)


def test_the_written_out_95_percent_z_is_scipys() -> None:
    assert Z95 == float(stats.norm.ppf(0.975))


# --- statistics against scipy -----------------------------------------------------------------


def hand_z_test(x1: int, n1: int, x0: int, n0: int) -> float:
    pooled = (x1 + x0) / (n1 + n0)
    z = (x1 / n1 - x0 / n0) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    return 2 * (1 - stats.norm.cdf(abs(z)))


def test_z_test_matches_hand_computation_and_chi_square() -> None:
    p_value, test = two_proportion_test(70, 210, 50, 200)
    assert test == "z_test"
    assert p_value == pytest.approx(hand_z_test(70, 210, 50, 200), rel=1e-9)
    table = [[70, 140], [50, 150]]
    assert p_value == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue, rel=1e-9)


def test_fisher_when_an_expected_cell_is_small() -> None:
    p_value, test = two_proportion_test(3, 10, 0, 9)
    assert test == "fisher_exact"
    assert p_value == pytest.approx(stats.fisher_exact([[3, 7], [0, 9]]).pvalue, rel=1e-12)


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Stat Med 17:873, example 56/70 vs 48/80, method 10: 0.0524 to 0.3339.
    low, high = newcombe_diff_ci(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_chance_to_beat_matches_numerical_integration_and_monte_carlo() -> None:
    x1, n1, x0, n0 = 70, 210, 50, 200
    variant, control = stats.beta(1 + x1, 1 + n1 - x1), stats.beta(1 + x0, 1 + n0 - x0)
    integral, _ = integrate.quad(lambda p: variant.pdf(p) * control.cdf(p), 0, 1, limit=200)
    assert chance_to_beat(x1, n1, x0, n0) == pytest.approx(integral, abs=1e-7)
    rng = np.random.default_rng(2026)
    draws = (variant.rvs(400_000, random_state=rng) > control.rvs(400_000, random_state=rng)).mean()
    assert chance_to_beat(x1, n1, x0, n0) == pytest.approx(draws, abs=0.005)
    assert chance_to_beat(10, 20, 10, 20) == pytest.approx(0.5, abs=1e-9)
    assert 0.0 <= chance_to_beat(20_000, 100_000, 19_000, 100_000) <= 1.0


def test_welch_matches_scipy() -> None:
    a = [4, 6, 5, 9, 7, 5, 6, 8, 12, 4]
    b = [5, 3, 4, 6, 2, 5, 4, 3]
    result = welch_test(a, b)
    expected = stats.ttest_ind(a, b, equal_var=False)
    assert result is not None
    assert result["t"] == pytest.approx(expected.statistic, rel=1e-12)
    assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert result["df"] == pytest.approx(expected.df, rel=1e-12)
    assert result["diff"] == pytest.approx(np.mean(a) - np.mean(b))
    assert welch_test([1.0], b) is None
    assert welch_test([2.0, 2.0], [2.0, 2.0]) is None


def test_srm_matches_scipy_chisquare() -> None:
    weights = {"control": 0.5, "b": 0.25, "c": 0.25}
    counts = {"control": 520, "b": 240, "c": 260}
    expected = stats.chisquare([520, 240, 260], [510, 255, 255])
    result = srm_check(counts, weights)
    assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert result["flagged"] is False
    skewed = srm_check({"control": 600, "b": 200, "c": 200}, weights)
    assert skewed["p_value"] == pytest.approx(
        stats.chisquare([600, 200, 200], [500, 250, 250]).pvalue, rel=1e-9
    )
    assert skewed["flagged"] is True
    assert srm_check({}, weights) == {"p_value": None, "flagged": False}


# --- the report -------------------------------------------------------------------------------


def fixed_results() -> list[ConversationResult]:
    """200 control units (50 converted), 210 variant units (70 converted); fixed, varied metrics."""
    results = []
    for variant, n, converted, turn_base in (("control", 200, 50, 6), ("nlp_enhanced", 210, 70, 5)):
        for i in range(n):
            booked = i < converted
            results.append(
                ConversationResult(
                    unit_id=f"{variant}-{i}",
                    variant=variant,
                    booked=booked,
                    turns=turn_base + i % 5,
                    upsells_offered=2 if booked else i % 2,
                    upsells_accepted=(1 + (i % 2))
                    if booked and variant == "nlp_enhanced"
                    else int(i % 3 == 0 and booked),
                    rating=(3 + i % 3) if i % 4 == 0 else None,
                    booking_value=(500.0 + 25 * (i % 7)) if booked else None,
                )
            )
    # A second, unbooked conversation of a converted control unit: n and conversions count units.
    results.append(ConversationResult("control-0", "control", booked=False, turns=2))
    # A variant the experiment does not define is ignored.
    results.append(ConversationResult("ghost-1", "ghost", booked=True, turns=1))
    return results


def test_report_matches_independent_computation() -> None:
    results = fixed_results()
    report = experiment_report(REPLY_STYLE, results)
    assert report["experiment"] == "reply_style"
    assert set(report) >= {"experiment", "variants", "srm", "comparisons"}
    assert list(report["variants"]) == ["control", "nlp_enhanced"]  # the undefined "ghost" is ignored

    for name in ("control", "nlp_enhanced"):
        mine = [r for r in results if r.variant == name]
        units = {r.unit_id for r in mine}
        converted = {r.unit_id for r in mine if r.booked}
        rated = [r.rating for r in mine if r.rating is not None]
        no_labels = {"labelled": 0, "correct": 0, "accuracy": None, "ci95": None}
        assert report["variants"][name] == {
            "label_accuracy": {"tone": no_labels, "intent": no_labels},
            "n": len(units),
            "conversions": len(converted),
            "conversion_rate": pytest.approx(len(converted) / len(units)),
            "avg_turns": pytest.approx(np.mean([r.turns for r in mine])),
            "upsell_acceptance": pytest.approx(
                sum(r.upsells_accepted for r in mine) / sum(r.upsells_offered for r in mine)
            ),
            "csat": pytest.approx(sum(1 for r in rated if r >= 4) / len(rated)),
        }
    assert report["variants"]["control"]["n"] == 200 and report["variants"]["control"]["conversions"] == 50

    srm = stats.chisquare([200, 210], [205, 205])
    assert report["srm"] == {"p_value": pytest.approx(srm.pvalue, rel=1e-9), "flagged": False}

    comparison = report["comparisons"]["nlp_enhanced"]
    p1, p0 = 70 / 210, 50 / 200
    assert comparison["lift_abs"] == pytest.approx(p1 - p0)
    assert comparison["lift_rel"] == pytest.approx((p1 - p0) / p0)
    assert comparison["test"] == "z_test"
    assert comparison["p_value"] == pytest.approx(hand_z_test(70, 210, 50, 200), rel=1e-9)
    low, high = comparison["ci95"]
    assert low < p1 - p0 < high
    assert (low, high) == pytest.approx(newcombe_diff_ci(70, 210, 50, 200))
    katz = relative_risk(70, 210, 50, 200).confidence_interval(confidence_level=0.95)
    assert comparison["ci95_rel"] == pytest.approx([katz.low - 1, katz.high - 1], rel=1e-9)
    variant, control = stats.beta(71, 141), stats.beta(51, 151)
    integral, _ = integrate.quad(lambda p: variant.pdf(p) * control.cdf(p), 0, 1, limit=200)
    assert comparison["chance_to_beat_control"] == pytest.approx(integral, abs=1e-7)

    turns = [[r.turns for r in results if r.variant == v] for v in ("nlp_enhanced", "control")]
    welch = stats.ttest_ind(*turns, equal_var=False)
    assert comparison["avg_turns"]["p_value"] == pytest.approx(welch.pvalue, rel=1e-9)
    assert comparison["avg_turns"]["t"] == pytest.approx(welch.statistic, rel=1e-9)
    values = [[r.booking_value for r in results if r.variant == v and r.booking_value is not None]
              for v in ("nlp_enhanced", "control")]  # fmt: skip
    welch_value = stats.ttest_ind(*values, equal_var=False)
    assert comparison["booking_value"]["p_value"] == pytest.approx(welch_value.pvalue, rel=1e-9)


def test_empty_report_keeps_the_documented_shape() -> None:
    report = experiment_report(REPLY_STYLE, [])
    no_labels = {"labelled": 0, "correct": 0, "accuracy": None, "ci95": None}
    assert report["variants"]["control"] == {
        "n": 0, "conversions": 0, "conversion_rate": 0.0, "avg_turns": 0.0, "upsell_acceptance": 0.0, "csat": None,
        "label_accuracy": {"tone": no_labels, "intent": no_labels},
    }  # fmt: skip
    assert report["srm"] == {"p_value": None, "flagged": False}
    comparison = report["comparisons"]["nlp_enhanced"]
    assert comparison["p_value"] is None and comparison["chance_to_beat_control"] is None
    assert comparison["avg_turns"] is None


def test_small_experiment_uses_fisher_and_zero_control_rate_has_no_relative_lift() -> None:
    results = [ConversationResult(f"c{i}", "control", booked=False, turns=3) for i in range(9)]
    results += [ConversationResult(f"v{i}", "nlp_enhanced", booked=i < 3, turns=4) for i in range(10)]
    comparison = experiment_report(REPLY_STYLE, results)["comparisons"]["nlp_enhanced"]
    assert comparison["test"] == "fisher_exact"
    assert comparison["p_value"] == pytest.approx(stats.fisher_exact([[3, 7], [0, 9]]).pvalue)
    assert comparison["lift_rel"] is None and comparison["ci95_rel"] is None
    assert comparison["lift_abs"] == pytest.approx(0.3)


def test_every_exposed_unit_counts_and_a_booking_converts_only_within_the_attribution_window() -> None:
    t0, day = datetime(2026, 11, 2, 10, tzinfo=UTC), timedelta(days=1)
    results = [
        # Left without any outcome: still exposed, so still in n.
        ConversationResult("left", "control", booked=False, turns=2, started_at=t0),
        ConversationResult("quick", "control", booked=True, turns=4, started_at=t0, booked_at=t0 + day),
        ConversationResult("late", "control", booked=True, turns=4, started_at=t0, booked_at=t0 + 8 * day),
        # A returning customer: the window runs from the first exposure, not from the booking conversation.
        ConversationResult("returning", "nlp_enhanced", booked=False, turns=2, started_at=t0),
        ConversationResult(
            "returning", "nlp_enhanced", booked=True, turns=2, started_at=t0 + 5 * day, booked_at=t0 + 8 * day
        ),
        ConversationResult("back", "nlp_enhanced", booked=False, turns=2, started_at=t0 + day),
        ConversationResult(
            "back", "nlp_enhanced", booked=True, turns=2, started_at=t0 + 3 * day, booked_at=t0 + 4 * day
        ),
    ]
    report = experiment_report(REPLY_STYLE, results)
    assert report["attribution_window_days"] == 7.0 and report["unit"] == "customer_id"
    counts = {name: (v["n"], v["conversions"]) for name, v in report["variants"].items()}
    assert counts == {"control": (3, 1), "nlp_enhanced": (2, 1)}

    wider = experiment_report(replace(REPLY_STYLE, attribution_days=10), results)
    counts = {name: (v["n"], v["conversions"]) for name, v in wider["variants"].items()}
    assert counts == {"control": (3, 2), "nlp_enhanced": (2, 2)}
    assert wider["attribution_window_days"] == 10


def test_label_accuracy_per_variant_and_its_difference_match_scipy() -> None:
    checks = (
        [LabelCheck("control", "intent", i < 60) for i in range(100)]
        + [LabelCheck("nlp_enhanced", "intent", i < 80) for i in range(100)]
        + [LabelCheck("nlp_enhanced", "tone", i < 3) for i in range(4)]
        + [LabelCheck("unknown_variant", "intent", True), LabelCheck("control", "entity", True)]
    )
    report = experiment_report(REPLY_STYLE, [], checks)
    control = report["variants"]["control"]["label_accuracy"]
    challenger = report["variants"]["nlp_enhanced"]["label_accuracy"]
    assert (control["intent"]["labelled"], control["intent"]["correct"], control["intent"]["accuracy"]) == (100, 60, 0.6)
    assert challenger["intent"]["accuracy"] == 0.8
    assert challenger["tone"]["accuracy"] == 0.75 and control["tone"]["accuracy"] is None
    low, high = challenger["intent"]["ci95"]
    assert low < 0.8 < high
    difference = report["comparisons"]["nlp_enhanced"]["label_accuracy"]
    assert difference["intent"]["diff"] == pytest.approx(0.2)
    chi2 = stats.chi2_contingency([[80, 20], [60, 40]], correction=False)
    assert difference["intent"]["p_value"] == pytest.approx(chi2.pvalue, rel=1e-9)
    assert difference["tone"] == {"diff": None, "p_value": None, "test": None}  # no control labels
