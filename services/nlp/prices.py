"""Prices and budgets mentioned: "$55", "$1,950", "500 bucks", "a budget of 2k", "$40 per person"."""

from __future__ import annotations

import math
import re

from services.nlp.entities import Entity

# The "k" of "2k" takes the whitespace before it, so a match never ends in spaces (its span is its surface).
_AMOUNT = r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?:\s*(k)\b)?"
PRICE_RE = re.compile(
    rf"(?:\$|usd)\s*{_AMOUNT}|(?<![\w.])(\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.(\d{{1,2}}))?\s*(k\s+)?(?:dollars|bucks|usd)\b",
    re.I,
)
# Matched from the end of an amount (`match(text, pos)`), so no pattern here may use "^".
_PER_PERSON = re.compile(
    r"\s*(?:/|per|a|an|each)\s*(?:person|head|guest|pp|plate|pax)\b|\s*pp\b|\s*/pp\b|\s*ea\b", re.I
)
_BUDGET_CUE = re.compile(
    r"\b(?:budget|spend|spending|afford|max|maximum|at\s+most|no\s+more\s+than|under|below|less\s+than|up\s+to|cap|limit)\b",
    re.I,
)


_DIGIT = re.compile(r"\d")


def find_prices(text: str) -> list[Entity]:
    """Every money amount, with a per-person flag in the value."""
    out: list[Entity] = []
    if not _DIGIT.search(text):  # every amount has a digit
        return out
    for m in PRICE_RE.finditer(text):
        whole = m.group(1) or m.group(4)
        cents = m.group(2) or m.group(5)
        k = m.group(3) or m.group(6)
        amount = float(whole.replace(",", "")) + (float(f"0.{cents}") if cents else 0.0)
        if k:
            amount *= 1000
        if not math.isfinite(amount):
            continue  # hundreds of digits are no price anyone quotes, and JSON has no infinity
        per_person = bool(_PER_PERSON.match(text, m.end()))
        out.append(Entity(m.group(0), {"amount": amount, "per_person": per_person}, 0.95, False, *m.span()))
    return out


def find_budget(text: str, prices: list[Entity]) -> Entity | None:
    """The first price that a budget cue ("budget", "under", "max") sits just before."""
    for p in prices:
        window = text[max(0, p.start - 40) : p.start]
        if _BUDGET_CUE.search(window):
            return Entity(p.surface, p.value, 0.85, False, p.start, p.end)
    return None
