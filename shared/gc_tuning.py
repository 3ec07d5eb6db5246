"""Cyclic garbage collection tuned for long-running workers.

A worker allocates many short-lived objects per record (decoded events, rows, published payloads) on top of a
large, long-lived heap (imports, models, the broker's client). With CPython's default thresholds the cyclic
collector runs every 700 net allocations and its older generations keep re-walking that long-lived heap:
measured with `teppan bench pipeline --full`, it cost about a fifth of the pipeline's throughput
(docs/benchmarks.md). Freezing the heap built at start-up moves it out of every later collection, and a
larger first threshold makes collections rarer. Reference counting still frees almost every object at
once, so memory stays flat; only reference cycles wait a little longer.
"""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 50_000


def freeze_start_up_heap() -> None:
    """Call once start-up is done (imports made, models loaded), before the first record is handled."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
