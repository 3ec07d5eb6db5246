"""The dynamic batcher: groups up to the maximum batch size or the maximum queue delay, keeps order."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.ml.escalation.batching import DynamicBatcher


class Recorder:
    def __init__(self, pause_s: float = 0.0) -> None:
        self.calls: list[list[str]] = []
        self.pause_s = pause_s

    def __call__(self, items: list[str]) -> list[str]:
        self.calls.append(list(items))
        time.sleep(self.pause_s)
        return [item.upper() for item in items]


async def test_a_large_submission_is_cut_into_full_batches_and_answers_keep_their_order() -> None:
    model = Recorder()
    batcher: DynamicBatcher[str, str] = DynamicBatcher(model, max_batch_size=4, max_queue_delay_ms=1000)
    try:
        items = [f"m{index}" for index in range(10)]
        started = time.monotonic()
        answers = await batcher.submit_many(items)
    finally:
        await batcher.close()
    assert answers == [item.upper() for item in items]
    assert [len(call) for call in model.calls][:2] == [4, 4]
    assert sum(len(call) for call in model.calls) == 10
    # The last two waited for the delay: nobody else was coming, and the delay is the bound.
    assert time.monotonic() - started >= 0.9


async def test_concurrent_single_requests_are_grouped_within_the_queue_delay() -> None:
    model = Recorder()
    batcher: DynamicBatcher[str, str] = DynamicBatcher(model, max_batch_size=64, max_queue_delay_ms=50)
    try:
        answers = await asyncio.gather(*(batcher.submit(f"r{index}") for index in range(20)))
    finally:
        await batcher.close()
    assert answers == [f"R{index}" for index in range(20)]
    assert len(model.calls) == 1 and batcher.stats.largest == 20


async def test_sorting_by_length_is_undone_in_the_answers() -> None:
    model = Recorder()
    batcher: DynamicBatcher[str, str] = DynamicBatcher(
        model, max_batch_size=8, max_queue_delay_ms=0, sort_key=len
    )
    try:
        answers = await batcher.submit_many(["ccc", "a", "bb"])
    finally:
        await batcher.close()
    assert model.calls == [["a", "bb", "ccc"]]
    assert answers == ["CCC", "A", "BB"]


async def test_a_failing_model_call_fails_its_callers_and_the_batcher_keeps_serving() -> None:
    calls = 0

    def flaky(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("model exploded")
        return items

    batcher: DynamicBatcher[str, str] = DynamicBatcher(flaky, max_batch_size=8, max_queue_delay_ms=0)
    try:
        with pytest.raises(RuntimeError, match="model exploded"):
            await batcher.submit_many(["a", "b"])
        assert await batcher.submit_many(["c"]) == ["c"]
    finally:
        await batcher.close()


async def test_a_model_that_answers_the_wrong_number_of_items_is_an_error_not_a_hang() -> None:
    batcher: DynamicBatcher[str, str] = DynamicBatcher(
        lambda items: items[:1], max_batch_size=8, max_queue_delay_ms=0
    )
    try:
        with pytest.raises(RuntimeError, match="1 answers for 2 inputs"):
            await asyncio.wait_for(batcher.submit_many(["a", "b"]), 5)
    finally:
        await batcher.close()
