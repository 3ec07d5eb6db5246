"""Phone and email detection, and `scrub(text)` that masks them; the raw values are never stored or logged."""

from __future__ import annotations

import re

PHONE_RE = re.compile(
    r"(?<![\w$])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?!\d)"
    r"|(?<![\w$.,/])(?:\+?1)?\d{10}(?![\d,])"
)
# The local part starts only where a run of its characters starts: `\b` alone also let it start after every
# "." or "-" of a long "a.a.a.a..." run, and each start rescanned the run for an "@" (quadratic).
EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")


_SEVEN_DIGITS = re.compile(r"(?:\d\D{0,3}){7}")


def phone_spans(text: str) -> list[tuple[int, int]]:
    if not _SEVEN_DIGITS.search(text):  # every phone form has at least ten digits: skip the full pattern
        return []
    return [m.span() for m in PHONE_RE.finditer(text)]


def email_spans(text: str) -> list[tuple[int, int]]:
    if "@" not in text:
        return []
    return [m.span() for m in EMAIL_RE.finditer(text)]


def detect(text: str) -> dict[str, bool]:
    """Which kinds of PII the text holds, as flags only."""
    return {"phone": PHONE_RE.search(text) is not None, "email": EMAIL_RE.search(text) is not None}


def scrub(text: str) -> str:
    """The text with emails and phone numbers replaced by [EMAIL] and [PHONE]."""
    return PHONE_RE.sub("[PHONE]", EMAIL_RE.sub("[EMAIL]", text))
