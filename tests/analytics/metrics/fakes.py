"""The metrics store in memory, with the PostgreSQL adapter's contract: facts once per id, each event
claimed once, progress merged by max and or, windows merged under one all-or-nothing batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from uuid import UUID

from services.analytics.metrics.core import (
    ConversationProgress,
    EventClaim,
    LabelRow,
    MetricsFacts,
    ModelAnswer,
    SurveyRow,
    UsageRow,
)
from services.analytics.metrics.windows import MetricsWindow, merge_windows
from tests.analytics.fakes import Transactional


class InMemoryMetricsStore(Transactional):
    def __init__(self, answers: Mapping[UUID, ModelAnswer] | None = None) -> None:
        # The logger's analyses, which the metrics worker only reads.
        self.answers = dict(answers or {})
        self.usage: dict[UUID, UsageRow] = {}
        self.surveys: dict[UUID, SurveyRow] = {}
        self.labels: dict[UUID, LabelRow] = {}
        self.progress: dict[UUID, ConversationProgress] = {}
        self.claimed: dict[UUID, datetime] = {}
        self.windows: dict[datetime, MetricsWindow] = {}
        self.rebuilt: list[UUID] = []

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[InMemoryMetricsStore]:
        async with self._all_or_nothing():
            yield self

    async def store_facts(self, facts: MetricsFacts) -> None:
        for row in facts.usage:
            self.usage.setdefault(row.event_id, row)
        for survey in facts.surveys:
            self.surveys.setdefault(survey.event_id, survey)
        for label in facts.labels:
            self.labels.setdefault(label.event_id, label)
        self.rebuilt.extend(facts.feedback_conversations)
        for row in facts.progress:
            seen = self.progress.get(row.conversation_id)
            if seen is not None:
                row = ConversationProgress(
                    row.conversation_id, max(row.turns, seen.turns), row.human_handoff or seen.human_handoff
                )
            self.progress[row.conversation_id] = row

    async def claim(self, claims: Sequence[EventClaim]) -> set[UUID]:
        new = {claim.event_id for claim in claims if claim.event_id not in self.claimed}
        self.claimed.update({claim.event_id: claim.window_start for claim in claims if claim.event_id in new})
        return new

    async def conversations(self, ids: Sequence[UUID]) -> dict[UUID, ConversationProgress]:
        return {id_: self.progress[id_] for id_ in ids if id_ in self.progress}

    async def model_answers(self, message_ids: Sequence[UUID]) -> dict[UUID, ModelAnswer]:
        return {id_: self.answers[id_] for id_ in message_ids if id_ in self.answers}

    async def merge(self, windows: Sequence[MetricsWindow]) -> list[MetricsWindow]:
        merged = []
        for window in windows:
            stored = self.windows.get(window.start, MetricsWindow(window.start, window.end))
            total = merge_windows([stored, window])
            assert total is not None
            self.windows[window.start] = total
            merged.append(total)
        return merged
