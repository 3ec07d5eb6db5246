"""Promotion rules: when a registered version may become `champion`.

Pure: the CLI reads the registry and passes the metrics in.

By version (`teppan ml promote NAME --version V`): a version whose figures on the gold sets (every metric
named `gold_*`) fall more than GOLD_TOLERANCE below the champion's is refused unless forced. The
tolerance is the half point within which the ONNX export is held to torch's answers.

From an experiment (`teppan ml promote NAME --from-experiment EXP`): the experiment must be a model
experiment over NAME whose variants name the aliases `champion` (its control) and `challenger`, and the
challenger must win on live traffic: a Bayesian chance to beat the champion's conversion of at least 95%
(GrowthBook's default decision threshold) and no sample-ratio mismatch (a skewed split means the
assignment, not the model, may explain the difference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GOLD_PREFIX = "gold_"
GOLD_TOLERANCE = 0.005
MIN_CHANCE_TO_BEAT = 0.95


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reasons: tuple[str, ...]


def compare_on_gold(candidate: Mapping[str, float], champion: Mapping[str, float] | None) -> Verdict:
    """Allowed when no gold metric of the champion's is more than GOLD_TOLERANCE above the candidate's."""
    if champion is None:
        return Verdict(True, ("no champion yet",))
    shared = sorted(k for k in champion if k.startswith(GOLD_PREFIX) and k in candidate)
    if not shared:
        return Verdict(False, ("the candidate and the champion share no gold-set metric to compare",))
    worse = [
        f"{key} {candidate[key]:.4f} < champion's {champion[key]:.4f}"
        for key in shared
        if candidate[key] < champion[key] - GOLD_TOLERANCE
    ]
    if worse:
        return Verdict(False, tuple(worse))
    return Verdict(True, tuple(f"{key} {candidate[key]:.4f} vs {champion[key]:.4f}" for key in shared))


def judge_experiment(
    report: Mapping[str, Any], *, model: str, models: Sequence[str], challenger: str = "challenger"
) -> Verdict:
    """Allowed when the experiment tests `model`'s `challenger` alias against the champion and it won.

    `report` is the experiment report (`teppan experiments report EXP --json`); `models` the models the
    experiment's definition names.
    """
    name = report.get("experiment")
    if model not in models:
        return Verdict(False, (f"experiment {name} does not choose the {model} model (its models: {list(models) or 'none'})",))
    comparison = report.get("comparisons", {}).get(challenger)
    if comparison is None:
        return Verdict(False, (f"experiment {name} has no {challenger!r} variant compared with its control",))
    reasons = []
    chance = comparison.get("chance_to_beat_control")
    control = report.get("control")
    if chance is None:
        reasons.append(f"no exposed units on one side of {challenger} vs {control} yet")
    elif chance < MIN_CHANCE_TO_BEAT:
        reasons.append(f"chance to beat {control} {chance:.1%} < {MIN_CHANCE_TO_BEAT:.0%}")
    srm = report.get("srm", {})
    if srm.get("flagged"):
        reasons.append(f"sample-ratio mismatch (p={srm.get('p_value'):.2g}): the split is not what was configured")
    if reasons:
        return Verdict(False, tuple(reasons))
    variants = report.get("variants", {})
    return Verdict(
        True,
        (
            f"chance to beat {control} {chance:.1%}",
            f"conversion {variants.get(challenger, {}).get('conversion_rate', 0):.3f}"
            f" vs {variants.get(control, {}).get('conversion_rate', 0):.3f}",
            f"no sample-ratio mismatch (p={srm.get('p_value')})",
        ),
    )
