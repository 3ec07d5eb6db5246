"""The `escalation` worker kind: escalated turns in, ML-path MessageAnalysis out (the slow path).

Requests from each consumed batch go through the dynamic batcher to the fine-tuned model, on CUDA when
there is one and on the CPU otherwise, with the thread count the settings give (one by default, so the
fast path keeps its core). The analysis it publishes has an id derived from the message's, so a
redelivered request republishes the same event and the logger keeps one row.

The model served is the registry's `escalation@champion` when there is one, else the built folder; a
promotion is picked up without a restart (services.common.champion). Each analysis names the version that
answered it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path

from faststream.kafka import KafkaBroker

from schemas import topics
from schemas.events import EscalationRequest, MessageAnalysis
from schemas.workers import consumer_group
from services.common.champion import ServedModel, open_registry_for_workers
from services.ml.escalation.batching import DynamicBatcher
from services.ml.escalation.core import ml_analysis
from services.ml.escalation.model import EscalationModel, EscalationPrediction
from shared.consumer import Consumed, publish_events, subscribe_batch
from shared.settings import Settings

log = logging.getLogger(__name__)
GROUP_ID = consumer_group("escalation")

PublishAnalyses = Callable[[Sequence[MessageAnalysis]], Awaitable[None]]


class EscalationHandler:
    def __init__(
        self,
        batcher: DynamicBatcher[str, EscalationPrediction],
        publish: PublishAnalyses,
        *,
        model_version: Callable[[], str],
        unsure_below: float,
    ) -> None:
        self._batcher = batcher
        self._publish = publish
        self._model_version = model_version
        self._unsure_below = unsure_below

    async def __call__(self, batch: list[Consumed[EscalationRequest]]) -> None:
        requests = [item.event for item in batch]
        if not requests:
            return
        started = time.perf_counter()
        # Read before answering: a promotion swaps the model between batches, never inside one, so the
        # label read here may at worst be the previous version's for a batch the new one answered first.
        version = self._model_version()
        predictions = await self._batcher.submit_many([request.text for request in requests])
        # Each turn's latency is its batch's: the batch is what it waited for.
        latency_ms = (time.perf_counter() - started) * 1000
        analyses = [
            ml_analysis(
                request,
                prediction,
                model_version=version,
                unsure_below=self._unsure_below,
                latency_ms=latency_ms,
            )
            for request, prediction in zip(requests, predictions, strict=True)
        ]
        await self._publish(analyses)


def _conversation_key(event: MessageAnalysis) -> bytes:
    return str(event.conversation_id).encode()


def register(
    broker: KafkaBroker,
    batcher: DynamicBatcher[str, EscalationPrediction],
    model_version: Callable[[], str],
    unsure_below: float,
) -> None:
    publish = partial(publish_events, broker, topics.NLP_ANALYSES, key_of=_conversation_key)
    subscribe_batch(
        broker,
        models={topics.ML_ESCALATIONS: EscalationRequest},
        group_id=GROUP_ID,
        stage="escalation",
        dlq_topic=topics.ML_DLQ,
        handle=EscalationHandler(batcher, publish, model_version=model_version, unsure_below=unsure_below),
        outputs={topics.NLP_ANALYSES: MessageAnalysis},
        title="escalation",
        description='The slow path: the fine-tuned transformer answers every escalated turn (path "ml").',
    )


def load_model(settings: Settings, directory: Path | None = None) -> EscalationModel:
    backend = None if settings.escalation_backend == "auto" else settings.escalation_backend
    return EscalationModel(
        directory or settings.escalation_model_path, backend=backend, threads=settings.escalation_threads
    )


def served_model(settings: Settings) -> ServedModel[EscalationModel]:
    return ServedModel(
        "escalation",
        settings.escalation_model_path,
        partial(load_model, settings),
        lambda model: model.version,
        partial(open_registry_for_workers, settings),
        refresh_s=settings.model_refresh_s,
    )


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    # This room's worker never trains: `teppan ml train escalation` builds the model first, and the app
    # layer (`teppan worker escalation`) refuses to start, saying so, without it.
    served = served_model(settings)
    await served.start()
    log.info(
        "escalation model %s loaded on %s (%s, %d thread(s))",
        served.label,
        served.model.device,
        served.model.backend,
        settings.escalation_threads,
    )
    batcher: DynamicBatcher[str, EscalationPrediction] = DynamicBatcher(
        # Through `served`, so each batch goes to whichever version is in service when it runs.
        lambda texts: served.model.predict(texts),
        max_batch_size=settings.escalation_max_batch_size,
        max_queue_delay_ms=settings.escalation_max_queue_delay_ms,
        sort_key=len,
    )
    register(broker, batcher, lambda: served.label, settings.escalation_model_threshold)
    try:
        async with served.watching():
            yield
    finally:
        await batcher.close()
