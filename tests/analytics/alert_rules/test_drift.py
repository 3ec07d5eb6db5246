"""Drift measures against hand computation and scipy, and when a head is checked at all."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from services.analytics.alert_rules.drift import (
    MIN_PREDICTIONS,
    PSI_FLOOR,
    PSI_THRESHOLD,
    chi_square_p,
    confidence_bin,
    drift_findings,
    psi,
)

REFERENCE = {"casual": 0.5, "formal": 0.3, "warm": 0.2}


def test_psi_matches_its_definition_and_is_zero_without_a_shift() -> None:
    live = {"casual": 200, "formal": 200, "warm": 100}
    expected = sum(
        (a - e) * math.log(a / e) for a, e in ((0.4, 0.5), (0.4, 0.3), (0.2, 0.2))
    )
    assert psi(REFERENCE, live) == pytest.approx(expected)
    assert psi(REFERENCE, {"casual": 500, "formal": 300, "warm": 200}) == pytest.approx(0.0, abs=1e-12)


def test_a_class_missing_on_one_side_is_floored_not_infinite() -> None:
    live = {"casual": 100, "anxious": 100}
    value = psi(REFERENCE, live)
    assert math.isfinite(value) and value > PSI_THRESHOLD
    by_hand = (
        (0.5 - 0.5) * 0
        + (PSI_FLOOR - 0.3) * math.log(PSI_FLOOR / 0.3)
        + (PSI_FLOOR - 0.2) * math.log(PSI_FLOOR / 0.2)
        + (0.5 - PSI_FLOOR) * math.log(0.5 / PSI_FLOOR)
    )
    assert value == pytest.approx(by_hand)


def test_chi_square_matches_scipy() -> None:
    live = {"casual": 230, "formal": 160, "warm": 110}
    expected = [500 * 0.5, 500 * 0.3, 500 * 0.2]
    assert chi_square_p(REFERENCE, live) == pytest.approx(
        stats.chisquare([230, 160, 110], expected).pvalue, rel=1e-9
    )


def test_confidence_bins_are_tenths_with_one_in_the_top_bin() -> None:
    assert [confidence_bin(c) for c in (0.0, 0.05, 0.1, 0.55, 0.99, 1.0)] == ["0", "0", "1", "5", "9", "9"]
    assert confidence_bin(float("nan")) == "0"


def test_only_heads_with_a_reference_and_enough_answers_are_checked() -> None:
    reference = {"tone": REFERENCE, "intent": {"booking_inquiry": 1.0}}
    shifted = {"tone": {"anxious": MIN_PREDICTIONS}, "intent": {"booking_inquiry": MIN_PREDICTIONS - 1}}
    (finding,) = drift_findings("nlp", 3, "nlp-fast-3+abc", reference, shifted)
    assert (finding.head, finding.live_count, finding.drifted) == ("tone", MIN_PREDICTIONS, True)
    assert "nlp v3 (nlp-fast-3+abc): predicted tone PSI" in finding.describe()
    steady = {"tone": {"casual": 250, "formal": 150, "warm": 100}}
    assert [f.drifted for f in drift_findings("nlp", 3, "x", reference, steady)] == [False]
