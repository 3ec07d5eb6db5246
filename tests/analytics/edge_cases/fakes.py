"""The edge-case store and prediction log in memory, with the adapters' contracts: flags once per
conversation and reason, inputs and predictions once per id, all-or-nothing batches.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from services.analytics.edge_cases.core import (
    EdgeCaseBatch,
    FlagRow,
    PredictionInputRow,
    PredictionRow,
    ReadyPrediction,
)
from tests.analytics.fakes import Transactional


class InMemoryEdgeCaseStore(Transactional):
    def __init__(self) -> None:
        self.flags: dict[tuple[UUID, str], FlagRow] = {}
        self.inputs: dict[UUID, PredictionInputRow] = {}
        self.predictions: dict[UUID, PredictionRow] = {}
        self.written: dict[UUID, Mapping[str, Any]] = {}
        self.locked: list[list[UUID]] = []

    @contextlib.asynccontextmanager
    async def transaction(self, messages: Sequence[UUID]) -> AsyncIterator[InMemoryEdgeCaseStore]:
        async with self._all_or_nothing():
            self.locked.append(list(messages))
            yield self

    async def add(self, batch: EdgeCaseBatch) -> list[FlagRow]:
        new = [flag for flag in batch.flags if (flag.conversation_id, flag.reason) not in self.flags]
        for flag in new:
            self.flags[(flag.conversation_id, flag.reason)] = flag
        for row in batch.inputs:
            self.inputs.setdefault(row.message_event_id, row)
        for prediction in batch.predictions:
            self.predictions.setdefault(prediction.analysis_event_id, prediction)
        return new

    async def ready_predictions(self, messages: Sequence[UUID]) -> list[ReadyPrediction]:
        ready = sorted(
            (
                p
                for p in self.predictions.values()
                if p.message_event_id in messages
                and p.message_event_id in self.inputs
                and p.analysis_event_id not in self.written
            ),
            key=lambda p: (p.occurred_at, str(p.analysis_event_id)),
        )
        return [
            ReadyPrediction(
                p.analysis_event_id,
                json.loads(p.analysis),
                self.inputs[p.message_event_id].user_text,
                json.loads(self.inputs[p.message_event_id].requested_slots),
            )
            for p in ready
        ]

    async def mark_written(self, records: Mapping[UUID, Mapping[str, Any]]) -> None:
        self.written.update(records)


class InMemoryPredictionLog:
    def __init__(self) -> None:
        self.lines: list[Mapping[str, Any]] = []

    def append_all(self, records: Iterable[Mapping[str, Any]]) -> None:
        self.lines.extend(records)
