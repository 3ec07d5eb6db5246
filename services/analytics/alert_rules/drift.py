"""Drift of a served model, over the stream: its live answers against the reference it was registered with.

Pure. The metrics worker counts, per one-minute window, each model's predicted tones and intents and its
confidences in ten bins (`MetricsWindow.predictions`); the alert rules merge the last DRIFT_WINDOW of those
windows, so the check is incremental, never a nightly batch over raw rows. Each model version carries, in the
registry, the same three distributions of its answers on a reference set (`reference`, written when it was
registered). Per head, two standard measures:

- PSI, the population stability index, sum over classes of (live - reference) * ln(live / reference), with
  shares floored at PSI_FLOOR so an empty class is finite. The usual reading, which Evidently's stattest
  also uses: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 (PSI_THRESHOLD) a significant one.
- Pearson's chi-square goodness of fit of the live counts to the reference shares (its p-value says whether
  the difference could be chance at this sample size; with thousands of answers even a harmless shift is
  "significant", which is why PSI, an effect size, decides and the p-value is reported beside it).

A head is checked only with at least MIN_PREDICTIONS live answers in the window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from services.analytics.metrics.windows import confidence_bin as confidence_bin

PSI_THRESHOLD = 0.25
PSI_FLOOR = 1e-4
MIN_PREDICTIONS = 200
HEADS = ("tone", "intent", "confidence")


def shares(counts: Mapping[str, int | float]) -> dict[str, float]:
    total = sum(counts.values())
    return {label: count / total for label, count in counts.items()} if total else {}


def psi(reference: Mapping[str, float], live: Mapping[str, int]) -> float:
    """The population stability index of live counts against reference shares, over both sides' classes."""
    live_shares = shares(live)
    total = 0.0
    for label in set(reference) | set(live_shares):
        expected = max(reference.get(label, 0.0), PSI_FLOOR)
        actual = max(live_shares.get(label, 0.0), PSI_FLOOR)
        total += (actual - expected) * math.log(actual / expected)
    return total


def chi_square_p(reference: Mapping[str, float], live: Mapping[str, int]) -> float:
    """Pearson's goodness-of-fit p-value of the live counts to the reference shares (floored like PSI)."""
    labels = sorted(set(reference) | set(live))
    n = sum(live.get(label, 0) for label in labels)
    floored = [max(reference.get(label, 0.0), PSI_FLOOR) for label in labels]
    scale = sum(floored)
    expected = [n * share / scale for share in floored]
    observed = [live.get(label, 0) for label in labels]
    # Imported here: scipy.stats costs about a second at start-up, paid by three worker kinds on every
    # (re)start, and only a drift check with a registered reference ever needs it.
    from scipy import stats

    return float(stats.chisquare(observed, expected).pvalue)


@dataclass(frozen=True)
class DriftFinding:
    """One head of one served model, checked: drifted when its PSI is above PSI_THRESHOLD."""

    model: str
    registered_version: int
    model_version: str
    head: str
    psi: float
    p_value: float
    live_count: int

    @property
    def drifted(self) -> bool:
        return self.psi > PSI_THRESHOLD

    def describe(self) -> str:
        return (
            f"{self.model} v{self.registered_version} ({self.model_version}): predicted {self.head} PSI"
            f" {self.psi:.3f} (threshold {PSI_THRESHOLD}) against its registered reference, chi-square"
            f" p={self.p_value:.3g}, over {self.live_count} live answers"
        )


def drift_findings(
    model: str,
    registered_version: int,
    model_version: str,
    reference: Mapping[str, Mapping[str, float]],
    live: Mapping[str, Mapping[str, int]],
) -> list[DriftFinding]:
    """Each head that has a reference and at least MIN_PREDICTIONS live answers, checked."""
    findings = []
    for head in HEADS:
        counts, expected = live.get(head) or {}, reference.get(head) or {}
        n = sum(counts.values())
        if not expected or n < MIN_PREDICTIONS:
            continue
        findings.append(
            DriftFinding(
                model, registered_version, model_version, head, psi(expected, counts), chi_square_p(expected, counts), n
            )
        )
    return findings
