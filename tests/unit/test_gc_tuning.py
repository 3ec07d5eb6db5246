"""Workers freeze their start-up heap and collect less often (shared/gc_tuning.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.gc_tuning import YOUNG_GENERATION_THRESHOLD, freeze_start_up_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_freezing_moves_the_start_up_heap_out_of_collections(restored_gc: None) -> None:
    long_lived = [[index] for index in range(10_000)]
    gc.unfreeze()
    freeze_start_up_heap()
    assert gc.get_freeze_count() >= len(long_lived)
    assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD


def test_cycles_made_after_start_up_are_still_collected(restored_gc: None) -> None:
    freeze_start_up_heap()

    class Node:
        pass

    node = Node()
    node.self_reference = node  # type: ignore[attr-defined]
    del node
    assert gc.collect() >= 1
