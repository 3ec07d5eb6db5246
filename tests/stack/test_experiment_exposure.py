"""The A/B report counts exposed units: customers who chat and leave without an outcome count in n.

Fed through ingest and the logger: 300 customers each chat on one far-future day of their own; 100 book
within a day, 10 book nine days after their first turn (outside the default 7-day attribution window),
30 end with an outcome that is not a booking and 160 just leave. The report must say n = 300 and
conversions = 100 (110 with a 10-day window), with the p-values scipy computes from those counts.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from schemas import topics
from services.common.experiments import Experiment
from shared.settings import Settings
from tests.stack.analytics_helpers import teppan_json
from tests.stack.helpers import WorkerProcesses, produce_events, wait_until_caught_up

pytestmark = pytest.mark.stack

CUSTOMERS = 300
BOOKED_IN_WINDOW = 100
BOOKED_LATE = 10
NOT_BOOKED_OUTCOME = 30
# The shipped experiment that ingest stamps on every turn; the report reads a copy limited to the test's day.
EXPERIMENT = Experiment(
    name="reply_style",
    unit="customer_id",
    variants=(("control", 0.5), ("nlp_enhanced", 0.5)),
    start=datetime(2026, 11, 1, tzinfo=UTC),
)


@dataclass(frozen=True)
class Customer:
    customer_id: int
    conversation_id: str
    started_at: datetime
    # "in_window", "late", "not_booked" or "left"
    fate: str

    @property
    def variant(self) -> str:
        return EXPERIMENT.assign(f"customer:{self.customer_id}")


def _event(event_type: str, customer: Customer, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": at.isoformat(),
        "conversation_id": customer.conversation_id,
        "customer_id": customer.customer_id,
        "source": "test",
        **fields,
    }


def build_customers() -> tuple[date, list[Customer]]:
    unique = random.Random()  # a fresh day and customer range per run
    day = date(2031, 1, 1) + timedelta(days=unique.randint(0, 3000))
    base = unique.randint(10**6, 10**9)
    fates = (
        ["in_window"] * BOOKED_IN_WINDOW
        + ["late"] * BOOKED_LATE
        + ["not_booked"] * NOT_BOOKED_OUTCOME
        + ["left"] * (CUSTOMERS - BOOKED_IN_WINDOW - BOOKED_LATE - NOT_BOOKED_OUTCOME)
    )
    random.Random(10).shuffle(fates)
    start = datetime.combine(day, time(9), UTC)
    customers = [
        Customer(base + i, str(uuid.uuid4()), start + timedelta(seconds=30 * i), fate)
        for i, fate in enumerate(fates)
    ]
    return day, customers


def events_for(customers: list[Customer]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    messages, outcomes = [], []
    for c in customers:
        messages.append(
            _event("chat.message", c, c.started_at, role="customer", text="hibachi for 20?", channel="web")
        )
        messages.append(
            _event("chat.message", c, c.started_at + timedelta(seconds=2), role="ai", text="Happy to help! Date?",
                   channel="web", tone_used="warm", requested_slots=["date"])
        )  # fmt: skip
        if c.fate == "left":
            continue
        booked = c.fate in ("in_window", "late")
        at = c.started_at + (timedelta(days=9) if c.fate == "late" else timedelta(hours=3))
        outcomes.append(
            _event("booking.outcome", c, at, booked=booked, booking_id=f"BK{c.customer_id}" if booked else None,
                   total_value=1100.0 if booked else None, offered_upsells=[], accepted_upsells=[])
        )  # fmt: skip
    return messages, outcomes


def expected_counts(customers: list[Customer], converting: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """(n, conversions) per variant, counted here from the customers' fates."""
    counts: dict[str, tuple[int, int]] = {}
    for variant, _ in EXPERIMENT.variants:
        mine = [c for c in customers if c.variant == variant]
        counts[variant] = (len(mine), sum(c.fate in converting for c in mine))
    return counts


def scipy_p_value(counts: dict[str, tuple[int, int]]) -> float:
    (n1, x1), (n0, x0) = counts["nlp_enhanced"], counts["control"]
    table = [[x1, n1 - x1], [x0, n0 - x0]]
    if stats.contingency.expected_freq(table).min() < 5:
        return float(stats.fisher_exact(table).pvalue)
    # Without continuity correction the chi-square test equals the pooled two-proportion z-test.
    return float(stats.chi2_contingency(table, correction=False).pvalue)


async def test_the_report_counts_every_exposed_unit_and_attributes_bookings_by_window(
    stack: Settings, pipeline: WorkerProcesses, tmp_path: Path
) -> None:
    day, customers = build_customers()
    messages, outcomes = events_for(customers)
    await produce_events(stack, topics.CHAT_MESSAGES, messages)
    await produce_events(stack, topics.CHAT_OUTCOMES, outcomes)
    await wait_until_caught_up(stack, ("ingest", "logger"), timeout_s=90)

    experiments_file = tmp_path / "experiments.yaml"
    experiments_file.write_text(
        "experiments:\n  - name: reply_style\n    unit: customer_id\n"
        f"    variants: {{control: 0.5, nlp_enhanced: 0.5}}\n    start: {day}\n    end: {day}\n"
    )
    env = {"TEPPAN_EXPERIMENTS_FILE": str(experiments_file)}
    report = await teppan_json(stack, "experiments", "report", "reply_style", **env)

    assert report["attribution_window_days"] == 7.0 and report["unit"] == "customer_id"
    assert sum(v["n"] for v in report["variants"].values()) == CUSTOMERS
    assert sum(v["conversions"] for v in report["variants"].values()) == BOOKED_IN_WINDOW
    counts = expected_counts(customers, ("in_window",))
    for variant, (n, conversions) in counts.items():
        got = report["variants"][variant]
        assert (got["n"], got["conversions"]) == (n, conversions)
        assert got["conversion_rate"] == pytest.approx(conversions / n)
        assert got["avg_turns"] == pytest.approx(2.0)
    comparison = report["comparisons"]["nlp_enhanced"]
    assert comparison["p_value"] == pytest.approx(scipy_p_value(counts), rel=1e-9)
    srm = stats.chisquare([counts["control"][0], counts["nlp_enhanced"][0]]).pvalue
    assert report["srm"]["p_value"] == pytest.approx(srm, rel=1e-9)

    # A longer window credits the late bookings too; the CLI option overrides the file.
    wider = await teppan_json(
        stack, "experiments", "report", "reply_style", "--attribution-days", "10", **env
    )
    assert wider["attribution_window_days"] == 10.0
    assert sum(v["conversions"] for v in wider["variants"].values()) == BOOKED_IN_WINDOW + BOOKED_LATE
    wider_counts = expected_counts(customers, ("in_window", "late"))
    assert {k: (v["n"], v["conversions"]) for k, v in wider["variants"].items()} == wider_counts
    assert wider["comparisons"]["nlp_enhanced"]["p_value"] == pytest.approx(
        scipy_p_value(wider_counts), rel=1e-9
    )
