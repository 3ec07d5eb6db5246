"""Date slot rule: finds dates as written and resolves them to ISO dates against the message's own time.

Every form is resolved here: dateparser returns None for "next Saturday", costs tens of milliseconds a call,
and read "31 sept" as September 1, 2031.
"""

from __future__ import annotations

import calendar
import re
from datetime import MAXYEAR, date, timedelta

from services.common.lowercase import lower_aligned
from services.nlp.entities import Claimed, Entity, has_any
from services.nlp.numerals import NUMBER_PATTERN, ORDINALS, parse_number

MONTHS = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sept": 9,
    "sep": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}
WEEKDAYS = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tues": 1,
    "tue": 1,
    "wednesday": 2,
    "wed": 2,
    "weds": 2,
    "thursday": 3,
    "thurs": 3,
    "thur": 3,
    "thu": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
}
# "the 15th may have to be cancelled": "may" before a verb is the modal, not the month.
_MAY_THE_MODAL = (
    r"(?!\s+(?:have|be|not|need|want|get|go|come|also|still|take|change|move|run|end|start|only|well|work|i|we"
    r"|you|he|she|they|it|or|just|fall|mean|look|seem|help|ask|cancel|shift|slip)\b)"
)
_MONTH = (
    r"(?:" + "|".join(month if month != "may" else "may" + _MAY_THE_MODAL for month in sorted(MONTHS, key=len, reverse=True))
    + r")\.?"
)
# Short weekday forms only count with a trailing comma or space-digit, never as plain words ("sat down").
_WEEKDAY_FULL = r"(?:mondays?|tuesdays?|wednesdays?|thursdays?|fridays?|saturdays?|sundays?)"
_WEEKDAY_ONE = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)(?!s\b)"
_WEEKDAY = r"(?:mondays?|tuesdays?|wednesdays?|thursdays?|fridays?|saturdays?|sundays?|mon|tues?|wed|weds|thu|thurs?|fri|sat|sun)"
_ORD_WORD = "|".join(sorted(ORDINALS, key=len, reverse=True))
_DAY = rf"(?:(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?|{_ORD_WORD}|twenty[\s-](?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|thirty[\s-]first)"
# "the third protein", "the second tray": an ordinal before one of these nouns counts things, not days.
_NOT_A_DATE_AFTER_ORDINAL = (
    r"(?:floor|time|row|person|guest|anniversary|birthday|protein|meat|course|option|item|choice|one|tray|"
    r"side|dish|entree|plate|serving|round|chef|hour|kid|child|adult|table|order|location|address|payment|quarter|half|"
    r"week|weekend|part|few|"
    r"deposit|package|menu|appetizer|drink|bottle|add-?on|upsell|grade|year|place|email|e-mail|message|call|attempt"
    r"|request|reminder)s?\b"
)
_DAY_ORD = rf"(?:(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)|{_ORD_WORD}|twenty[\s-](?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|thirty[\s-]first)"
_YEAR = r"(?:20\d\d|'\d\d)"

HOLIDAYS = (
    r"memorial\s+day(?:\s+weekend)?|labou?r\s+day(?:\s+weekend)?|christmas(?:\s+eve|\s+day)?|xmas(?:\s+eve)?"
    r"|new\s+year'?s?(?:\s+eve|\s+day)?|thanksgiving(?:\s+day)?|(?:the\s+)?(?:4th|fourth)\s+of\s+july"
    r"|july\s+(?:4th|fourth)|independence\s+day|valentine'?s(?:\s+day)?|mother'?s\s+day|father'?s\s+day"
    r"|halloween|easter(?:\s+sunday)?|cinco\s+de\s+mayo|st\.?\s+patrick'?s\s+day"
)

# No pattern lets two whitespace runs meet (`\s*,?\s+`): `re` would try every split of a long run of spaces
# between them, quadratic in its length; an optional comma carries the whitespace before it (`(?:\s*,)?\s+`).
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # Not a greeting ("Merry Christmas!"), and not the lunar new year, which has no fixed day.
    ("holiday", re.compile(rf"(?<!merry\s)(?<!happy\s)(?<!chinese\s)(?<!lunar\s)\b(?:{HOLIDAYS})\b")),
    ("iso", re.compile(r"\b(20\d\d)[/-](\d{1,2})[/-](\d{1,2})\b")),
    (
        "mdy",
        re.compile(
            r"(?<![\d/.-])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])(?!\s*(?:cups?|lbs?|oz|pounds?|inch|of\s+a|would\b|stars?\b|recommend))"
        ),
    ),
    (
        "dmy_text",
        re.compile(
            rf"\b(?:{_WEEKDAY}\.?,?\s+)?(?:the\s+)?({_DAY})\s+(?:of\s+|day\s+of\s+)?({_MONTH})(?:,?\s+({_YEAR}))?\b"
        ),
    ),
    (
        "mdy_text",
        re.compile(
            rf"\b(?:{_WEEKDAY}\.?,?\s+)?({_MONTH})\s+(?:the\s+)?({_DAY})(?!\d|:\d)(?:,?\s+({_YEAR}))?(?:,?\s+{_WEEKDAY_FULL})?\b"
        ),
    ),
    ("last_day", re.compile(rf"\b(?:the\s+)?last\s+day\s+of\s+({_MONTH})\b")),
    # "the 2nd Saturday of December", "last Friday in May"
    (
        "nth_weekday",
        re.compile(
            rf"\b(?:the\s+)?(first|1st|second|2nd|third|3rd|fourth|4th|last)\s+({_WEEKDAY_FULL})\s+(?:of|in)\s+({_MONTH})\b"
        ),
    ),
    (
        "weekday_ord",
        re.compile(
            rf"\b({_WEEKDAY_FULL})(?:\s*,)?\s+(?:the\s+)?({_DAY_ORD})(?:\s+of\s+(this|next)\s+month)?\b"
        ),
    ),
    ("ord_month", re.compile(rf"\b(?:the\s+)?({_DAY_ORD})\s+of\s+(this|next|the)\s+month\b")),
    (
        "relative_span",
        re.compile(
            rf"\b(?:in\s+(?:about\s+)?({NUMBER_PATTERN}|a|an)\s+(days?|weeks?|months?)"
            rf"(?:\s+and\s+({NUMBER_PATTERN}|a|an)\s+(days?))?"
            rf"|({NUMBER_PATTERN}|a|an)\s+(days?|weeks?|months?)\s+(?:from\s+(?:now|today)|later|out))\b"
        ),
    ),
    ("day_after", re.compile(r"\b(?:the\s+)?day\s+after\s+(?:tomorrow|tmrw|tmr)\b")),
    ("tomorrow", re.compile(r"\b(?:tomorrow|tmrw|tmr|tomorow|tommorow|tommorrow|2morrow|2moro)\b")),
    # "reply today" / "call me today" ask for an answer, they do not date the event.
    (
        "today",
        re.compile(
            r"(?<!reply\s)(?<!respond\s)(?<!answer\s)(?<!back\s)(?<!know\s)(?<!me\s)(?<!us\s)(?<!by\s)"
            r"\b(?:today|tonight|tonite|this\s+evening|this\s+afternoon|this\s+morning)\b"
        ),
    ),
    ("weekend", re.compile(r"\b(this|next|coming|the)\s+weekend\b")),
    ("next_week_day", re.compile(rf"\bnext\s+week\s+({_WEEKDAY_FULL})\b")),
    ("rel_weekday", re.compile(rf"\b(next|this|coming|this\s+coming|upcoming)\s+({_WEEKDAY})\b")),
    ("week", re.compile(r"\b(next|this|the\s+following)\s+week\b")),
    ("month", re.compile(r"\b(next|this)\s+month\b")),
    # One weekday, not a habit: "on a Sunday" and "Saturdays" ask about any of them.
    ("weekday", re.compile(rf"(?<!\ba\s)(?<!\bany\s)(?<!\bevery\s)\b({_WEEKDAY_ONE})\b")),
    (
        "the_ord",
        # Not before a month ("the 31st of april" is a month-day, and no date when there is no such day).
        re.compile(
            rf"\b(?:on\s+|for\s+)?the\s+({_DAY_ORD})\b(?!\s+{_NOT_A_DATE_AFTER_ORDINAL})(?!\s+(?:of\s+)?{_MONTH}\b)"
        ),
    ),
    ("bare_ord", re.compile(r"\b((?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th))\b")),
    # A short weekday where it can only be one: "on sat?", "(sat)", "Sat. 7 PM" opening a message, "see u thurs".
    (
        "weekday_short",
        re.compile(
            r"\b(mon|tues?|wed|weds|thu|thurs?|fri|sat|sun)\b"
            r"(?=\.|\)|\?|!|,|\s+(?:at|@|night|morning|afternoon|evening|or|and)\b|\s*$)"
            # Not the weekday of a date that follows: "on Mon., 31 Dec 2018", "on Mon, Sept, 03".
            r"(?![.,]*\s*(?:\d|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))"
        ),
    ),
]


def _weekday(word: str) -> int:
    return WEEKDAYS[word.lower().rstrip("s") if word.lower().rstrip("s") in WEEKDAYS else word.lower()]


def _day_number(token: str) -> int | None:
    t = token.lower().replace("-", " ")
    t = re.sub(r"\s+", " ", t)
    if t in ORDINALS:
        return ORDINALS[t]
    m = re.match(r"(\d+)", t)
    if m:
        return int(m.group(1))
    if t.startswith("twenty "):
        return 20 + ORDINALS.get(t.split(" ", 1)[1], 0)
    if t == "thirty first":
        return 31
    return None


def _month(token: str) -> int:
    return MONTHS[token.lower().rstrip(".")]


def _safe(year: int, month: int, day: int) -> date | None:
    """The date, or None where there is none: February 30, or a year past 9999 for a message dated 9999."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _later(base: date, days: int) -> date | None:
    """`days` after base, or None past December 31, 9999 (the sender picks `occurred_at`, any year can come)."""
    try:
        return base + timedelta(days=days)
    except OverflowError:
        return None


def _upcoming(base: date, month: int, day: int, year: int | None) -> date | None:
    """A month-day without a year means its next occurrence (today included)."""
    if year is not None:
        return _safe(year, month, day)
    d = _safe(base.year, month, day)
    if d is not None and d < base:
        d = _safe(base.year + 1, month, day)
    return d


def _next_leap_day(base: date) -> date | None:
    """The first February 29 on or after base, if the calendar still holds one."""
    for year in range(base.year, MAXYEAR + 1):
        if calendar.isleap(year) and date(year, 2, 29) >= base:
            return date(year, 2, 29)
    return None


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _year(token: str | None) -> int | None:
    if not token:
        return None
    token = token.strip("'")
    return 2000 + int(token) if len(token) == 2 else int(token)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    if n > 0:
        return first + timedelta(days=offset + 7 * (n - 1))
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> date:
    """Western Easter Sunday by the anonymous Gregorian computus (Meeus/Jones/Butcher), for any Gregorian year."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    to_full_moon = (19 * a + b - d - g + 15) % 30  # days from March 21 to the Paschal full moon
    i, k = divmod(c, 4)
    to_sunday = (32 + 2 * e + 2 * i - to_full_moon - k) % 7  # then on to the next Sunday
    # The two exceptions (full moon on April 18 or 19 in some cycles) move Easter back one week.
    exception = (a + 11 * to_full_moon + 22 * to_sunday) // 451
    # 114 is March 22 written in base 31 (3 * 31 + 21, then + 1 below): the earliest Easter possible.
    month, day = divmod(to_full_moon + to_sunday - 7 * exception + 114, 31)
    return date(year, month, day + 1)


def _holiday(name: str, year: int) -> date:
    n = re.sub(r"[^a-z0-9 ]", "", name.lower())
    n = re.sub(r"\s+", " ", n)
    if n.startswith("memorial"):
        d = _nth_weekday(year, 5, 0, -1)
        return d - timedelta(days=2) if "weekend" in n else d
    if n.startswith("labo"):
        d = _nth_weekday(year, 9, 0, 1)
        return d - timedelta(days=2) if "weekend" in n else d
    if "christmas" in n or "xmas" in n:
        return date(year, 12, 24 if "eve" in n else 25)
    if n.startswith("new year"):
        return date(year, 12, 31) if "eve" in n else date(year, 1, 1)
    if n.startswith("thanksgiving"):
        return _nth_weekday(year, 11, 3, 4)
    if "july" in n or "independence" in n:
        return date(year, 7, 4)
    if n.startswith("valentine"):
        return date(year, 2, 14)
    if n.startswith("mother"):
        return _nth_weekday(year, 5, 6, 2)
    if n.startswith("father"):
        return _nth_weekday(year, 6, 6, 3)
    if n.startswith("halloween"):
        return date(year, 10, 31)
    if n.startswith("easter"):
        return _easter(year)
    if n.startswith("cinco"):
        return date(year, 5, 5)
    return date(year, 3, 17)  # St. Patrick's Day, the only pattern left


def _count(token: str | None) -> int:
    if token is None:
        return 0
    if token.lower() in ("a", "an"):
        return 1
    return parse_number(token) or 0


def _resolve(kind: str, m: re.Match[str], base: date) -> tuple[date | None, float, bool]:
    """Return (date, confidence, needs_confirmation) for one match of the pattern `kind`."""
    g = m.groups()
    if kind == "holiday":
        d: date | None = _holiday(m.group(0), base.year)
        if d is not None and d < base:
            d = _holiday(m.group(0), base.year + 1) if base.year < MAXYEAR else None
        return d, 0.9, "weekend" in m.group(0).lower()
    if kind == "iso":
        return _safe(int(g[0]), int(g[1]), int(g[2])), 0.95, False
    if kind == "mdy":
        month, day = int(g[0]), int(g[1])
        if (month, day, g[2]) == (10, 10, None) and not _DATE_PREPOSITION_BEFORE.search(m.string, 0, m.start()):
            return None, 0.0, False  # "the sauce was 10/10": a rating
        if (month, day) == (24, 7):
            return None, 0.0, False  # "are you guys 24/7?": all hours, no date
        if month > 12 >= day:
            month, day = day, month  # "14/03": day first, as most of the world writes it
        return _upcoming(base, month, day, _year(g[2])), 0.9, month <= 12 and day <= 12 and g[2] is None
    if kind in ("dmy_text", "mdy_text"):
        day_token, month_token = (g[0], g[1]) if kind == "dmy_text" else (g[1], g[0])
        day_n, month, year = _day_number(day_token), _month(month_token), _year(g[2])
        if day_n is None:
            return None, 0.0, False
        d = _upcoming(base, month, day_n, year)
        if d is None and (month, day_n, year) == (2, 29, None):
            # "Feb 29" said in a year without one: the next February 29, which the customer should confirm.
            return _next_leap_day(base), 0.6, True
        return d, 0.95, False
    if kind == "nth_weekday":
        month = _month(g[2])
        n = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}.get(g[0], -1)
        year = base.year if month >= base.month else base.year + 1
        try:
            found_day = _nth_weekday(year, month, _weekday(g[1]), n)
            if found_day < base:
                found_day = _nth_weekday(year + 1, month, _weekday(g[1]), n)
        except (ValueError, OverflowError):
            return None, 0.0, False  # past December 9999
        return found_day, 0.9, False
    if kind == "weekday_short":
        target = _weekday(g[0])
        return _later(base, (target - base.weekday()) % 7), 0.75, True
    if kind == "last_day":
        month = _month(g[0])
        year = base.year if month >= base.month else base.year + 1
        return _safe(year, month, calendar.monthrange(year, month)[1]), 0.9, False
    if kind in ("weekday_ord", "ord_month", "the_ord", "bare_ord"):
        day_n = _day_number(g[1] if kind == "weekday_ord" else g[0])
        if day_n is None or not 1 <= day_n <= 31:
            return None, 0.0, False
        which = (g[2] if kind == "weekday_ord" else g[1] if kind == "ord_month" else None) or ""
        year, month = base.year, base.month
        if which.lower() == "next" or (which.lower() != "this" and day_n < base.day):
            year, month = _next_month(year, month)
        conf = 0.9 if kind in ("weekday_ord", "ord_month") else 0.8
        found = _safe(year, month, day_n)
        if found is None and not which:
            # "the 31st" said in June means the next month that has one.
            year, month = _next_month(year, month)
            found = _safe(year, month, day_n) if year <= MAXYEAR else None
        return found, conf, kind in ("the_ord", "bare_ord")
    if kind == "relative_span":
        n1, unit1 = (g[0], g[1]) if g[1] else (g[4], g[5])
        n = _count(n1)
        unit = (unit1 or "days").lower()
        days = n * (7 if unit.startswith("week") else 30 if unit.startswith("month") else 1) + _count(g[2])
        return _later(base, days), 0.9, unit.startswith("month")
    if kind == "day_after":
        return _later(base, 2), 0.95, False
    if kind == "tomorrow":
        return _later(base, 1), 0.95, False
    if kind == "today":
        return base, 0.9, False
    if kind == "weekend":
        days = (5 - base.weekday()) % 7
        if g[0].lower() == "next" and base.weekday() < 5:
            days += 7
        return _later(base, days), 0.8, True
    if kind == "next_week_day":
        return _later(base, 7 - base.weekday() + _weekday(g[0])), 0.9, False
    if kind == "rel_weekday":
        target = _weekday(g[1])
        days = (target - base.weekday()) % 7
        qualifier = g[0].lower()
        if qualifier == "next":
            # "next Saturday" said early in a week is read as the coming one; people differ, so confirm.
            days = days or 7
            return _later(base, days), 0.85, days < 7 and target > base.weekday()
        return _later(base, days), 0.9, False
    if kind == "week":
        monday = base if g[0].lower() == "this" else _later(base, 7 - base.weekday())
        return monday, 0.75, True
    if kind == "month":
        if g[0].lower() == "this":
            return base, 0.7, True
        year, month = _next_month(base.year, base.month)
        return _safe(year, month, 1), 0.7, True
    if kind == "weekday":
        target = _weekday(g[0])
        return _later(base, (target - base.weekday()) % 7), 0.85, False
    return None, 0.0, False


_MONTH_KEYS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# Substrings at least one of which a pattern's match must contain: a cheap test that skips most patterns
# on most messages. None means "needs a digit".
_GATE_WORDS: dict[str, tuple[str, ...] | None] = {
    "holiday": (
        "day",
        "christmas",
        "xmas",
        "year",
        "thanksgiving",
        "july",
        "valentine",
        "halloween",
        "easter",
        "cinco",
        "patrick",
    ),
    "iso": None,
    "mdy": None,
    "dmy_text": _MONTH_KEYS,
    "mdy_text": _MONTH_KEYS,
    "last_day": ("last",),
    "nth_weekday": ("day",),
    "weekday_short": ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
    "weekday_ord": ("day",),
    "ord_month": ("month",),
    "relative_span": ("day", "week", "month"),
    "day_after": ("after",),
    "tomorrow": ("tom", "tmr", "2mor"),
    "today": ("today", "tonight", "tonite", "this "),
    "weekend": ("weekend",),
    "next_week_day": ("next week",),
    "rel_weekday": ("next", "this", "coming"),
    "week": ("week",),
    "month": ("month",),
    "weekday": ("day",),
    "the_ord": ("the ",),
    "bare_ord": None,
}
_DIGIT_RE = re.compile(r"\d")
# Gates run on the lower-cased text without re.I: case-insensitive alternations are several times slower.
_ALL_GATE_WORDS = tuple(w for v in _GATE_WORDS.values() if v is not None for w in v)


# Where a short weekday ("sat") can only be one: after "on" or "see u", in brackets, or opening the message.
_SHORT_WEEKDAY_CUE = re.compile(r"(?:\bon\s+|\bsee\s+(?:u|you|ya)\s+|\()$")
_WEEKDAY_BEFORE = re.compile(rf"\b{_WEEKDAY}\.?,?\s+$")
_DATE_PREPOSITION_BEFORE = re.compile(r"\b(?:on|for|by|until|till|of|from|to|date|day)\s+$")
_ON_FOR = re.compile(r"^(?:on|for)\s+", re.I)


def find_dates(
    text: str,
    base: date,
    *,
    blocked: list[tuple[int, int]] | None = None,
    expect_date: bool = False,
    lower: str | None = None,
) -> list[Entity]:
    """All date mentions, left to right, longest pattern first where they overlap.

    Patterns run on `lower` (the text lower-cased, offsets kept); surfaces are cut from the text as written."""
    taken = Claimed(blocked or ())
    found: list[Entity] = []
    if lower is None:
        lower = lower_aligned(text)
    has_digit = _DIGIT_RE.search(lower) is not None
    if not has_digit and not has_any(lower, _ALL_GATE_WORDS):
        return found
    for kind, pattern in _PATTERNS:
        if kind == "bare_ord" and not expect_date:
            continue
        needles = _GATE_WORDS[kind]
        if not (has_digit if needles is None else has_any(lower, needles)):
            continue
        for m in pattern.finditer(lower):
            start, end = m.span()
            if taken.overlaps(start, end):
                continue
            surface = text[start:end]
            if kind == "the_ord" or kind == "weekday_ord":
                surface = _ON_FOR.sub("", surface)
                start = end - len(surface)
            elif kind == "weekday_short":
                if start and not _SHORT_WEEKDAY_CUE.search(lower, max(0, start - 12), start):
                    continue
            elif kind == "mdy":
                # A weekday before it belongs to it: "Saturday 10/12" is one date, October 12.
                weekday = _WEEKDAY_BEFORE.search(lower, max(0, start - 12), start)
                if weekday and not taken.overlaps(weekday.start(), start):
                    start = weekday.start()
                    surface = text[start:end]
            resolved, conf, confirm = _resolve(kind, m, base)
            if resolved is None:
                continue
            taken.add(start, end)
            found.append(Entity(surface, resolved.isoformat(), conf, confirm, start, end))
    found.sort(key=lambda e: e.start)
    return found
