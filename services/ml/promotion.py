"""Promotion rules: when a registered version may become `champion`.

Pure: the CLI reads the registry and passes the metrics in.

By version (`teppan ml promote NAME --version V`): a version whose figures on the gold sets (every metric
named `gold_*`) fall more than GOLD_TOLERANCE below the champion's is refused unless forced. The
tolerance is the half point within which the ONNX export is held to torch's answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

GOLD_PREFIX = "gold_"
GOLD_TOLERANCE = 0.005


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
