"""Correction detection: the customer revises something said before ("actually make it 25").

The one detector: ingest counts corrections per conversation with it, the NLP fast path flags each message
with it, and the fast path's features use its pattern.
"""

from __future__ import annotations

import re

from services.common.lowercase import lower_aligned

CORRECTION_RE = re.compile(
    r"\b(?:actually|scratch\s+that|i\s+meant|i\s+mean\b|meant\s+to\s+say|sorry,?\s+(?:i\s+meant|it'?s|make\s+it|not)"
    r"|make\s+(?:it|that)\b|change\s+(?:it|that|the|my|our)\b|instead\s+of|instead\b|correction|typo"
    r"|not\s+\w+(?:\s+\w+)?,?\s+but\b|update\s+(?:it|the|our|my)\b|switch\s+(?:it|to|the)\b|move\s+(?:it|the|our)\b"
    r"|from\s+\S+\s+to\s+\S+|wait,?\s+(?:no|make|it'?s|actually)|no,\s+(?:it'?s|make|we|the|i)|rather\s+than"
    r"|bump\s+(?:it|that|us)|push\s+(?:it|that)\s+(?:back|to))",
)  # matched on lower-cased text: re.IGNORECASE alternations cost several times more


def is_correction(text: str, lower: str | None = None) -> bool:
    return CORRECTION_RE.search(lower_aligned(text) if lower is None else lower) is not None
