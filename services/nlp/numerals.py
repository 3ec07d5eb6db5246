"""Number words to integers ("twenty five", "a dozen"), shared by the slot rules."""

from __future__ import annotations

import re

UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
}

_UNIT_ALT = "|".join(sorted(UNITS, key=len, reverse=True))
_TENS_ALT = "|".join(sorted(TENS, key=len, reverse=True))
# One alternation that matches digits or a spelled-out count up to 999, longest forms first. The leading
# lookahead (every first letter the forms can start with) lets `re` give up at most positions at once.
NUMBER_PATTERN = (
    r"(?=[\dzotfsenahdc])"
    rf"(?:\d{{1,4}}(?:,\d{{3}})?"
    rf"|(?:(?:{_UNIT_ALT})\s+hundred(?:\s+(?:and\s+)?(?:(?:{_TENS_ALT})(?:[\s-]+(?:{_UNIT_ALT}))?|{_UNIT_ALT}))?)"
    rf"|(?:(?:{_TENS_ALT})(?:[\s-]+(?:{_UNIT_ALT}))?)"
    rf"|(?:{_UNIT_ALT})"
    rf"|(?:a|one)\s+dozen\s+and\s+a\s+half|(?:(?:a|one|two|three|half\s+a)\s+dozen)|(?:a\s+)?couple(?:\s+of)?\s+dozen|dozen|a\s+hundred)"
)
NUMBER_RE = re.compile(rf"^{NUMBER_PATTERN}$", re.IGNORECASE)
_MAX_DIGITS = 100


def parse_number(text: str) -> int | None:
    """Return the integer a numeral or number phrase denotes, or None if it is not one."""
    t = text.strip().lower().replace(",", "")
    # isdecimal, not isdigit: "²" is a digit that int() refuses. And int() refuses over 4,300 digits, while
    # no count, day or hour runs past a handful.
    if t.isdecimal():
        return int(t) if len(t) <= _MAX_DIGITS else None
    if re.fullmatch(r"(?:a|one)\s+dozen\s+and\s+a\s+half", t):
        return 18
    if t.endswith("dozen"):
        head = re.sub(r"\s+", " ", t[: -len("dozen")].strip())
        mult = {
            "": 1, "a": 1, "one": 1, "two": 2, "three": 3, "half a": 0.5,
            "couple": 2, "a couple": 2, "couple of": 2, "a couple of": 2,
        }.get(head)
        return None if mult is None else int(12 * mult)
    words = re.split(r"[\s-]+", t)
    if words[0] == "a" and len(words) > 1 and words[1] == "hundred":
        words = words[1:]
    total = 0
    current = 0
    seen = False
    for w in words:
        if w == "and":
            continue
        if w in UNITS:
            current += UNITS[w]
        elif w in TENS:
            current += TENS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        else:
            return None
        seen = True
    total += current
    return total if seen else None
