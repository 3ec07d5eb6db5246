"""Which kinds of PII a message holds, and where: flags and spans only, the raw values are never kept.

The patterns are the scrubber's (shared.pii): whatever is flagged here is masked in every log.
"""

from __future__ import annotations

import re

from shared.pii import EMAIL_PATTERN, PHONE_PATTERN

# Every phone form has at least ten digits, at most two characters apart: a text without such a run is
# skipped by this cheap scan instead of the full pattern.
_PHONE_GATE = re.compile(r"(?:\d\D{0,2}){10}")


def phone_spans(text: str) -> list[tuple[int, int]]:
    if not _PHONE_GATE.search(text):
        return []
    return [m.span() for m in PHONE_PATTERN.finditer(text)]


def email_spans(text: str) -> list[tuple[int, int]]:
    if "@" not in text:
        return []
    return [m.span() for m in EMAIL_PATTERN.finditer(text)]


def detect(text: str) -> dict[str, bool]:
    """Which kinds of PII the text holds, as flags only."""
    return {"phone": bool(phone_spans(text)), "email": bool(email_spans(text))}
