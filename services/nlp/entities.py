"""The slot value type every rule returns: surface text, normalised value, confidence, confirmation flag."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
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


class Claimed:
    """Spans of a message that rules have claimed, kept sorted and merged so each lookup is a binary search.

    A 16,000-character message can hold thousands of mentions, and testing each new one against every span
    claimed before it (`overlaps`) grew with the square of their number."""

    def __init__(self, spans: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in spans:
            self.add(start, end)

    def overlaps(self, start: int, end: int) -> bool:
        """Whether [start, end) shares a character with a claimed span, exactly as `overlaps` decides."""
        # The merged spans are disjoint and sorted, so their ends rise too: only the last one starting before
        # `end` can reach past `start`.
        i = bisect_left(self._starts, end) - 1
        return i >= 0 and start < self._ends[i]

    def add(self, start: int, end: int) -> None:
        lo = bisect_left(self._ends, start + 1)  # the first span that ends after `start`
        hi = bisect_left(self._starts, end)  # the spans before `hi` start before `end`
        if lo < hi:  # they overlap the new span: merge them into it
            start, end = min(start, self._starts[lo]), max(end, self._ends[hi - 1])
        self._starts[lo:hi] = [start]
        self._ends[lo:hi] = [end]


def has_any(text: str, needles: tuple[str, ...]) -> bool:
    """Whether any needle occurs in text: the cheap pre-check that lets a rule skip its regex."""
    for n in needles:
        if n in text:
            return True
    return False
