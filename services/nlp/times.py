"""Time slot rule: clock times ("2pm", "14:00", "half past 6") to HH:MM, and parts of day as themselves."""

from __future__ import annotations

import re

from services.common.lowercase import lower_aligned
from services.nlp.entities import Claimed, Entity, has_any
from services.nlp.numerals import UNITS

_HOUR_WORDS = {k: v for k, v in UNITS.items() if 1 <= v <= 12}
_HOUR_WORD = "|".join(sorted(_HOUR_WORDS, key=len, reverse=True))
_MIN_WORDS = r"(?:thirty|fifteen|forty[\s-]five|fourty[\s-]five|forty|fifty|twenty|ten|o'?\s?five|oh\s+five)"
_MERIDIEM = r"(?:a\.?\s?m\b\.?|p\.?\s?m\b\.?|am\b|pm\b)"
_PART = r"(?:(?:in|of)\s+the\s+(?:morning|afternoon|evening)|at\s+night|tonight|tonite|this\s+evening)"
_HOUR = rf"(?:[01]?\d|2[0-3]|{_HOUR_WORD})"
_CLOCK12 = rf"(?:1[0-2]|0?[1-9]|{_HOUR_WORD})"
PARTS_OF_DAY = ("morning", "afternoon", "evening", "night", "lunch", "dinner", "brunch", "noon", "midnight")

# After "10ish" or "20ish": the people it counts ("10ish parents", "20ish ppl") make it a head count.
_NOT_A_COUNT_AFTER = (
    r"(?![\s-]*(?:people|ppl|persons|guests|pax|adults|kids|children|parents|friends|folks|of\s+us|guys|ladies"
    r"|dudes|heads|family|coworkers|teens))"
)
# "hibachi night", "a pleasant afternoon", "made my daughter's night": a part of day that names an occasion
# or a wish, not when the event starts.
_NOT_A_TIME_BEFORE = (
    r"(?<!hibachi\s)(?<!pleasant\s)(?<!lovely\s)(?<!nice\s)(?<!great\s)(?<!wonderful\s)(?<!'s\s)"
    r"(?<!’s\s)(?<!date\s)(?<!themed\s)(?<!fun\s)(?<!game\s)(?<!movie\s)(?<!girls\s)(?<!guys\s)(?<!family\s)(?<!whole\s)"
    r"(?<!all\s)(?<!per\s)"
)

# What may not follow a bare hour: a count's noun, a duration, a price, an ordinal, an address, a choice ("at three
# dates"), a total ("we're at 20 total").
_NOT_AN_HOUR_AFTER = (
    r"(?!\s*(?:[:.]\d|people|persons|guests|pax|ppl|adults|kids|children|of\b|diners|folks|years?|yrs|"
    r"hours?|hrs?|minutes?|mins?|days?|weeks?|months?|proteins?|dollars|bucks|\$|%|st\b|nd\b|rd\b|th\b|/|-\d|"
    r"confirmed|rsvps?|yes\b|so\s+far|tops\b|total\b|in\s+total|dates?\b|options?\b|times\b|choices\b|slots\b"
    r"|spots\b|venues\b|places\b|locations\b|"
    r"[a-z]+\s+(?:street|st|ave|avenue|road|rd|blvd|lane|ln|drive|dr|way|court|ct)\b))"
)

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # "half past 11 in the morning", "quarter to 8", "25 to 7 p.m."
    (
        "past_to",
        re.compile(
            rf"(?<!from\s)\b(half|quarter|5|10|15|20|25|twenty|ten|five|twenty[\s-]five)\s+(?:minutes\s+)?(past|to|after|til|till|of)\s+({_CLOCK12})\b(?![:.]\d)(?!\s*(?:people|persons|guests|pax|ppl|adults|kids|of\s+us))"
            rf"(?:\s*{_MERIDIEM})?(?:\s+{_PART})?",
        ),
    ),
    # "evening at seven", "at night 8", "in the evening 6:30"
    (
        "part_hour",
        re.compile(
            rf"\b(?:(?:in\s+the\s+)?(morning|afternoon|evening)|at\s+(night))\s+(?:at\s+|around\s+|about\s+)?"
            rf"({_HOUR})(?:[:.]([0-5]\d))?\b(?!\s*(?:people|guests|persons|of\s+us|adults|kids))",
        ),
    ),
    # "6:30 p.m.", "14:00", "08.45pm", "7:15 tonight"
    (
        "clock",
        re.compile(
            rf"(?<![\d/:.$])((?:[01]?\d|2[0-3]))(?:\s?:\s?|\.)([0-5]\d)(?![\d/])\s*(?:({_MERIDIEM})|({_PART}))?",
        ),
    ),
    # A range of start times ("3 or 4pm", "6-9pm", "between 5 and 6"): the first, with the second's a.m./p.m.
    (
        "hour_range",
        re.compile(
            rf"(?<![\d$/:.,])\b(?:between\s+({_CLOCK12})\s+and\s+({_CLOCK12})\b(?:\s*({_MERIDIEM}))?"
            rf"|({_CLOCK12})\s*(?:or|-|–)\s*({_CLOCK12})\s*({_MERIDIEM}))"
            rf"(?!\s*(?:people|persons|guests|pax|ppl|adults|kids|of\s+us|hours?|hrs?|minutes?|mins?))",
        ),
    ),
    # "1900 hrs", "0830 hours": military time, only with its unit (a bare "1900" is a year or a price).
    ("military", re.compile(r"(?<![\d$/:.,])\b([01]\d|2[0-3])([0-5]\d)\s?(?:hrs|hours|h)\b")),
    # ... or after "at": "start at 1900", where a year would take "in".
    (
        "military_at",
        re.compile(
            r"\bat\s([01]\d|2[0-3])([0-5]\d)\b(?![\d,.]|\s*(?:people|guests|persons|dollars|bucks|%|prices|rates|levels))"
        ),
    ),
    # "2pm", "6 p.m.", "7 o'clock", "3ish", "six pm", "seven in the evening"; not "10ish parents", a count.
    (
        "hour_mer",
        re.compile(
            rf"(?<![\d$/:.,])\b({_HOUR})(?:[\s-]+({_MIN_WORDS}))?\s*(?:({_MERIDIEM})|(o'?\s?clock|oclock)|-?(ish)\b{_NOT_A_COUNT_AFTER})"
            rf"(?:\s+{_PART})?",
        ),
    ),
    # British "half 7" (7:30), not "half 7 people".
    (
        "half_hour",
        re.compile(
            rf"\bhalf\s+({_CLOCK12})\b(?!\s*(?:[:.]\d|people|persons|guests|pax|ppl|adults|kids|of\b|hours?|hrs?|"
            rf"minutes?|mins?|dozen|days?|weeks?|%|portions?|trays?|orders?))"
        ),
    ),
    # A start moved: "push the start from 5 to 6", "move the time from 6pm to 7:30"; the new hour counts.
    (
        "start_moved",
        re.compile(
            rf"\b(?:start|start\s+time|time|dinner|arrival|it|push|move|bump|shift)\s+(?:back\s+)?from\s+({_CLOCK12})(?:[:.][0-5]\d)?\s*(?:{_MERIDIEM})?"
            rf"\s+to\s+({_CLOCK12})(?:[:.]([0-5]\d))?\s*({_MERIDIEM})?(?!\s*(?:people|persons|guests|pax|ppl|adults|kids))"
        ),
    ),
    # "is 7 too late for kids", "6 is too early": an hour judged as a start time.
    (
        "hour_judged",
        re.compile(rf"(?<![\d$/:.,])\b({_CLOCK12})\s+(?:is\s+)?too\s+(?:late|early)\b"),
    ),
    ("compact", re.compile(rf"(?<![\d$/:.,])\b(1[0-2]|[1-9])([0-5]\d)\s*({_MERIDIEM})")),
    ("hour_part", re.compile(rf"(?<![\d$/:.,])\b({_HOUR})(?:\s+({_MIN_WORDS}))?\s+({_PART})")),
    (
        "word_time",
        re.compile(
            rf"\b({_HOUR_WORD})[\s-]+({_MIN_WORDS})\b(?!\s*(?:people|guests|persons|of\s+us|minutes|days))"
        ),
    ),
    ("noon", re.compile(r"\b(noon|midday|midnight|lunch\s*time|lunchtime|dinner\s*time|dinnertime)(?:-?ish)?\b")),
    # "Good afternoon" is a greeting, and "good night"/"last night" are not booking times.
    (
        "part",
        re.compile(
            r"(?<!good\s)(?<!last\s)(?<!good\s\s)(?<!on\sthe\s)(?<!for\sthe\s)(?<!about\sthe\s)" + _NOT_A_TIME_BEFORE + r"\b(?:in\s+the\s+|late\s+|early\s+)?"
            r"(morning|afternoon|evening|night|brunch|sunset|sundown)\b"
            r"(?!\s*(?:everyone|all\b|team|folks|guys|friends|out|off|shift|before|away|owl|life|light|cap|market|class))",
        ),
    ),
    # Context-dependent bare hours: "around 6", "at 7", "by 5". Dinner events, so 1-10 read as p.m.
    (
        "cue_hour",
        re.compile(
            rf"(?:\b(?:at(?<!we're\sat)(?<!we\sare\sat)(?<!were\sat)(?<!we’re\sat)|around|about|by|arrive\s+at|start\s+at|start(?:\s+is)?|(?:dinner|lunch)\s+is|after|before|until|till|no\s+later\s+than)"
            rf"|(?<=['’])round)\s+"
            rf"(?:about\s+|around\s+|like\s+)?({_HOUR})\b{_NOT_AN_HOUR_AFTER}",
        ),
    ),
    # "move dinner to 6", "push it back to 8": a new start.
    (
        "moved_to",
        re.compile(
            rf"\b(?:move|push|bump|shift)\s+(?:(?:it|us|dinner|lunch|the\s+(?:time|start|dinner))\s+)?(?:back\s+|up\s+)?to\s+"
            rf"(?:about\s+|around\s+|like\s+)?({_HOUR})\b{_NOT_AN_HOUR_AFTER}"
        ),
    ),
    # "lunch @ 12"
    ("at_sign", re.compile(rf"(?<=\s)@\s*(?:about\s+|around\s+|like\s+)?({_HOUR})\b{_NOT_AN_HOUR_AFTER}")),
]
# A whole reply that is only a time ("7", "at 19:30 please"): group 1 is the surface, 2 the hour, 3 the minutes.
# Each optional word carries its own trailing whitespace: side-by-side `\s*` runs let `re` try every split of
# a long run of spaces, cubic in its length (minutes on one 16,000-character message).
_BARE = re.compile(
    rf"^\s*(?:at\s+|around\s+|about\s+)?"
    rf"(({_HOUR}|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty)"
    rf"(?:[:.]([0-5]\d))?(?:\s*(?:hrs?|hours|h))?)"
    rf"\s*(?:(?:please|pls)\s*)?(?:[.!?]+\s*)?$",
)


def _hour(token: str) -> int:
    t = token.lower()
    return UNITS.get(t, 20 if t == "twenty" else 0) if not t.isdigit() else int(t)


def _minutes_word(token: str | None) -> int:
    if not token:
        return 0
    t = re.sub(r"[\s-]+", " ", token.lower())
    if "five" in t and ("o" in t.split()[0] or t.startswith("o")) and "forty" not in t and "fourty" not in t:
        return 5
    return {
        "thirty": 30,
        "fifteen": 15,
        "forty five": 45,
        "fourty five": 45,
        "forty": 40,
        "fifty": 50,
        "twenty": 20,
        "ten": 10,
    }.get(t, 0)


def _apply(hour: int, minute: int, meridiem: str | None, part: str | None) -> tuple[int, int, bool]:
    """Return (hour24, minute, guessed) where guessed says the a.m./p.m. reading is an assumption."""
    mer = (meridiem or "").lower().replace(".", "").replace(" ", "")
    part_l = (part or "").lower()
    if mer == "pm" and hour < 12:
        return hour + 12, minute, False
    if mer == "am":
        return (0 if hour == 12 else hour), minute, False
    if any(p in part_l for p in ("afternoon", "evening", "night", "tonight", "tonite")) and hour < 12:
        return hour + 12, minute, False
    if "morning" in part_l:
        return hour, minute, False
    if hour >= 13 or hour == 0:
        return hour, minute, False
    if 1 <= hour <= 9:
        return hour + 12, minute, True
    return hour, minute, hour != 12


def _fmt(h: int, m: int) -> str:
    return f"{h % 24:02d}:{m:02d}"


_GATE = re.compile(
    r"\d|"
    + "|".join(tuple(_HOUR_WORDS) + PARTS_OF_DAY + ("midday", "sunset", "sundown", "tonight", "tonite"))
)


# Per pattern, text its match must contain (on the lower-cased message); absent means the pattern is skipped.
_PATTERN_GATES: dict[str, re.Pattern[str] | tuple[str, ...]] = {
    "past_to": ("past", "to", "after", "til", "quarter of"),
    "part_hour": ("morning", "afternoon", "evening", "night"),
    "clock": re.compile(r"\d\s?[:.]\s?\d"),
    "military": re.compile(r"\d{4}\s?h"),
    "military_at": re.compile(r"at\s\d{4}"),
    "hour_range": re.compile(r"between|\d\s*(?:or|-|–)\s*\d|\d\s*[ap]\.?\s?m"),
    "hour_mer": re.compile(r"[ap]\.?\s?m|clock|ish"),
    "compact": re.compile(r"\d\s*[ap]\.?\s?m"),
    "hour_part": ("morning", "afternoon", "evening", "night", "tonite"),
    "word_time": ("thirty", "fifteen", "forty", "fourty", "fifty", "twenty", "ten", "five"),
    "noon": ("noon", "midday", "midnight", "lunch", "dinner"),
    "part": ("morning", "afternoon", "evening", "night", "brunch", "sun"),
    "cue_hour": ("at", "around", "about", "by", "after", "before", "round", "til", "later than", "start", "is"),
    "moved_to": ("move", "push", "bump", "shift"),
    "at_sign": ("@",),
    "half_hour": ("half",),
    "hour_judged": ("too late", "too early"),
    "start_moved": ("from",),
}
_MERIDIEM_RE = re.compile(_MERIDIEM, re.I)
_PART_RE = re.compile(_PART, re.I)


def find_times(
    text: str,
    *,
    blocked: list[tuple[int, int]] | None = None,
    expect_time: bool = False,
    lower: str | None = None,
) -> list[Entity]:
    """Every time mention, left to right. Patterns run on `lower` (the text lower-cased, offsets kept)."""
    taken = Claimed(blocked or ())
    found: list[Entity] = []
    if lower is None:
        lower = lower_aligned(text)
    if not _GATE.search(lower):
        return found
    if expect_time:
        m = _BARE.match(lower)
        if m and _hour(m.group(2)) <= 23:
            h, mi, guessed = _apply(_hour(m.group(2)), int(m.group(3) or 0), None, None)
            start, end = m.span(1)
            return [Entity(text[start:end], _fmt(h, mi), 0.85 if not guessed else 0.75, guessed, start, end)]
    for kind, pattern in _PATTERNS:
        gate = _PATTERN_GATES[kind]
        if not (has_any(lower, gate) if isinstance(gate, tuple) else gate.search(lower)):
            continue
        for m in pattern.finditer(lower):
            start, end = m.span()
            if taken.overlaps(start, end):
                continue
            g = m.groups()
            surface = text[start:end].strip()
            conf, confirm = 0.9, False
            if kind == "past_to":
                relation = g[1].lower()
                if relation == "of" and g[0] != "quarter":
                    continue  # "half of 6" is no clock time; "quarter of six" is 5:45
                # "the invite says 5 to 9", "we booked 5 to 8": in digits a span, unless "at" asks for one time.
                if g[0].isdigit() and g[2].isdigit() and relation in ("to", "til", "till") and not lower[:start].endswith("at "):
                    continue
                base_h = _hour(g[2])
                mer_m = _MERIDIEM_RE.search(surface[m.end(3) - start :])
                part_m = _PART_RE.search(surface)
                qty = {"half": 30, "quarter": 15, "twenty": 20, "ten": 10, "five": 5}.get(
                    g[0].lower().replace("-", " "), 25 if "five" in g[0].lower() else None
                )
                q = qty if qty is not None else int(g[0])
                if relation in ("to", "til", "till", "of"):
                    base_h, minute = (base_h - 1) % 12 or 12, 60 - q
                else:
                    minute = q
                h, mi, guessed = _apply(
                    base_h, minute, mer_m.group(0) if mer_m else None, part_m.group(0) if part_m else None
                )
                value, conf, confirm = _fmt(h, mi), (0.8 if guessed else 0.9), guessed
            elif kind == "clock":
                h, mi, guessed = _apply(int(g[0]), int(g[1]), g[2], g[3])
                value, conf, confirm = _fmt(h, mi), (0.8 if guessed else 0.95), guessed
            elif kind == "hour_mer":
                hr = _hour(g[0])
                if g[4] and not g[2] and hr > 12:
                    continue
                h, mi, guessed = _apply(hr, _minutes_word(g[1]), g[2], None)
                part_m = _PART_RE.search(surface)
                if part_m and not g[2]:
                    h, mi, guessed = _apply(hr, _minutes_word(g[1]), None, part_m.group(0))
                value, conf, confirm = _fmt(h, mi), (0.85 if guessed else 0.95), guessed
                if g[4]:
                    conf, confirm = 0.8, True
            elif kind == "military":
                value = _fmt(int(g[0]), int(g[1]))
            elif kind == "military_at":
                start = m.start(1)
                surface = text[start:end].strip()
                value = _fmt(int(g[0]), int(g[1]))
            elif kind == "hour_range":
                first = g[0] if g[0] is not None else g[3]
                meridiem = g[2] if g[0] is not None else g[5]
                h, mi, guessed = _apply(_hour(first), 0, meridiem, None)
                value, conf, confirm = _fmt(h, mi), 0.75, True
            elif kind == "compact":
                h, mi, _ = _apply(int(g[0]), int(g[1]), g[2], None)
                value = _fmt(h, mi)
            elif kind == "hour_part":
                h, mi, _ = _apply(_hour(g[0]), _minutes_word(g[1]), None, g[2])
                value = _fmt(h, mi)
            elif kind == "part_hour":
                h, mi, _ = _apply(_hour(g[2]), int(g[3] or 0), None, g[0] or g[1])
                value = _fmt(h, mi)
            elif kind == "word_time":
                h, mi, guessed = _apply(_hour(g[0]), _minutes_word(g[1]), None, None)
                value, conf, confirm = _fmt(h, mi), 0.75, guessed
            elif kind == "noon":
                word = g[0].lower()
                value = (
                    "12:00"
                    if word in ("noon", "midday")
                    else "00:00"
                    if word == "midnight"
                    else ("lunch" if word.startswith("lunch") else "dinner")
                )
                conf = 0.9 if ":" in value else 0.75
            elif kind == "part":
                value, conf = g[0].lower(), 0.75
                confirm = True
            elif kind == "hour_judged":
                h, mi, guessed = _apply(_hour(g[0]), 0, None, None)
                surface = text[m.start(1) : m.end(1)]
                end = start + len(surface)
                value, conf, confirm = _fmt(h, mi), 0.75, True
            elif kind == "half_hour":
                h, mi, guessed = _apply(_hour(g[0]), 30, None, None)
                value, conf, confirm = _fmt(h, mi), 0.75, True
            elif kind == "start_moved":
                h, mi, guessed = _apply(_hour(g[1]), int(g[2] or 0), g[3], None)
                start = m.start(2)
                surface = text[start:end].strip()
                value, conf, confirm = _fmt(h, mi), 0.8, guessed
            else:  # cue_hour
                hr = _hour(g[0])
                # "about 14", "'round two": an approximate or spelled-out hour past 12 is a count, not a time.
                if hr > 23 or (hr > 12 and not re.match(r"(?:at|by|until|till|after|before)\b", surface, re.I)):
                    continue
                h, mi, guessed = _apply(hr, 0, None, None)
                surface = re.sub(
                    r"^(?:at|by|after|before|until|till|arrive\s+at|start\s+at|start(?:\s+is)?|(?:dinner|lunch)\s+is|no\s+later\s+than"
                    r"|@|(?:move|push|bump|shift)\s+(?:(?:it|us|dinner|lunch|the\s+(?:time|start|dinner))\s+)?(?:back\s+|up\s+)?to)\s*(?:like\s+)?",
                    "",
                    surface,
                    flags=re.I,
                )
                start = end - len(surface)
                value, conf, confirm = _fmt(h, mi), 0.75, True
            taken.add(start, end)
            found.append(Entity(surface, value, conf, confirm, start, start + len(surface)))
    found.sort(key=lambda e: e.start)
    return found
