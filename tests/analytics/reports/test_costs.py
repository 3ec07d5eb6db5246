"""Price table lookup, costs report against hand-computed totals, and once-per-period budget alerts."""

from datetime import UTC, date, datetime

import pytest

from services.analytics.reports.costs import (
    DEFAULT_PRICES_FILE,
    BudgetCrossing,
    Budgets,
    BudgetTracker,
    Price,
    PriceTable,
    Usage,
    cost_report,
    costs_by_conversation,
    model_key,
)

DAY1 = datetime(2026, 11, 21, 23, 59, tzinfo=UTC)
DAY2 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def prices() -> PriceTable:
    return PriceTable.load(DEFAULT_PRICES_FILE)


def test_shipped_prices_are_seed_004s(prices: PriceTable) -> None:
    on = date(2026, 11, 22)
    mini = prices.price_for("openai", "gpt-4o-mini", on)
    assert mini is not None and (mini.input_per_1m_usd, mini.output_per_1m_usd) == (0.15, 0.60)
    for model in ("llama-3.1-8b-instant", "mixtral-8x7b"):  # exact row and provider wildcard
        groq = prices.price_for("groq", model, on)
        assert groq is not None and (groq.input_per_1m_usd, groq.output_per_1m_usd) == (0.27, 0.27)
    ollama = prices.price_for("Ollama", "llama3.2", on)
    assert ollama is not None and (ollama.input_per_1m_usd, ollama.output_per_1m_usd) == (0.0, 0.0)
    assert prices.price_for("openai", "gpt-5", on) is None
    assert prices.price_for("anthropic", "claude", on) is None


def test_cost_of_one_usage(prices: PriceTable) -> None:
    usage = Usage("c1", "openai", "GPT-4o-mini", tokens_in=1_000_000, tokens_out=500_000, at=DAY2)
    assert prices.cost(usage) == pytest.approx(0.15 + 0.30)
    assert prices.cost(Usage("c1", "openai", "gpt-5", 10, 10, DAY2)) is None


def test_effective_dates_and_exact_beats_wildcard() -> None:
    table = PriceTable(
        [
            Price("acme", "*", 1.0, 1.0, date(2026, 1, 1)),
            Price("acme", "big", 2.0, 4.0, date(2026, 1, 1)),
            Price("acme", "big", 3.0, 6.0, date(2026, 6, 1)),
            Price("new", "m", 1.0, 1.0, date(2026, 12, 1)),
        ]
    )
    assert table.price_for("acme", "big", date(2026, 5, 31)).input_per_1m_usd == 2.0  # type: ignore[union-attr]
    assert table.price_for("acme", "big", date(2026, 6, 1)).input_per_1m_usd == 3.0  # type: ignore[union-attr]
    assert table.price_for("acme", "small", date(2026, 6, 1)).input_per_1m_usd == 1.0  # type: ignore[union-attr]
    # Not yet priced on that date: unknown, not zero.
    assert table.price_for("new", "m", date(2026, 11, 30)) is None
    with pytest.raises(ValueError):
        PriceTable([Price("x", "y", -1.0, 0.0, date(2026, 1, 1))])


def test_cost_report_shape_and_totals(prices: PriceTable) -> None:
    usages = [
        Usage("c1", "openai", "gpt-4o-mini", 2000, 1000, DAY1),  # 0.0003 + 0.0006
        Usage("c1", "groq", "llama-3.1-8b-instant", 10_000, 5_000, DAY2),  # 15000 * 0.27e-6
        Usage("c2", "ollama", "llama3.2", 50_000, 9_000, DAY2),  # free
        Usage("c3", "mystery", "m-1", 1_000, 1_000, DAY2),  # unknown
        Usage("c3", "openai", "gpt-4o-mini", 1_000_000, 0, DAY2),  # 0.15
    ]
    report = cost_report(usages, prices, bookings=2, budgets=Budgets(daily_usd=1.0), today=date(2026, 11, 22))
    openai = 0.0003 + 0.0006 + 0.15
    groq = 15_000 * 0.27 / 1e6
    total = openai + groq
    assert report == {
        "total_usd": pytest.approx(total),
        "by_model": {
            "groq/llama-3.1-8b-instant": pytest.approx(groq),
            "ollama/llama3.2": 0.0,
            "openai/gpt-4o-mini": pytest.approx(openai),
        },
        "by_day": {"2026-11-21": pytest.approx(0.0009), "2026-11-22": pytest.approx(groq + 0.15)},
        "per_conversation_avg_usd": pytest.approx(total / 3),
        "per_booking_usd": pytest.approx(total / 2),
        "unknown_models": ["mystery/m-1"],
        "budget": {
            "daily_usd": 1.0,
            "daily_used": pytest.approx(groq + 0.15),
            "monthly_usd": None,
            "monthly_used": pytest.approx(total),
        },
    }
    assert costs_by_conversation(usages, prices) == {
        "c1": pytest.approx(0.0009 + groq),
        "c2": 0.0,
        "c3": pytest.approx(0.15),
    }


def test_empty_report_has_the_documented_keys(prices: PriceTable) -> None:
    report = cost_report([], prices, bookings=0, today=date(2026, 11, 22))
    assert report["total_usd"] == 0.0
    assert report["per_conversation_avg_usd"] is None and report["per_booking_usd"] is None
    assert report["budget"] == {
        "daily_usd": None,
        "daily_used": 0.0,
        "monthly_usd": None,
        "monthly_used": 0.0,
    }


def test_model_key_folds_case() -> None:
    assert model_key(" OpenAI", "GPT-4o-mini ") == "openai/gpt-4o-mini"


def test_budget_alerts_once_per_period_and_state_survives() -> None:
    tracker = BudgetTracker(Budgets(daily_usd=10.0, monthly_usd=100.0))
    morning = datetime(2026, 11, 22, 9, tzinfo=UTC)
    assert tracker.observe(daily_used=7.9, monthly_used=50.0, at=morning) == []
    assert tracker.observe(daily_used=8.0, monthly_used=50.0, at=morning) == [
        BudgetCrossing("daily", "2026-11-22", 80, 8.0, 10.0)
    ]
    assert tracker.observe(daily_used=9.0, monthly_used=50.0, at=morning) == []
    # A restarted worker with persisted state does not page again.
    restored = BudgetTracker(Budgets(daily_usd=10.0, monthly_usd=100.0), state=tracker.state())
    assert restored.observe(daily_used=9.5, monthly_used=50.0, at=morning) == []
    assert [c.threshold_pct for c in restored.observe(daily_used=10.0, monthly_used=50.0, at=morning)] == [
        100
    ]
    assert restored.observe(daily_used=12.0, monthly_used=50.0, at=morning) == []
    # A new day starts a new daily period.
    next_day = datetime(2026, 11, 23, 0, 1, tzinfo=UTC)
    assert restored.observe(daily_used=8.5, monthly_used=60.0, at=next_day) == [
        BudgetCrossing("daily", "2026-11-23", 80, 8.5, 10.0)
    ]


def test_budget_jump_past_both_thresholds_pages_once_at_100() -> None:
    tracker = BudgetTracker(Budgets(monthly_usd=100.0))
    now = datetime(2026, 11, 22, tzinfo=UTC)
    assert tracker.observe(daily_used=0.0, monthly_used=130.0, at=now) == [
        BudgetCrossing("monthly", "2026-11", 100, 130.0, 100.0)
    ]
    assert tracker.observe(daily_used=0.0, monthly_used=131.0, at=now) == []
    assert BudgetTracker(Budgets()).observe(daily_used=1e9, monthly_used=1e9, at=now) == []
