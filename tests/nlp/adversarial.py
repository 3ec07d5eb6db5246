"""Hostile inputs for the NLP rules: Hypothesis strategies, 16,000-character messages and the exact-span check."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from hypothesis import strategies as st

from schemas.events import MAX_TEXT_CHARS
from services.nlp.entities import Entity

# Words and fragments that wake the rules up, so generated text reaches the regexes instead of the gates.
RULE_TOKENS = [
    # party size and numerals
    "party of", "people", "guests", "adults", "kids", "of us", "me and my", "friends", "and", "&", "plus",
    "from", "to", "for", "4", "a dozen", "half a dozen", "twenty five", "one hundred and twelve", "ninety-nine",
    "we're", "there will be", "all", "total", "solo", "just me", "my wife and i", "999", "0", "30", "1,950",
    # dates and holidays
    "Easter", "easter sunday", "memorial day weekend", "Labour Day", "xmas eve", "New Year's", "thanksgiving",
    "4th of july", "Mother's Day", "st. patrick's day", "cinco de mayo", "next", "this", "coming", "Saturday",
    "sat", "weds", "the third", "twenty-first", "31st", "of next month", "last day of", "Feb", "February 30",
    "february 29", "Sept.", "12/31/9999", "01/01/0001", "00/00/00", "13/45", "2026-02-30", "9999-12-31",
    "year 99999", "'99", "in 999 months", "nine hundred days from now", "a week", "tomorrow", "tmrw", "tonight",
    "day after tomorrow", "weekend",
    # times
    "at", "around", "7pm", "7 p.m.", "23:59", "24:00", "19.45", "half past", "quarter to", "o'clock", "ish",
    "noon", "midnight", "in the evening", "seven thirty", "1130am",
    # names
    "my name is", "Dana", "Lee", "Dana  Lee", "I'm", "i am", "this is", "it's", "call me", "under", "here",
    "- Maria", "Thanks,", "Cheers", "Dan K.", "O'Neil", "Jean-Luc",
    # prices and PII
    "$", "$55", "$1,500.50", "2k", "bucks", "usd", "dollars", "per person", "budget", "under", "1e308",
    "555-123-4567", "(555) 123-4567", "+1 555 123 4567", "5551234567", "dana@example.com", "@", "a@b.co",
    # corrections, tone, upsells
    "actually", "make it", "scratch that", "instead of", "wait, no", "not 20 but", "lobster tail", "gyoza",
    "3rd protein", "unacceptable", "!!!", "???", "ugh",
]  # fmt: skip
# Characters that break naive assumptions: offsets after case folding, Unicode digits, invisible marks.
ODD_CHARS = [
    "\x00", "\u200f", "\u200e", "\u202e", "\ufeff", "\u00a0", "\u2028", "\u3000", "\t", "\n", "\r\n",
    "\ud800", "\udfff",  # lone surrogates: json.loads('"\\ud800"') returns one
    "İ", "ẞ", "ß", "ﬃ", "Σ", "٣٠", "１２", "²", "Ⅻ", "🎉", "👨‍👩‍👧‍👦", "🇺🇸", "\u00e9", "e\u0301",
    "שלום", "مرحبا", "\u0301", "'", "’", ".", ",", "-", "/", ":", "(", ")",
]  # fmt: skip
# Mostly one space, but runs of spaces, tabs and newlines too: offsets must survive all of them.
SEPARATORS = [" ", " ", " ", " ", "  ", "   ", "\t", "\n", " \n ", ", ", ". ", "-", ""]

rule_text = st.lists(
    st.tuples(
        st.one_of(st.sampled_from(RULE_TOKENS), st.sampled_from(ODD_CHARS)),
        st.sampled_from(SEPARATORS),
    ),
    max_size=30,
).map(lambda pairs: "".join(token + separator for token, separator in pairs))
# A first-person name cue and a one- or two-word name, with any whitespace between the words.
NAME_CUES = [
    "my name is",
    "name's",
    "I'm",
    "i am",
    "this is",
    "it's",
    "call me",
    "under",
    "Thanks,",
    "Cheers",
    "-",
]
NAME_WORDS = ["Dana", "Lee", "dana", "O'Neil", "Jean-Luc", "Ko.", "K.", "from", "here", "please", "Acme"]
name_text = st.tuples(
    st.sampled_from(["", "hi ", "Party of 8. "]),
    st.sampled_from(NAME_CUES),
    st.sampled_from(SEPARATORS[:9]),
    st.sampled_from(NAME_WORDS),
    st.sampled_from(SEPARATORS[:9]),
    st.sampled_from(NAME_WORDS),
    st.sampled_from(["", ".", "!", " from Acme", " here", ", thanks", "\n"]),
).map("".join)
# Arbitrary Unicode (lone surrogates included), the rule vocabulary, and a mix of both.
any_text = st.one_of(
    st.text(max_size=300),
    rule_text,
    name_text,
    st.tuples(rule_text, st.text(max_size=40), rule_text).map("".join),
)
# (prefix, repeated part, times, suffix): built on use, so that no 40 kB example sits in a strategy's repr.
_HUGE_NUMBERS = [
    ("", "9", 5000, ""),
    ("$", "9", 5000, ""),
    ("", "9", 5000, " people"),
    ("party of ", "9", 400, ""),
    ("for ", "9", 4301, " guests at 7pm"),
    ("1e308", "", 0, ""),
    ("$1e308", "", 0, ""),
    ("1", "0", 400, " dollars"),
    ("", "9", 4301, " bucks"),
    ("$", "1,000", 800, ""),
    ("$1", "0", 400, "k"),
    ("", "9", 30, "/12/2026"),
    ("nine hundred ninety nine thousand people", "", 0, ""),
    ("one hundred and ninety-nine guests", "", 0, ""),
    ("", "twenty five and ", 200, "twenty five people"),
]
huge_numbers = st.sampled_from(_HUGE_NUMBERS).map(lambda r: r[0] + r[1] * r[2] + r[3])
edge_dates = st.sampled_from(
    [
        "12/31/9999",
        "01/01/0001",
        "February 30",
        "february 29",
        "feb 29 '99",
        "Feb 31, 2099",
        "year 99999",
        "9999-12-31",
        "2099-02-29",
        "0/0",
        "99/99/9999",
        "the 31st of next month",
        "Saturday the 31st",
        "in 999 months",
        "nine hundred ninety nine weeks from now",
        "the last day of december",
        "new years eve",
        "Easter",
    ]
)
messages = st.one_of(any_text, huge_numbers, edge_dates, st.tuples(any_text, edge_dates).map(" ".join))
# The day a message was written: the whole range a `date` holds, since `occurred_at` is the sender's word.
base_dates = st.one_of(
    st.dates(),
    st.sampled_from([date.min, date.max, date(9999, 12, 1), date(1, 1, 31), date(2028, 2, 29)]),
)
requested_slots = st.lists(st.sampled_from(["people", "date", "time", "first_name", "last_name"]), max_size=3)


def assert_exact_span(text: str, entity: Entity) -> None:
    """An entity that reports a span reports exactly the characters it was read from."""
    if entity.start == -1 and entity.end == -1:
        return  # no single span (e.g. the list of every price)
    assert 0 <= entity.start <= entity.end <= len(text), entity
    assert text[entity.start : entity.end] == entity.surface, (text[entity.start : entity.end], entity)


def assert_exact_spans(text: str, entities: Mapping[str, Entity] | list[Entity]) -> None:
    for entity in entities.values() if isinstance(entities, Mapping) else entities:
        assert_exact_span(text, entity)


def _fill(pattern: str, head: str = "", tail: str = "") -> str:
    """head, the pattern repeated, then tail: exactly MAX_TEXT_CHARS characters, the most a message may hold."""
    body = MAX_TEXT_CHARS - len(head) - len(tail)
    return head + (pattern * (body // len(pattern) + 1))[:body] + tail


# Messages of the largest allowed size, each aimed at a backtracking hazard in one or more rules.
ADVERSARIAL_MESSAGES: dict[str, str] = {
    "digits": "9" * MAX_TEXT_CHARS,
    "spaces": " " * MAX_TEXT_CHARS,
    "digits_and_spaces": _fill("1 "),
    "digit_runs_and_space_runs": _fill("12345    "),
    "phone_like": _fill("555-123-456 "),
    "slashes": _fill("1/2/"),
    "dots_and_digits": _fill("1.2."),
    "commas_and_digits": _fill("1,000,"),
    "colons": _fill("12:3"),
    "many_ands": _fill("and "),
    "ands_between_counts": _fill("2 and "),
    "number_words": _fill("twenty five hundred and "),
    "people_words": _fill("30 people and 10 kids and "),
    "for_for": _fill("for "),
    "the_the": _fill("the "),
    "ordinals": _fill("the third of the "),
    "month_day": _fill("feb 30 "),
    # Each one different, so no cache helps a rule that spends milliseconds on a date it cannot resolve.
    "impossible_dates": _fill(
        "".join(
            f"{m} 3{d}, 20{y:02d} " for y in range(100) for m in ("feb", "apr", "jun", "sep") for d in "01"
        )
    ),
    "weekdays": _fill("next saturday the "),
    "holidays": _fill("memorial day weekend labour "),
    "times": _fill("half past seven pm in the evening at "),
    "meridiem": _fill("7 p.m. a.m. "),
    "names": _fill("my name is Dana Lee "),
    "capitals": _fill("Dana Lee "),
    "sign_off_dashes": _fill("- ", tail="Maria"),
    "sign_off_punctuation": _fill("! ", head="thanks ", tail=" Dana"),
    "apostrophes": _fill("O'N-"),
    "dollars": _fill("$1 "),
    "amounts": _fill("1,0"),
    "emails": _fill("a.b@c."),
    "at_signs": _fill("@"),
    "corrections": _fill("not no "),
    "upsell_words": _fill("lobster gyoza "),
    "emoji": _fill("🎉"),
    "rtl_marks": _fill("\u200f1"),
    "nul": _fill("\x00 7"),
    "mixed": _fill("Party of 12 on 12/31 at 7pm, call 555-123-4567, $55 pp - Dana. "),
}
