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
