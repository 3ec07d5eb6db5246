"""The `edge-cases` worker kind: turns and NLP analyses into `edge_cases`, EdgeCaseFlagged events, the
`predictions` table and the daily JSONL prediction log.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from schemas import topics
from schemas.events import EdgeCaseFlagged, MessageAnalysis, Turn
from schemas.workers import consumer_group
from services.analytics.edge_cases.core import (
    EdgeCaseThresholds,
    edge_case_batch,
    flagged_events,
    prediction_for,
)
from services.analytics.edge_cases.prediction_log import (
    PredictionLog,
    PredictionLogWriter,
    prediction_log_dir,
)
from services.analytics.edge_cases.store import EdgeCaseStore, PostgresEdgeCaseStore
from shared.consumer import BACKGROUND_FETCH_WAIT_MS, Consumed, publish_events, subscribe_batch
from shared.db import create_pool
from shared.settings import Settings

GROUP_ID = consumer_group("edge-cases")
TOPIC_MODELS: dict[str, type[BaseModel]] = {topics.CHAT_TURNS: Turn, topics.NLP_ANALYSES: MessageAnalysis}

PublishFlags = Callable[[Sequence[EdgeCaseFlagged]], Awaitable[None]]


class EdgeCaseHandler:
    def __init__(
        self,
        store: EdgeCaseStore,
        prediction_log: PredictionLogWriter,
        publish: PublishFlags,
        thresholds: EdgeCaseThresholds,
    ) -> None:
        self._store = store
        self._log = prediction_log
        self._publish = publish
        self._thresholds = thresholds

    async def __call__(self, batch: list[Consumed[Turn | MessageAnalysis]]) -> None:
        plan = edge_case_batch((item.event for item in batch), self._thresholds)
        messages = plan.messages
        async with self._store.transaction(messages) as writes:
            new_flags = await writes.add(plan)
            if messages:
                ready = await writes.ready_predictions(messages)
                records = {prediction.analysis_event_id: prediction_for(prediction) for prediction in ready}
                # Appended before the rows are marked: a crash in between writes a line twice at worst, and
                # each line carries its event_id so readers can drop the repeat; a line is never lost.
                self._log.append_all(records.values())
                await writes.mark_written(records)
            # Published before the transaction commits: a failed publish rolls the rows back, so the batch
            # is redelivered and the flags are published then (at least once, with content-fixed ids).
            await self._publish(flagged_events(new_flags))


def _flag_key(event: EdgeCaseFlagged) -> bytes:
    return str(event.conversation_id).encode()


def register(
    broker: KafkaBroker,
    store: EdgeCaseStore,
    prediction_log: PredictionLogWriter,
    thresholds: EdgeCaseThresholds,
) -> None:
    publish = partial(publish_events, broker, topics.ANALYTICS_EDGE_CASES, key_of=_flag_key)
    subscribe_batch(
        broker,
        models=TOPIC_MODELS,
        group_id=GROUP_ID,
        stage="edge-cases",
        dlq_topic=topics.ANALYTICS_DLQ,
        handle=EdgeCaseHandler(store, prediction_log, publish, thresholds),
        outputs={topics.ANALYTICS_EDGE_CASES: EdgeCaseFlagged},
        title="edge-cases",
        description="Flags edge cases (the ML guide's five rules) and writes the prediction log.",
        fetch_wait_ms=BACKGROUND_FETCH_WAIT_MS,
    )


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    pool = await create_pool(settings)
    thresholds = EdgeCaseThresholds(
        min_confidence=settings.edge_min_confidence, max_corrections=settings.edge_max_corrections
    )
    try:
        register(broker, PostgresEdgeCaseStore(pool), PredictionLog(prediction_log_dir(settings)), thresholds)
        yield
    finally:
        await pool.close()
