"""Paging's ledger and pager in memory: alerts claimed once per event id, all-or-nothing batches, and
every page kept as sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from uuid import UUID

from services.analytics.alert_rules.core import FiredAlert
from services.analytics.paging.core import SentAlertRow
from tests.analytics.fakes import Transactional


class InMemoryPagingLedger(Transactional):
    def __init__(self) -> None:
        self.sent: dict[UUID, SentAlertRow] = {}
        self.page_ids: dict[UUID, str | None] = {}

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[InMemoryPagingLedger]:
        async with self._all_or_nothing():
            yield self

    async def claim(self, alerts: Sequence[SentAlertRow]) -> set[UUID]:
        new = {row.event_id for row in alerts if row.event_id not in self.sent}
        self.sent.update({row.event_id: row for row in alerts if row.event_id in new})
        return new

    async def record_sent(self, page_ids: Mapping[UUID, str | None]) -> None:
        self.page_ids.update(page_ids)


class RecordingPager:
    """Keeps each page; `fail` makes the next send raise, as an unreachable Sentry would."""

    def __init__(self) -> None:
        self.pages: list[tuple[FiredAlert, Mapping[str, Any]]] = []
        self.flushes = 0
        self.fail = False

    def send(self, alert: FiredAlert, extra: Mapping[str, Any] | None = None) -> str | None:
        if self.fail:
            self.fail = False
            raise ConnectionError("sentry unreachable")
        self.pages.append((alert, dict(extra or {})))
        return f"page-{len(self.pages)}"

    def flush(self, timeout: float = 2.0) -> None:
        self.flushes += 1
