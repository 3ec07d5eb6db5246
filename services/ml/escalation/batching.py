"""A dynamic batcher, as Triton's: requests are grouped until the batch is full or the oldest request has
waited the maximum queue delay, whichever comes first, and each group runs as one model call.

Model calls run one at a time on a single thread of their own, so the event loop keeps consuming and
publishing while the model computes, and the model's own thread count stays what the worker set.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass
class BatchStats:
    """What the batcher did: how many calls, of what sizes, and how long requests queued."""

    calls: int = 0
    items: int = 0
    largest: int = 0
    queued_ms: list[float] = field(default_factory=list)

    @property
    def mean_batch_size(self) -> float:
        return self.items / self.calls if self.calls else 0.0


class DynamicBatcher(Generic[In, Out]):
    """`await batcher.submit_many(items)` returns `run_batch`'s outputs for those items, in their order.

    `run_batch` takes up to `max_batch_size` inputs and returns one output per input. `sort_key`, when
    given, orders each group before the call (texts of similar length pad less) and the outputs are put
    back in the callers' order.
    """

    def __init__(
        self,
        run_batch: Callable[[list[In]], Sequence[Out]],
        *,
        max_batch_size: int,
        max_queue_delay_ms: float,
        sort_key: Callable[[In], int] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_queue_delay_s = max_queue_delay_ms / 1000
        self._sort_key = sort_key
        self._queue: asyncio.Queue[tuple[In, asyncio.Future[Out], float]] = asyncio.Queue()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._task: asyncio.Task[None] | None = None
        self.stats = BatchStats()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._serve(), name="dynamic-batcher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._executor.shutdown(wait=True)

    async def submit_many(self, items: Sequence[In]) -> list[Out]:
        self.start()
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        futures: list[asyncio.Future[Out]] = []
        for item in items:
            future: asyncio.Future[Out] = loop.create_future()
            futures.append(future)
            self._queue.put_nowait((item, future, now))
        return list(await asyncio.gather(*futures))

    async def submit(self, item: In) -> Out:
        return (await self.submit_many([item]))[0]

    async def _next_group(self) -> list[tuple[In, asyncio.Future[Out], float]]:
        group = [await self._queue.get()]
        deadline = group[0][2] + self.max_queue_delay_s
        while len(group) < self.max_batch_size:
            if not self._queue.empty():
                group.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                group.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return group

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = await self._next_group()
            started = time.monotonic()
            order = list(range(len(group)))
            if self._sort_key is not None:
                key = self._sort_key
                order.sort(key=lambda index: key(group[index][0]))
            inputs = [group[index][0] for index in order]
            try:
                outputs = await loop.run_in_executor(self._executor, self._run_batch, inputs)
                if len(outputs) != len(inputs):
                    raise RuntimeError(f"the model returned {len(outputs)} answers for {len(inputs)} inputs")
            except Exception as error:  # noqa: BLE001 - the callers decide whose fault it is
                for _, future, _ in group:
                    if not future.done():
                        future.set_exception(error)
                continue
            self.stats.calls += 1
            self.stats.items += len(group)
            self.stats.largest = max(self.stats.largest, len(group))
            for position, index in enumerate(order):
                _, future, queued_at = group[index]
                self.stats.queued_ms.append((started - queued_at) * 1000)
                if not future.done():
                    future.set_result(outputs[position])
            del self.stats.queued_ms[:-10_000]
