from __future__ import annotations

from datetime import date

import pytest

from services.nlp.dates import find_dates
from services.nlp.names import find_name
from services.nlp.party_size import find_party_size
from services.nlp.slots import extract
from services.nlp.times import find_times

BASE = date(2026, 11, 18)  # a Wednesday


def party(text: str, requested: tuple[str, ...] = ()) -> int | None:
    e = extract(text, BASE, requested)[0].get("party_size")
    return None if e is None else e.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hey! I wanna book for 30 people", 30),
        ("party of 8 please", 8),
        ("we'll have twenty five guests", 25),
        ("a dozen of us", 12),
        ("30 adults and 10 kids", 40),
        ("me and my 4 friends", 5),
        ("can we change the headcount from 20 to 26", 26),
        ("table for 6 at 7pm", 6),
        ("Do you have room for 11 of us?", 11),
    ],
)
def test_party_size_is_read_from_how_customers_say_it(text: str, expected: int) -> None:
    assert party(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Is it $55 per person?",
        "We're at 123 Oak St",
        "can we get 3 proteins",
        "it runs 2 hours right",
        "my son turns 10 next week",
        "call me at 555-123-4567",
        "my number is 5551234567",
        "Chef Tony was great",
    ],
)
def test_numbers_that_are_not_party_sizes(text: str) -> None:
    assert party(text) is None


def test_bare_number_is_a_party_size_only_when_asked_for() -> None:
    assert party("13", ("people",)) == 13
    assert party("13") is None
    assert extract("3", BASE, ("time",))[0]["time"].value == "15:00"


def test_description_needs_confirmation() -> None:
    e = find_party_size("30 adults and 10 kids")
    assert e is not None and e.needs_confirmation


@pytest.mark.parametrize(
    ("text", "surface", "value"),
    [
        ("next Saturday works", "next Saturday", "2026-11-21"),
        ("this Friday?", "this Friday", "2026-11-20"),
        ("tomorrow please", "tomorrow", "2026-11-19"),
        ("Jan 15", "Jan 15", "2027-01-15"),
        ("on 12/31/2025", "12/31/2025", "2025-12-31"),
        ("for the 4th of July", "the 4th of July", "2027-07-04"),
        ("Memorial Day weekend", "Memorial Day weekend", "2027-05-29"),
        ("in two weeks", "in two weeks", "2026-12-02"),
    ],
)
def test_dates_resolve_to_the_day_the_customer_means(text: str, surface: str, value: str) -> None:
    found = find_dates(text, BASE)
    assert [(e.surface, e.value) for e in found] == [(surface, value)]


@pytest.mark.parametrize(
    "text", ["how much is the third protein?", "add the second tray of gyoza", "the first option sounds good"]
)
def test_ordinals_that_count_things_are_not_dates(text: str) -> None:
    assert find_dates(text, BASE) == []


def test_a_bare_ordinal_day_is_a_date() -> None:
    assert [e.surface for e in find_dates("can we do the third?", BASE)] == ["the third"]


def test_next_saturday_resolves_against_occurred_at() -> None:
    assert find_dates("next Saturday", date(2026, 11, 23))[0].value == "2026-11-28"
    assert find_dates("next Saturday", date(2026, 11, 14))[0].value == "2026-11-21"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2pm", "14:00"),
        ("at 14:00", "14:00"),
        ("6:30 p.m. please", "18:30"),
        ("around 6", "18:00"),
        ("noon works", "12:00"),
        ("sometime in the afternoon", "afternoon"),
        ("in the evening", "evening"),
        ("half past 11 in the morning", "11:30"),
    ],
)
def test_times_resolve_to_a_clock_time(text: str, value: str) -> None:
    found = find_times(text)
    assert found and found[0].value == value


def test_greeting_is_not_a_time() -> None:
    assert find_times("Good afternoon, I would like a quote") == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("my name is Dana Lee", "Dana Lee"),
        ("I'm Kevin, we want a chef", "Kevin"),
        ("This is Priya from Acme, booking a party", "Priya"),
        ("it's Omar.", "Omar"),
        ("Looking for a quote for 20 guests - Maria", "Maria"),
    ],
)
def test_the_customers_own_name_is_found(text: str, name: str) -> None:
    e = find_name(text)
    assert e is not None and e.value == name


@pytest.mark.parametrize(
    "text", ["Chef Tony was great", "I'm looking for a chef", "I'm so excited!", "It's for Saturday"]
)
def test_not_the_customers_name(text: str) -> None:
    assert find_name(text) is None


def test_bare_name_when_asked() -> None:
    e = find_name("Mayme Norling", expect_name=True)
    assert e is not None and e.value == "Mayme Norling"


def test_prices_and_budget() -> None:
    ents, _ = extract("our budget is $1,500 and is it $55 per person?", BASE)
    assert ents["budget"].value["amount"] == 1500.0
    assert [p["amount"] for p in ents["prices"].value] == [1500.0, 55.0]
    assert ents["prices"].value[1]["per_person"] is True
