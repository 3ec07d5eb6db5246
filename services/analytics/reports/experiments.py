"""The A/B experiment report's statistics: lifts with their intervals, tests, chance to beat control, SRM.

Pure: the report command feeds per-conversation results to `experiment_report`, which returns the
`teppan experiments report NAME --json` document. Definitions and assignment are services.common.experiments.

Units are counted as GrowthBook and other experimentation tools count them: every unit exposed to the
experiment (any turn stamped with it) is in n, whether or not its conversation ever sent an outcome, and
it converts when it booked within the experiment's attribution window from its first exposure. Counting
only conversations with an outcome would make a variant that drives customers away look better.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from services.analytics.metrics.windows import SATISFIED_RATING
from services.common.experiments import Experiment

SRM_ALPHA = 0.001
# Below this expected count in any cell of the 2x2 table the z-test's normal approximation is
# unreliable, so Fisher's exact test is used instead (the usual rule of thumb).
MIN_EXPECTED_FOR_Z = 5.0
# scipy.stats.norm.ppf(0.975), written out: this module is imported by the alert-rules worker, and scipy.stats
# costs about a second of its start-up; the functions that need scipy import it when called.
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_diff_ci(x1: int, n1: int, x0: int, n0: int, z: float = Z95) -> tuple[float, float]:
    """95% CI of p1 - p0 by Newcombe's hybrid score method (his method 10, from Wilson intervals).

    Chosen over Wald because it keeps its coverage with small counts and rates near 0 or 1.
    """
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson_interval(x1, n1, z)
    l0, u0 = wilson_interval(x0, n0, z)
    diff = p1 - p0
    return diff - math.hypot(p1 - l1, u0 - p0), diff + math.hypot(u1 - p1, p0 - l0)


def relative_lift_ci(x1: int, n1: int, x0: int, n0: int, z: float = Z95) -> tuple[float, float] | None:
    """95% CI of p1 / p0 - 1 from the Katz log risk-ratio interval; None when either count is 0."""
    if x1 == 0 or x0 == 0:
        return None
    log_rr = math.log((x1 / n1) / (x0 / n0))
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x0 - 1 / n0)
    return math.exp(log_rr - z * se) - 1, math.exp(log_rr + z * se) - 1


def two_proportion_test(x1: int, n1: int, x0: int, n0: int) -> tuple[float, str]:
    """(two-sided p-value, test name): the pooled z-test, or Fisher's exact when any expected cell < 5."""
    from scipy import stats

    pooled = (x1 + x0) / (n1 + n0)
    expected = (n1 * pooled, n1 * (1 - pooled), n0 * pooled, n0 * (1 - pooled))
    if min(expected) < MIN_EXPECTED_FOR_Z:
        table = [[x1, n1 - x1], [x0, n0 - x0]]
        return float(stats.fisher_exact(table, alternative="two-sided").pvalue), "fisher_exact"
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    z = (x1 / n1 - x0 / n0) / se
    return float(2 * stats.norm.sf(abs(z))), "z_test"


def chance_to_beat(x1: int, n1: int, x0: int, n0: int) -> float:
    """P(rate1 > rate0) under independent Beta(1, 1) priors, in closed form.

    With posteriors Beta(a1, b1) and Beta(a0, b0) (integer a1), the probability is
    sum_{i<a1} B(a0+i, b0+b1) / ((b1+i) B(1+i, b1) B(a0, b0)) (Evan Miller's formula),
    summed in log space so large counts neither overflow nor underflow.
    """
    from scipy import special

    a1, b1 = 1 + x1, 1 + n1 - x1
    a0, b0 = 1 + x0, 1 + n0 - x0
    i = np.arange(a1, dtype=float)
    log_terms = (
        special.betaln(a0 + i, b0 + b1) - np.log(b1 + i) - special.betaln(1 + i, b1) - special.betaln(a0, b0)
    )
    return float(min(1.0, max(0.0, math.exp(special.logsumexp(log_terms)))))


def welch_test(sample: Sequence[float], control: Sequence[float]) -> dict[str, float] | None:
    """Welch's t-test (unequal variances) of mean(sample) - mean(control).

    None when either side has fewer than two values or both have zero variance.
    """
    from scipy import stats

    if len(sample) < 2 or len(control) < 2:
        return None
    a, b = np.asarray(sample, dtype=float), np.asarray(control, dtype=float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return None
    diff = float(a.mean() - b.mean())
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return {"diff": diff, "t": float(t), "df": float(df), "p_value": float(2 * stats.t.sf(abs(t), df))}


def srm_check(counts: Mapping[str, int], weights: Mapping[str, float]) -> dict[str, Any]:
    """Sample-ratio mismatch: chi-square goodness of fit of `counts` to `weights`, flagged at p < 0.001."""
    from scipy import stats

    total = sum(counts.get(name, 0) for name in weights)
    if total == 0:
        return {"p_value": None, "flagged": False}
    statistic = sum((counts.get(name, 0) - total * w) ** 2 / (total * w) for name, w in weights.items())
    p_value = float(stats.chi2.sf(statistic, len(weights) - 1))
    return {"p_value": p_value, "flagged": p_value < SRM_ALPHA}


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationResult:
    """One exposed conversation in an experiment: its unit, variant and outcome (booked False when none).

    rating: the survey rating (1-5) when the customer answered one.
    booking_value: the booking's total when it was booked.
    started_at: the conversation's first turn; the unit's earliest one is its first exposure.
    booked_at: when the booking outcome happened. A booking without both times counts as attributed.
    """

    unit_id: str
    variant: str
    booked: bool
    turns: int
    upsells_offered: int = 0
    upsells_accepted: int = 0
    rating: int | None = None
    booking_value: float | None = None
    started_at: datetime | None = None
    booked_at: datetime | None = None


@dataclass(frozen=True)
class LabelCheck:
    """One human label on a turn of an exposed conversation, and whether the answer the pipeline kept for
    that turn (the ML path's when the turn was escalated) agreed with it. `field` is "tone" or "intent"."""

    variant: str
    field: str
    correct: bool


LABELLED_FIELDS = ("tone", "intent")


@dataclass
class _VariantData:
    units: set[str]
    converted: set[str]
    turns: list[float]
    booking_values: list[float]
    offered: int = 0
    accepted: int = 0
    rated: int = 0
    satisfied: int = 0


def experiment_report(
    experiment: Experiment, results: Iterable[ConversationResult], label_checks: Iterable[LabelCheck] = ()
) -> dict[str, Any]:
    """The `teppan experiments report NAME --json` document.

    Per variant: n distinct exposed units, conversions (units that booked within the attribution window of
    their first exposure), their rate,
    average turns per conversation, upsell acceptance (accepted / offered, over conversations)
    and CSAT (share of ratings >= 4; None without surveys). Rates with a zero denominator are 0.0.
    Per non-control variant, against control: absolute and relative lift of the conversion rate
    with 95% CIs (Newcombe hybrid score; Katz log risk ratio), a two-sided p-value (pooled z-test,
    Fisher's exact when an expected cell < 5), the Bayesian chance to beat control (Beta(1,1)
    priors, exact), and Welch's t-test on turns per conversation and on booking value.
    Results whose variant the experiment does not define are ignored.

    `label_accuracy` per variant and field (tone, intent): how often the answers the variant's conversations
    got agreed with human labels, with its Wilson 95% interval; against control, the difference and its
    two-sided p-value. This is how a model experiment (variants naming registry aliases) compares the
    models' accuracy beside their conversion.
    """
    results = list(results)
    window = timedelta(days=experiment.attribution_days)
    first_exposure: dict[str, datetime] = {}
    for result in results:
        if result.started_at is not None:
            seen = first_exposure.get(result.unit_id)
            first_exposure[result.unit_id] = (
                result.started_at if seen is None else min(seen, result.started_at)
            )
    data = {name: _VariantData(set(), set(), [], []) for name, _ in experiment.variants}
    for result in results:
        variant = data.get(result.variant)
        if variant is None:
            continue
        variant.units.add(result.unit_id)
        if result.booked and _attributed(result, first_exposure.get(result.unit_id), window):
            variant.converted.add(result.unit_id)
            if result.booking_value is not None:
                variant.booking_values.append(result.booking_value)
        variant.turns.append(result.turns)
        variant.offered += result.upsells_offered
        variant.accepted += result.upsells_accepted
        if result.rating is not None:
            variant.rated += 1
            variant.satisfied += result.rating >= SATISFIED_RATING

    variants: dict[str, dict[str, Any]] = {
        name: {
            "n": len(d.units),
            "conversions": len(d.converted),
            "conversion_rate": len(d.converted) / len(d.units) if d.units else 0.0,
            "avg_turns": float(np.mean(d.turns)) if d.turns else 0.0,
            "upsell_acceptance": d.accepted / d.offered if d.offered else 0.0,
            "csat": d.satisfied / d.rated if d.rated else None,
        }
        for name, d in data.items()
    }
    checks: dict[str, dict[str, list[int]]] = {
        name: {field: [0, 0] for field in LABELLED_FIELDS} for name in data
    }
    for check in label_checks:
        if check.variant in checks and check.field in LABELLED_FIELDS:
            tally = checks[check.variant][check.field]
            tally[0] += 1
            tally[1] += check.correct
    for name, fields in checks.items():
        variants[name]["label_accuracy"] = {
            field: _accuracy(correct, labelled) for field, (labelled, correct) in fields.items()
        }
    control = data[experiment.control]
    comparisons = {name: _compare(d, control) for name, d in data.items() if name != experiment.control}
    for name, comparison in comparisons.items():
        comparison["label_accuracy"] = {
            field: _accuracy_difference(checks[name][field], checks[experiment.control][field])
            for field in LABELLED_FIELDS
        }
    return {
        "experiment": experiment.name,
        "control": experiment.control,
        "unit": experiment.unit,
        "attribution_window_days": experiment.attribution_days,
        "variants": variants,
        "srm": srm_check({name: v["n"] for name, v in variants.items()}, experiment.weights),
        "comparisons": comparisons,
    }


def _accuracy(correct: int, labelled: int) -> dict[str, Any]:
    return {
        "labelled": labelled,
        "correct": correct,
        "accuracy": correct / labelled if labelled else None,
        "ci95": list(wilson_interval(correct, labelled)) if labelled else None,
    }


def _accuracy_difference(variant: Sequence[int], control: Sequence[int]) -> dict[str, Any]:
    """variant's accuracy minus control's, with the two-sided p-value; None without labels on either side."""
    (n1, x1), (n0, x0) = variant, control
    if n1 == 0 or n0 == 0:
        return {"diff": None, "p_value": None, "test": None}
    p_value, test = two_proportion_test(x1, n1, x0, n0)
    return {"diff": x1 / n1 - x0 / n0, "p_value": p_value, "test": test}


def _attributed(result: ConversationResult, first_exposure: datetime | None, window: timedelta) -> bool:
    """Whether a booked result counts: booked within `window` of its unit's first exposure."""
    if result.booked_at is None or first_exposure is None:
        return True
    return result.booked_at - first_exposure < window


def _compare(variant: _VariantData, control: _VariantData) -> dict[str, Any]:
    x1, n1 = len(variant.converted), len(variant.units)
    x0, n0 = len(control.converted), len(control.units)
    means = {
        "avg_turns": welch_test(variant.turns, control.turns),
        "booking_value": welch_test(variant.booking_values, control.booking_values),
    }
    if n1 == 0 or n0 == 0:
        empty = {"lift_abs": None, "lift_rel": None, "ci95": None, "ci95_rel": None, "p_value": None}
        return {**empty, "test": None, "chance_to_beat_control": None, **means}
    p1, p0 = x1 / n1, x0 / n0
    p_value, test = two_proportion_test(x1, n1, x0, n0)
    rel_ci = relative_lift_ci(x1, n1, x0, n0)
    return {
        "lift_abs": p1 - p0,
        "lift_rel": (p1 - p0) / p0 if p0 else None,
        "ci95": list(newcombe_diff_ci(x1, n1, x0, n0)),
        "ci95_rel": list(rel_ci) if rel_ci else None,
        "p_value": p_value,
        "test": test,
        "chance_to_beat_control": chance_to_beat(x1, n1, x0, n0),
        **means,
    }
