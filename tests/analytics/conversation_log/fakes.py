"""The conversation log's store in memory, with the PostgreSQL adapter's contract: idempotent on keys, an
ML-path analysis superseding a fast one, and a record of which conversations were rebuilt.
"""

from __future__ import annotations

from uuid import UUID

from services.analytics.conversation_log.core import AnalysisRow, LogBatch, MessageRow, OutcomeRow, supersedes


class InMemoryConversationLog:
    def __init__(self) -> None:
        self.messages: dict[UUID, MessageRow] = {}
        self.analyses: dict[UUID, AnalysisRow] = {}
        self.outcomes: dict[UUID, OutcomeRow] = {}
        self.rebuilt: list[list[UUID]] = []

    async def write_batch(self, batch: LogBatch) -> None:
        for message in batch.messages:
            self.messages.setdefault(message.event_id, message)
        for analysis in batch.analyses:
            stored = self.analyses.get(analysis.message_event_id)
            if stored is None or supersedes(analysis, stored):
                self.analyses[analysis.message_event_id] = analysis
        for outcome in batch.outcomes:
            self.outcomes.setdefault(outcome.event_id, outcome)
        self.rebuilt.append(list(batch.conversations))
