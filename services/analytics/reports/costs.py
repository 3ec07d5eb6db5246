"""LLM cost tracking: the editable price table, cost per usage record, the costs report and budgets.

Pure: the `llm_usage` rows the metrics worker stores are read back as `Usage` records; this module
prices them, aggregates them (per conversation, booking, day, model) and tracks budget alerts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

# The shipped table, in the analytics package's config folder (TEPPAN_PRICES_FILE overrides it).
DEFAULT_PRICES_FILE = Path(__file__).parent.parent / "config" / "prices.yaml"
WILDCARD = "*"
TOKENS_PER_PRICE_UNIT = 1_000_000
BUDGET_THRESHOLDS_PCT: tuple[int, ...] = (80, 100)


@dataclass(frozen=True)
class Price:
    """One row of the price table: USD per million tokens from `effective_from` (UTC date) on."""

    provider: str
    model: str
    input_per_1m_usd: float
    output_per_1m_usd: float
    effective_from: date


@dataclass(frozen=True)
class Usage:
    """Tokens spent by one LLM call of a conversation, at `at` (UTC)."""

    conversation_id: str
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    at: datetime


def model_key(provider: str, model: str) -> str:
    """The report's key for a model, "provider/model", case-folded so spellings aggregate together."""
    return f"{provider.strip().lower()}/{model.strip().lower()}"


def _utc_date(at: datetime) -> date:
    return (at if at.tzinfo is None else at.astimezone(UTC)).date()


class PriceTable:
    """Looks up the price of (provider, model) on a date: an exact model row beats the provider's "*" row."""

    def __init__(self, prices: Iterable[Price]) -> None:
        self._rows: dict[tuple[str, str], list[Price]] = defaultdict(list)
        for price in prices:
            if price.input_per_1m_usd < 0 or price.output_per_1m_usd < 0:
                raise ValueError(f"negative price for {price.provider}/{price.model}")
            self._rows[(price.provider.strip().lower(), price.model.strip().lower())].append(price)
        for rows in self._rows.values():
            rows.sort(key=lambda row: row.effective_from)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriceTable:
        """From the YAML's structure: {"prices": [{provider, model, input_per_1m_usd, ...}, ...]}."""
        prices = []
        for row in data.get("prices") or []:
            effective = row["effective_from"]
            prices.append(
                Price(
                    provider=str(row["provider"]),
                    model=str(row["model"]),
                    input_per_1m_usd=float(row["input_per_1m_usd"]),
                    output_per_1m_usd=float(row["output_per_1m_usd"]),
                    effective_from=effective
                    if isinstance(effective, date)
                    else date.fromisoformat(str(effective)),
                )
            )
        return cls(prices)

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        """Reads a price table file; None (TEPPAN_PRICES_FILE unset) reads the shipped `config/prices.yaml`."""
        with open(path or DEFAULT_PRICES_FILE, encoding="utf-8") as handle:
            return cls.from_dict(yaml.safe_load(handle) or {})

    def price_for(self, provider: str, model: str, on: date) -> Price | None:
        """The price in force on `on`, or None when the model is unknown (or not yet priced then)."""
        provider = provider.strip().lower()
        for key in ((provider, model.strip().lower()), (provider, WILDCARD)):
            in_force = [row for row in self._rows.get(key, ()) if row.effective_from <= on]
            if in_force:
                return in_force[-1]
        return None

    def cost(self, usage: Usage) -> float | None:
        """The USD cost of `usage`, or None for an unknown model (never a silent 0)."""
        price = self.price_for(usage.provider, usage.model, _utc_date(usage.at))
        if price is None:
            return None
        return (
            usage.tokens_in * price.input_per_1m_usd + usage.tokens_out * price.output_per_1m_usd
        ) / TOKENS_PER_PRICE_UNIT


@dataclass(frozen=True)
class Budgets:
    """Spending limits in USD; None means no limit for that period."""

    daily_usd: float | None = None
    monthly_usd: float | None = None


def costs_by_conversation(usages: Iterable[Usage], prices: PriceTable) -> dict[str, float]:
    """Total priced cost per conversation id (unknown models contribute nothing here)."""
    totals: dict[str, float] = defaultdict(float)
    for usage in usages:
        cost = prices.cost(usage)
        if cost is not None:
            totals[usage.conversation_id] += cost
    return dict(totals)


def period_spend(usages: Iterable[Usage], prices: PriceTable, on: date) -> tuple[float, float]:
    """(spent on the UTC day `on`, spent in its calendar month), priced usages only."""
    daily = monthly = 0.0
    for usage in usages:
        day = _utc_date(usage.at)
        if (day.year, day.month) != (on.year, on.month):
            continue
        cost = prices.cost(usage) or 0.0
        monthly += cost
        if day == on:
            daily += cost
    return daily, monthly


def cost_report(
    usages: Iterable[Usage],
    prices: PriceTable,
    *,
    bookings: int,
    budgets: Budgets = Budgets(),
    today: date | None = None,
) -> dict[str, Any]:
    """The `teppan costs report --json` document.

    per_conversation_avg_usd: the priced total over the conversations that used an LLM;
    per_booking_usd: the priced total over `bookings` (what one booking costs in LLM spend).
    Either is None when its denominator is zero. Unknown models are listed and left out of every
    total. `today` (default: the current UTC date) is the day the budget figures refer to.
    """
    usages = list(usages)
    today = today or datetime.now(UTC).date()
    total = 0.0
    by_model: dict[str, float] = defaultdict(float)
    by_day: dict[str, float] = defaultdict(float)
    unknown: set[str] = set()
    conversations: set[str] = set()
    for usage in usages:
        conversations.add(usage.conversation_id)
        cost = prices.cost(usage)
        if cost is None:
            unknown.add(model_key(usage.provider, usage.model))
            continue
        total += cost
        by_model[model_key(usage.provider, usage.model)] += cost
        by_day[_utc_date(usage.at).isoformat()] += cost
    daily_used, monthly_used = period_spend(usages, prices, today)
    return {
        "total_usd": usd(total),
        "by_model": {key: usd(value) for key, value in sorted(by_model.items())},
        "by_day": {key: usd(value) for key, value in sorted(by_day.items())},
        "per_conversation_avg_usd": usd(total / len(conversations)) if conversations else None,
        "per_booking_usd": usd(total / bookings) if bookings else None,
        "unknown_models": sorted(unknown),
        "budget": {
            "daily_usd": budgets.daily_usd,
            "daily_used": usd(daily_used),
            "monthly_usd": budgets.monthly_usd,
            "monthly_used": usd(monthly_used),
        },
    }


def usd(value: float) -> float:
    # Micro-dollars are far below what matters and hide float noise such as 0.30000000000000004.
    return round(value, 6)



@dataclass(frozen=True)
class BudgetCrossing:
    """Spend in `period` ("daily" or "monthly", `period_key` "2026-11-22" or "2026-11") reached `threshold_pct`."""

    period: Literal["daily", "monthly"]
    period_key: str
    threshold_pct: int
    used_usd: float
    budget_usd: float


class BudgetTracker:
    """Remembers which budget thresholds were already announced in the current day and month.

    Feed it the period totals (computed from idempotent storage, so redeliveries do not inflate
    them); it returns each crossing once per period. When spend jumps past several thresholds at
    once only the highest is returned, since one page saying 100% makes an 80% page noise.
    `state()` is a JSON-ready dict to persist between runs and pass back as `state`.
    """

    def __init__(
        self,
        budgets: Budgets,
        state: Mapping[str, Any] | None = None,
        thresholds_pct: tuple[int, ...] = BUDGET_THRESHOLDS_PCT,
    ) -> None:
        self._budgets = budgets
        self._thresholds = tuple(sorted(thresholds_pct))
        self._state: dict[str, dict[str, Any]] = {
            period: {"period_key": entry["period_key"], "notified": list(entry["notified"])}
            for period, entry in (state or {}).items()
        }

    def observe(self, *, daily_used: float, monthly_used: float, at: datetime) -> list[BudgetCrossing]:
        day = _utc_date(at)
        checks: list[tuple[Literal["daily", "monthly"], str, float, float | None]] = [
            ("daily", day.isoformat(), daily_used, self._budgets.daily_usd),
            ("monthly", f"{day.year:04d}-{day.month:02d}", monthly_used, self._budgets.monthly_usd),
        ]
        crossings = []
        for period, key, used, budget in checks:
            if not budget or budget <= 0:
                continue
            entry = self._state.get(period)
            if entry is None or entry["period_key"] != key:
                entry = self._state[period] = {"period_key": key, "notified": []}
            reached = [pct for pct in self._thresholds if used >= budget * pct / 100]
            new = [pct for pct in reached if pct not in entry["notified"]]
            if new:
                entry["notified"] = sorted(set(entry["notified"]) | set(reached))
                crossings.append(BudgetCrossing(period, key, max(new), used, budget))
        return crossings

    def state(self) -> dict[str, Any]:
        return {
            period: {"period_key": e["period_key"], "notified": list(e["notified"])}
            for period, e in self._state.items()
        }
