"""The alert rules' store in memory: the figures a test sets, the state saved with an all-or-nothing
transaction, and which figures each evaluation asked for.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from services.analytics.alert_rules.core import AlertState, Observations
from services.analytics.reports.costs import Usage
from tests.analytics.fakes import Transactional


class InMemoryAlertStore(Transactional):
    def __init__(self) -> None:
        self.state = AlertState()
        self.figures = Observations()
        self.conversations = 0
        self.usage: list[Usage] = []
        self.asked: list[str] = []

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[InMemoryAlertStore]:
        async with self._all_or_nothing():
            yield self

    async def load_state(self) -> AlertState:
        return self.state

    async def observations(self, now: datetime) -> Observations:
        return self.figures

    async def weekly_conversations(self, now: datetime) -> int:
        self.asked.append("weekly")
        return self.conversations

    async def usages(self, since: datetime, until: datetime) -> list[Usage]:
        self.asked.append(f"usages {since.isoformat()} {until.isoformat()}")
        return [usage for usage in self.usage if since <= usage.at < until]

    async def save_state(self, state: AlertState) -> None:
        self.state = state
