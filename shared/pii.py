"""Phone numbers and e-mail addresses are scrubbed before anything reaches a log, Sentry or a JSONL file.

The one scrubber for every sink, and the one definition of a phone number and an e-mail address: the NLP
fast path's PII detector flags PHONE_PATTERN and EMAIL_PATTERN, and whatever it flags is scrubbed here.
"""

from __future__ import annotations

import re

# The local part starts only where a run of its characters starts: a bare `\b` also let it start after every
# "." or "-" of a long "a.a.a.a..." run, and each start rescanned the run for an "@" (quadratic).
EMAIL_PATTERN = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
# What is written as a phone number: the North American forms, and international ones that start with "+".
# A "$" before the digits makes them a price; each form ends at its last digit group, so a count right
# after it ("... 4567 2 kids") stays a count.
PHONE_PATTERN = re.compile(
    r"(?<![\w$])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?!\d)"
    r"|(?<![\w$.,/])(?:\+?1)?\d{10}(?![\d,])"
    r"|(?<![\w+$])\+\d(?:[ .\-()]{0,2}\d){9,14}(?!\w)"
)
# What could be one: 9 to 15 digits (E.164's range) with optional +, spaces, dots, dashes or brackets between
# them, not touching other digits or letters, so ids and amounts are left alone (plain dates have only 8).
# Logs mask these too, since over-masking a log costs nothing; the NLP detector does not flag them, since
# its spans would swallow a date and time written together ("2026-11-29 18:00").
DIGIT_RUN_PATTERN = re.compile(r"(?<![\w+])\+?\(?\d(?:[ .\-()]{0,2}\d){8,14}(?!\w)")
_PHONE_OR_DIGIT_RUN = re.compile(f"{PHONE_PATTERN.pattern}|{DIGIT_RUN_PATTERN.pattern}")
_ASCII_DIGITS = "0123456789"
_FEWEST_PHONE_DIGITS = 9


def scrub_pii(text: str) -> str:
    """`text` with e-mail addresses and phone numbers (and long digit runs) replaced by placeholders."""
    # Most texts hold neither, and these scans are far cheaper than the patterns: an address needs an "@", and
    # every phone form and digit run has at least nine digits. `\d` also matches other scripts' digits, so a
    # text that is not ASCII always gets the full pattern.
    if "@" in text:
        text = EMAIL_PATTERN.sub("[email]", text)
    if not text.isascii() or sum(map(text.count, _ASCII_DIGITS)) >= _FEWEST_PHONE_DIGITS:
        text = _PHONE_OR_DIGIT_RUN.sub("[phone]", text)
    return text
