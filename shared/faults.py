"""Whose fault a failure is, and what the consumer loop does about it: the world's is waited out, a record's is isolated.

A database, Redis or broker outage is the world's fault: every record would fail the same way, so the
batch is retried with capped exponential backoff and jitter, logged once per episode, and never
dead-lettered. Anything else that repeats for the same records is theirs: after bounded retries the
batch is split in halves until the culprits are single records, which go to the dead-letter queue with
their exception; the good halves are handled once each (their side effects are idempotent, so the only
cost of a split is the re-handled records, which are counted).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import asyncpg
import redis.exceptions
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")

# Errors that say a dependency is unreachable or busy, not that a record is wrong.
_WORLD_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionError and socket errors
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, "cannot connect now"
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.exceptions.TransactionRollbackError,  # deadlock or serialization failure: try again
    redis.exceptions.ConnectionError,  # includes BusyLoadingError
    redis.exceptions.TimeoutError,
)


def is_world_fault(error: BaseException) -> bool:
    """True when `error` (or what caused it) says a dependency failed, so retrying later will work."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _WORLD_ERRORS):
            return True
        if isinstance(current, KafkaError) and current.retriable:
            return True
        if isinstance(current, asyncpg.InterfaceError) and "closed" in str(current):
            return True  # a pool or connection closed under us by a cut connection
        current = current.__cause__ or current.__context__
    return False


def describe_exception(error: BaseException, *, limit: int = 4000) -> str:
    """The exception and its traceback, for a dead letter; bounded so a huge message cannot bloat it."""
    text = "".join(traceback.format_exception(error)).strip()
    return text if len(text) <= limit else text[: limit // 2] + "\n…\n" + text[-limit // 2 :]


@dataclass(frozen=True)
class RetryPolicy:
    """How long the loop waits out the world, and how often it retries a batch before isolating records."""

    record_retries: int = 2
    record_retry_pause_s: float = 0.2
    world_backoff_initial_s: float = 0.2
    world_backoff_max_s: float = 5.0
    # An outage still going on is logged again at this interval, so a silent stall cannot hide.
    world_reminder_s: float = 60.0

    def world_backoff(self, attempt: int) -> float:
        """Capped exponential backoff with equal jitter: never zero, never in lockstep across replicas."""
        ceiling = min(self.world_backoff_max_s, self.world_backoff_initial_s * 2 ** min(attempt, 30))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class Culprit(Generic[ItemT]):
    """A record whose handling kept failing on its own; `error` carries the exception and traceback."""

    item: ItemT
    error: str
    exception_type: str


@dataclass
class IsolationReport(Generic[ItemT]):
    culprits: list[Culprit[ItemT]] = field(default_factory=list)
    handler_calls: int = 0
    # Records handled more than once because they shared a batch with a culprit or an outage.
    records_rehandled: int = 0
    world_retries: int = 0


class FaultIsolator(Generic[ItemT]):
    """Runs a batch handler so that no record can stall the stream and no outage loses one."""

    def __init__(
        self,
        handle: Callable[[list[ItemT]], Awaitable[None]],
        *,
        policy: RetryPolicy | None = None,
        describe_position: Callable[[Sequence[ItemT]], dict[str, object]] = lambda _: {},
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._handle = handle
        self._policy = policy or RetryPolicy()
        self._describe_position = describe_position
        self._sleep = sleep
        self._outage_since: float | None = None
        self._outage_logged_at = 0.0

    async def run(self, batch: list[ItemT]) -> IsolationReport[ItemT]:
        report: IsolationReport[ItemT] = IsolationReport()
        if not batch:
            return report
        error = await self._attempt(batch, report, retries=self._policy.record_retries)
        if error is not None:
            await self._bisect(batch, report)
        return report

    async def _attempt(
        self, batch: list[ItemT], report: IsolationReport[ItemT], *, retries: int
    ) -> BaseException | None:
        """Handle `batch`, waiting out world faults for as long as they last; the record fault if it persists."""
        record_failures = 0
        world_attempt = 0
        while True:
            report.handler_calls += 1
            if report.handler_calls > 1:
                report.records_rehandled += len(batch)
            try:
                await self._handle(batch)
            except Exception as error:
                if is_world_fault(error):
                    self._note_outage(error, batch)
                    report.world_retries += 1
                    await self._sleep(self._policy.world_backoff(world_attempt))
                    world_attempt += 1
                    continue
                self._note_recovery()
                record_failures += 1
                if record_failures > retries:
                    return error
                log.warning(
                    "batch failed; retrying before isolating the record at fault",
                    extra={
                        **self._describe_position(batch),
                        "batch_size": len(batch),
                        "attempt": record_failures,
                        "error_type": type(error).__name__,
                    },
                )
                await self._sleep(self._policy.record_retry_pause_s)
                continue
            self._note_recovery()
            return None

    async def _bisect(self, batch: list[ItemT], report: IsolationReport[ItemT]) -> None:
        """Split a failing batch until each failing part is one record; the good parts are handled once."""
        pending = [batch[: len(batch) // 2], batch[len(batch) // 2 :]] if len(batch) > 1 else [batch]
        while pending:
            part = pending.pop(0)
            if not part:
                continue
            error = await self._attempt(part, report, retries=0 if len(part) > 1 else 1)
            if error is None:
                continue
            if len(part) > 1:
                middle = len(part) // 2
                pending[:0] = [part[:middle], part[middle:]]
                continue
            report.culprits.append(Culprit(part[0], describe_exception(error), type(error).__name__))

    def _note_outage(self, error: BaseException, batch: Sequence[ItemT]) -> None:
        now = time.monotonic()
        first = self._outage_since is None
        if first or now - self._outage_logged_at >= self._policy.world_reminder_s:
            if first:
                self._outage_since = now
            self._outage_logged_at = now
            log.error(
                "a dependency is failing; retrying with backoff (no record is dead-lettered for this)",
                extra={
                    **self._describe_position(batch),
                    "error_type": type(error).__name__,
                    "error": str(error)[:300],
                    "outage_s": round(now - (self._outage_since or now), 1),
                },
            )

    def _note_recovery(self) -> None:
        if self._outage_since is not None:
            log.warning(
                "dependency recovered; processing resumed",
                extra={"outage_s": round(time.monotonic() - self._outage_since, 1)},
            )
            self._outage_since = None
