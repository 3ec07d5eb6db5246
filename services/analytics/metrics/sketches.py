"""Mergeable latency sketches (DDSketch) with lossless JSON/bytes serialisation.

Windows store their sketches; the percentiles of a day or of several replicas come from merging
sketches, never from averaging percentiles.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from ddsketch import DDSketch
from ddsketch.ddsketch import BaseDDSketch
from ddsketch.mapping import LogarithmicMapping
from ddsketch.store import DenseStore

# Every quantile the sketch returns is within ±1% (relative) of the true value at that rank,
# whatever the data's range, merged or not.
RELATIVE_ACCURACY = 0.01
FORMAT = "ddsketch-json/1"
PERCENTILES: dict[str, float] = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


class LatencySketch:
    """A DDSketch of non-negative values (milliseconds) that can be merged and serialised.

    `quantile(q)` returns, within RELATIVE_ACCURACY, the value of rank floor(q * (n - 1)) in
    the sorted data (numpy's `method="lower"`).
    """

    def __init__(self, relative_accuracy: float = RELATIVE_ACCURACY) -> None:
        self._sketch: BaseDDSketch = DDSketch(relative_accuracy)

    @property
    def relative_accuracy(self) -> float:
        return float(self._sketch._relative_accuracy)

    @property
    def count(self) -> int:
        return round(self._sketch.count)

    @property
    def sum(self) -> float:
        return float(self._sketch.sum)

    def add(self, value: float) -> None:
        if value < 0 or math.isnan(value):
            raise ValueError(f"a latency must be a non-negative number, got {value!r}")
        self._sketch.add(value)

    def merge(self, other: LatencySketch) -> None:
        """Adds `other`'s values to this sketch; both must have the same relative accuracy."""
        if other._sketch._mapping.gamma != self._sketch._mapping.gamma:
            raise ValueError("cannot merge sketches of different relative accuracy")
        if other.count:
            self._sketch.merge(other._sketch)

    @classmethod
    def merged(
        cls, sketches: Iterable[LatencySketch], relative_accuracy: float = RELATIVE_ACCURACY
    ) -> LatencySketch:
        result = cls(relative_accuracy)
        for sketch in sketches:
            result.merge(sketch)
        return result

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0 <= q <= 1), or None when the sketch is empty."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be within [0, 1], got {q}")
        value = self._sketch.get_quantile_value(q)
        return None if value is None else float(value)

    def percentiles(self) -> dict[str, float | None]:
        """p50, p95 and p99."""
        return {name: self.quantile(q) for name, q in PERCENTILES.items()}

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict holding the whole state (bins, count, sum, min, max)."""
        sketch = self._sketch
        empty = self.count == 0
        return {
            "format": FORMAT,
            "relative_accuracy": self.relative_accuracy,
            "gamma": sketch._mapping.gamma,
            "index_offset": sketch._mapping._offset,
            "positive": _store_to_json(sketch._store),
            "negative": _store_to_json(sketch._negative_store),
            "zero_count": sketch._zero_count,
            "sum": sketch.sum,
            # JSON has no infinities, which is what an empty sketch holds for min and max.
            "min": None if empty else sketch._min,
            "max": None if empty else sketch._max,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatencySketch:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} sketch: format={data.get('format')!r}")
        # Rebuilt from the relative accuracy, not from gamma, so the mapping is bit-for-bit the
        # original one and a round trip returns identical quantiles.
        mapping = LogarithmicMapping(data["relative_accuracy"], data["index_offset"])
        if mapping.gamma != data["gamma"]:
            raise ValueError("sketch gamma does not match its relative accuracy")
        inner = BaseDDSketch(
            mapping=mapping,
            store=_store_from_json(data["positive"]),
            negative_store=_store_from_json(data["negative"]),
            zero_count=float(data["zero_count"]),
        )
        # BaseDDSketch recomputes the count from its stores but cannot be given sum/min/max.
        inner._sum = float(data["sum"])
        if data["min"] is not None:
            inner._min = float(data["min"])
            inner._max = float(data["max"])
        result = cls.__new__(cls)
        result._sketch = inner
        return result

    def to_bytes(self) -> bytes:
        """The compact UTF-8 JSON of `to_json()`, for a BYTEA column or a Kafka payload."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> LatencySketch:
        return cls.from_json(json.loads(data))


def _store_to_json(store: DenseStore) -> dict[str, Any]:
    if store.count == 0:
        return {"offset": 0, "bins": []}
    # Dense stores keep slack around the used keys; only [min_key, max_key] carries counts.
    start = store.min_key - store.offset
    stop = store.max_key - store.offset + 1
    return {"offset": store.min_key, "bins": store.bins[start:stop]}


def _store_from_json(data: dict[str, Any]) -> DenseStore:
    store = DenseStore()
    for index, count in enumerate(data["bins"], start=data["offset"]):
        if count:
            store.add(index, float(count))
    return store
