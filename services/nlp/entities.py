"""The slot value type every rule returns: surface text, normalised value, confidence, confirmation flag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Entity:
    surface: str
    value: Any
    confidence: float
    needs_confirmation: bool = False
    start: int = -1
    end: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "surface": self.surface,
            "value": self.value,
            "confidence": round(self.confidence, 4),
            "needs_confirmation": self.needs_confirmation,
        }


def overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in spans)


def lower_aligned(text: str) -> str:
    """The text lower-cased with every offset unchanged, so spans found on it index the original text.

    Rules match on this copy without re.IGNORECASE: case-insensitive alternations cost several times more in
    Python's `re`. A few characters ("İ") lower-case to two; those rare ones are left as they are.
    """
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(lc if len(lc := c.lower()) == 1 else c for c in text)


def has_any(text: str, needles: tuple[str, ...]) -> bool:
    """Whether any needle occurs in text: the cheap pre-check that lets a rule skip its regex."""
    for n in needles:
        if n in text:
            return True
    return False
