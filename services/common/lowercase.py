"""Lower-casing that keeps every character offset, shared by the rules of ingest and the NLP fast path."""

from __future__ import annotations


def lower_aligned(text: str) -> str:
    """The text lower-cased with every offset unchanged, so spans found on it index the original text.

    Rules match on this copy without re.IGNORECASE: case-insensitive alternations cost several times more in
    Python's `re`. A few characters ("İ") lower-case to two; those rare ones are left as they are, so a rule
    sees the same words whether its caller lower-cased the text or passed this copy in.
    """
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(lc if len(lc := c.lower()) == 1 else c for c in text)
