"""Phone numbers and e-mail addresses are scrubbed before anything reaches a log or Sentry."""

from __future__ import annotations

import re

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Seven or more digits with the usual separators: North American and international forms.
PHONE_PATTERN = re.compile(
    r"(?<![\w])(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{3}[\s.-]?\d{3,4}(?:[\s.-]?\d{2,4})?(?![\w])"
)


def scrub_pii(text: str) -> str:
    text = EMAIL_PATTERN.sub("[email]", text)
    return PHONE_PATTERN.sub("[phone]", text)
