"""Regression cases for exact spans and for inputs at the edges: each one broke a rule once."""

from __future__ import annotations

from datetime import date

import pytest

from services.nlp.dates import find_dates
from services.nlp.fast_path import FastPath
from services.nlp.names import find_name
from services.nlp.numerals import parse_number
from services.nlp.prices import find_prices
from services.nlp.slots import extract
from services.nlp.times import find_times
from tests.nlp.adversarial import assert_exact_span, assert_exact_spans

BASE = date(2026, 11, 18)


@pytest.mark.parametrize(
    ("text", "surface", "value"),
    [
        ("my name is Dana  Lee", "Dana  Lee", "Dana Lee"),
        ("my name is Dana\tLee from Acme", "Dana\tLee", "Dana Lee"),
        ("my name is Dana \n Lee", "Dana \n Lee", "Dana Lee"),
        ("Cheers,  Dan   Ko.", "Dan   Ko", "Dan Ko"),
        ("quote for 20 guests -   maria  .", "maria", "Maria"),
    ],
)
def test_name_span_is_the_text_as_written(text: str, surface: str, value: str) -> None:
    e = find_name(text)
    assert e is not None and (e.surface, e.value) == (surface, value)
    assert_exact_span(text, e)


def test_bare_name_surface_drops_what_the_value_drops() -> None:
    text = "Dana  Lee please"
    e = find_name(text, expect_name=True)
    assert e is not None and (e.surface, e.value) == ("Dana  Lee", "Dana Lee")
    assert_exact_span(text, e)


@pytest.mark.parametrize(
    ("text", "surfaces"),
    [
        ("is it $55   for the kids?", ["$55"]),
        ("usd  40 each", ["usd  40"]),
        ("a budget of $2 k tops", ["$2 k"]),
        ("$55 pp, 300 bucks total", ["$55", "300 bucks"]),
    ],
)
def test_price_span_never_ends_in_spaces(text: str, surfaces: list[str]) -> None:
    prices = find_prices(text)
    assert [p.surface for p in prices] == surfaces
    assert_exact_spans(text, prices)


def test_per_person_is_read_right_after_the_amount() -> None:
    [price] = find_prices("$40 per person")
    assert price.value == {"amount": 40.0, "per_person": True}


def test_the_list_of_prices_claims_no_single_span() -> None:
    text = "our budget is $1,500 and is it $55 per person?"
    entities, _ = extract(text, BASE)
    assert entities["prices"].surface == "$1,500, $55"
    assert (entities["prices"].start, entities["prices"].end) == (-1, -1)
    assert_exact_spans(text, entities)


@pytest.mark.parametrize(
    ("text", "surface", "value"),
    [
        ("  at 7 please! ", "7", "19:00"),
        ("7:30 hrs.", "7:30 hrs", "19:30"),
        ("around 19:45", "19:45", "19:45"),
        ("seven", "seven", "19:00"),
    ],
)
def test_a_bare_time_reply_has_an_exact_span(text: str, surface: str, value: str) -> None:
    [e] = find_times(text, expect_time=True)
    assert (e.surface, e.value) == (surface, value)
    assert_exact_span(text, e)


def test_huge_numbers_are_no_price_count_or_crash() -> None:
    assert parse_number("9" * 5000) is None
    assert parse_number("²") is None  # a digit to str.isdigit, not to int()
    assert parse_number("٣٠") == 30  # Arabic-Indic digits are decimal digits
    assert find_prices("$" + "9" * 5000) == []
    entities, _ = extract("$" + "9" * 5000 + " for " + "9" * 4400 + " people", BASE)
    assert "prices" not in entities and "party_size" not in entities


@pytest.mark.parametrize(
    ("text", "base"),
    [
        ("tomorrow", date.max),
        ("the day after tomorrow", date.max),
        ("Easter", date.max),
        ("next month", date(9999, 12, 1)),
        ("in 999 months", date(9999, 1, 1)),
        ("next saturday", date.max),
        ("this weekend", date.max),
        ("the last day of february", date(9999, 3, 1)),
        ("1/1", date.max),
    ],
)
def test_a_date_past_year_9999_is_no_date(text: str, base: date) -> None:
    assert find_dates(text, base) == []


def test_dates_at_the_first_day_of_the_calendar() -> None:
    found = find_dates("Easter, then feb 29 and 01/01/0001", date.min)
    easter, leap_day, first_day = found
    assert (
        easter.surface == "Easter" and date.fromisoformat(easter.value).weekday() == 6
    )  # a Sunday in year 1
    assert (leap_day.value, first_day.value) == ("0004-02-29", "0001-01-01")


def test_feb_29_without_a_year_is_the_next_one() -> None:
    [e] = find_dates("the twenty-ninth of february", BASE)
    assert (e.value, e.needs_confirmation) == ("2028-02-29", True)
    assert find_dates("feb 29", date(2028, 2, 1))[0].value == "2028-02-29"


@pytest.mark.parametrize("text", ["31 sept", "February 30", "feb 29, 2027", "the 31st of april"])
def test_impossible_dates_are_no_dates(text: str) -> None:
    assert find_dates(text, BASE) == []


def test_easter_brunch_through_the_fast_path(fast_path: FastPath) -> None:
    a = fast_path.analyze_batch(
        [{"text": "Can you cater our Easter brunch for 20 people?", "occurred_at": "2026-01-10T09:00:00Z"}]
    )[0]
    assert a.entities["date"].value == "2026-04-05" and a.entities["party_size"].value == 20


def test_lone_surrogates_and_nul_reach_the_fast_path(fast_path: FastPath) -> None:
    text = "\ud800party of 8\x00 at 7pm \udfff- Dana"
    [a] = fast_path.analyze_batch([text])
    assert a.entities["party_size"].value == 8 and a.entities["time"].value == "19:00"
    assert_exact_spans(text, a.entities)
