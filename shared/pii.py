"""Phone numbers and e-mail addresses are scrubbed before anything reaches a log, Sentry or a JSONL file.

The one scrubber for every sink; the NLP fast path has its own, stricter detector for flagging PII.
"""

from __future__ import annotations

import re

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# 9 to 15 digits (E.164's range) with optional +, spaces, dots, dashes or brackets between them;
# not touching other digits or letters, so ids and amounts are left alone. Plain dates have only 8.
PHONE_PATTERN = re.compile(r"(?<![\w+])\+?\(?\d(?:[ .\-()]{0,2}\d){8,14}(?!\w)")


def scrub_pii(text: str) -> str:
    """`text` with e-mail addresses and phone numbers replaced by placeholders."""
    return PHONE_PATTERN.sub("[phone]", EMAIL_PATTERN.sub("[email]", text))
