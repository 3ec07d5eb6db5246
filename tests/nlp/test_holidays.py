"""Every holiday the date rule knows resolves, for every year from 1900 to 2200, to the right day."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from dateutil.easter import easter
from dateutil.relativedelta import MO, SU, TH, relativedelta

from services.nlp.dates import HOLIDAYS, find_dates

YEARS = range(1900, 2201)


def _fixed(month: int, day: int) -> Callable[[int], date]:
    return lambda year: date(year, month, day)


def _memorial_day(year: int) -> date:
    return date(year, 5, 31) + relativedelta(weekday=MO(-1))


def _labor_day(year: int) -> date:
    return date(year, 9, 1) + relativedelta(weekday=MO(1))


# The reference rule for each way of writing a holiday, computed with dateutil rather than the module's own
# helpers. A "weekend" starts on the Saturday before the Monday holiday.
ORACLE: dict[str, Callable[[int], date]] = {
    "Memorial Day": _memorial_day,
    "memorial day weekend": lambda y: _memorial_day(y) - timedelta(days=2),
    "Labor Day": _labor_day,
    "labour day weekend": lambda y: _labor_day(y) - timedelta(days=2),
    "Christmas": _fixed(12, 25),
    "Christmas Eve": _fixed(12, 24),
    "christmas day": _fixed(12, 25),
    "xmas": _fixed(12, 25),
    "Xmas Eve": _fixed(12, 24),
    "New Year's": _fixed(1, 1),
    "new years eve": _fixed(12, 31),
    "New Year's Day": _fixed(1, 1),
    "Thanksgiving": lambda y: date(y, 11, 1) + relativedelta(weekday=TH(4)),
    "thanksgiving day": lambda y: date(y, 11, 1) + relativedelta(weekday=TH(4)),
    "the 4th of July": _fixed(7, 4),
    "fourth of july": _fixed(7, 4),
    "July 4th": _fixed(7, 4),
    "july fourth": _fixed(7, 4),
    "Independence Day": _fixed(7, 4),
    "Valentine's Day": _fixed(2, 14),
    "valentines": _fixed(2, 14),
    "Mother's Day": lambda y: date(y, 5, 1) + relativedelta(weekday=SU(2)),
    "mothers day": lambda y: date(y, 5, 1) + relativedelta(weekday=SU(2)),
    "Father's Day": lambda y: date(y, 6, 1) + relativedelta(weekday=SU(3)),
    "Halloween": _fixed(10, 31),
    "Easter": easter,
    "Easter Sunday": easter,
    "Cinco de Mayo": _fixed(5, 5),
    "St. Patrick's Day": _fixed(3, 17),
    "st patricks day": _fixed(3, 17),
}

# Hand-checked against printed calendars; a second, independent witness for the oracle above.
KNOWN_DATES = [
    ("Easter", "1900-04-15"),
    ("Easter", "1961-04-02"),
    ("Easter", "2000-04-23"),
    ("Easter", "2024-03-31"),
    ("Easter", "2025-04-20"),
    ("Easter Sunday", "2026-04-05"),
    ("Easter", "2038-04-25"),  # the latest Easter can fall
    ("Easter", "2100-03-28"),
    ("Easter", "2200-04-06"),
    ("Thanksgiving", "2024-11-28"),
    ("Thanksgiving", "2025-11-27"),
    ("Thanksgiving", "2026-11-26"),
    ("Mother's Day", "2024-05-12"),
    ("Mother's Day", "2025-05-11"),
    ("Mother's Day", "2026-05-10"),
    ("Father's Day", "2024-06-16"),
    ("Father's Day", "2025-06-15"),
    ("Father's Day", "2026-06-21"),
    ("Memorial Day", "2024-05-27"),
    ("Memorial Day", "2025-05-26"),
    ("Memorial Day", "2026-05-25"),
    ("memorial day weekend", "2026-05-23"),
    ("Labor Day", "2024-09-02"),
    ("Labor Day", "2025-09-01"),
    ("Labor Day", "2026-09-07"),
    ("labour day weekend", "2026-09-05"),
    ("Christmas Eve", "2026-12-24"),
    ("New Year's Day", "2027-01-01"),
    ("new years eve", "2026-12-31"),
    ("July 4th", "2026-07-04"),
    ("Valentine's Day", "2026-02-14"),
    ("Halloween", "2026-10-31"),
    ("Cinco de Mayo", "2026-05-05"),
    ("St. Patrick's Day", "2026-03-17"),
]


def _resolve(phrase: str, base: date) -> str:
    found = find_dates(f"can you cater our {phrase} party?", base)
    assert [e.surface for e in found] == [phrase], phrase
    return str(found[0].value)


def _top_level_alternatives(pattern: str) -> list[str]:
    """The pattern split at every `|` outside parentheses: one entry per holiday form."""
    parts, depth, current = [], 0, ""
    for ch in pattern:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]


def test_every_holiday_form_the_rule_knows_is_covered() -> None:
    """A holiday added to the pattern without a reference rule here fails this test."""
    for alternative in _top_level_alternatives(HOLIDAYS):
        assert any(re.fullmatch(alternative, phrase.lower()) for phrase in ORACLE), alternative


def test_easter_brunch_does_not_crash_the_date_rule() -> None:
    found = find_dates("Can you cater our Easter brunch for 20 people?", date(2026, 1, 10))
    assert [(e.surface, e.value) for e in found] == [("Easter", "2026-04-05")]


@pytest.mark.parametrize(("phrase", "expected"), KNOWN_DATES)
def test_known_holiday_dates(phrase: str, expected: str) -> None:
    year = int(expected[:4])
    assert _resolve(phrase, date(year, 1, 1)) == expected
    assert ORACLE[phrase](year).isoformat() == expected


@pytest.mark.parametrize("phrase", sorted(ORACLE))
def test_every_holiday_resolves_in_every_year(phrase: str) -> None:
    wrong = {}
    for year in YEARS:
        expected = ORACLE[phrase](year).isoformat()
        got = _resolve(phrase, date(year, 1, 1))
        if got != expected:
            wrong[year] = (got, expected)
    assert not wrong, wrong


def test_a_holiday_already_past_is_next_years() -> None:
    assert _resolve("Easter", date(2026, 4, 6)) == "2027-03-28"
    assert _resolve("Easter", date(2026, 4, 5)) == "2026-04-05"  # the day itself still counts


def test_easter_matches_dateutil_across_the_gregorian_calendar() -> None:
    """The computus holds for every Gregorian year, not only the ones bookings name."""
    from services.nlp.dates import _easter

    wrong = [y for y in range(1583, 10000) if _easter(y) != easter(y)]
    assert not wrong, wrong[:10]
