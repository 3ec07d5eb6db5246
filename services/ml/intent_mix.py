"""The training mix for the intent head: the own domain set plus public dialogue sets, weighted and capped."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from schemas.vocabulary import INTENTS

# Per-source weight and cap. The domain set is what the business sees, so it counts most; CLINC's
# out-of-scope chatter is plentiful and only teaches "other", so it is capped.
SOURCE_MIX: dict[str, tuple[float, int | None]] = {
    "teppan_domain": (3.0, None),
    "teppan_voices": (3.0, None),
    "sgd_restaurants": (1.0, None),
    "clinc150": (0.5, 4000),
    "snips": (0.5, 600),
    "nlupp_hotels": (1.0, None),
}


def usable(row: dict[str, Any]) -> bool:
    """Train only on rows whose intent is really labelled and, for public sets, not from a dev/test split."""
    if not row.get("annotated", {}).get("intent") or row.get("intent") not in INTENTS:
        return False
    split = str(row.get("split", ""))
    if row["source"] == "sgd_restaurants":
        return split == "train"
    if row["source"] == "clinc150":
        return split == "train"
    if row["source"] == "nlupp_hotels":
        return split not in ("fold8", "fold9")
    return True


def cap(rows: list[dict[str, Any]], seed: int = 7) -> list[dict[str, Any]]:
    """Apply each source's cap; non-"other" rows of a capped source are kept before "other" rows."""
    rng = random.Random(seed)
    by_source: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append(r)
    out: list[dict[str, Any]] = []
    for source, items in by_source.items():
        limit = SOURCE_MIX.get(source, (1.0, None))[1]
        if limit is not None and len(items) > limit:
            rng.shuffle(items)
            items.sort(key=lambda r: r["intent"] == "other")
            items = items[:limit]
        out += items
    return out


CLASS_BALANCE_POWER = 0.5


def class_balance(labels: list[str], power: float = CLASS_BALANCE_POWER) -> list[float]:
    """Per-row weight factors (n / (k * n_class)) ** power: "other" is most of the public rows, and without
    this the small classes (modification, pricing) lose recall. A power of 0.5 only halves the imbalance."""
    counts = Counter(labels)
    k, n = len(counts), len(labels)
    return [(n / (k * counts[y])) ** power for y in labels]
