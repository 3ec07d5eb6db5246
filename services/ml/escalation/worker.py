"""The `escalation` worker kind: escalated turns in, ML-path MessageAnalysis out (the slow path).

Requests from each consumed batch go through the dynamic batcher to the fine-tuned model, on CUDA when
there is one and on the CPU otherwise, with the thread count the settings give (one by default, so the
fast path keeps its core). The analysis it publishes has an id derived from the message's, so a
redelivered request republishes the same event and the logger keeps one row.

The model served is the registry's `escalation@champion` when there is one, else the built folder; a
promotion is picked up without a restart (services.common.champion). A request stamped with a model
experiment over `escalation` is answered by its variant's alias (`escalation@challenger`, say). Each
analysis names the version that answered it.
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
from services.common.experiments import Experiment, aliases_in_experiments, load_experiments, model_alias
from services.ml.escalation.batching import DynamicBatcher
from services.ml.escalation.core import ml_analysis
from services.ml.escalation.model import EscalationModel, EscalationPrediction
from shared.consumer import Consumed, publish_events, subscribe_batch
from shared.settings import Settings

log = logging.getLogger(__name__)
GROUP_ID = consumer_group("escalation")

PublishAnalyses = Callable[[Sequence[MessageAnalysis]], Awaitable[None]]
# What the batcher carries: (alias, text) in, (prediction, label of the version that made it) out.
AliasedText = tuple[str, str]
LabelledPrediction = tuple[EscalationPrediction, str]


def predict_by_alias(
    served: ServedModel[EscalationModel], items: Sequence[AliasedText]
) -> list[LabelledPrediction]:
    """One model call per alias present in the batch (usually one); answers in the items' order, each with
    the label of the version that made it."""
    by_alias: dict[str, list[int]] = {}
    for index, (alias, _) in enumerate(items):
        by_alias.setdefault(alias, []).append(index)
    answers: dict[int, LabelledPrediction] = {}
    for alias, indexes in by_alias.items():
        serving = served.serving_for(alias)
        predictions = serving.model.predict([items[index][1] for index in indexes])
        for index, prediction in zip(indexes, predictions, strict=True):
            answers[index] = (prediction, serving.label)
    return [answers[index] for index in range(len(items))]


class EscalationHandler:
    def __init__(
        self,
        batcher: DynamicBatcher[AliasedText, LabelledPrediction],
        publish: PublishAnalyses,
        *,
        unsure_below: float,
        experiments: Sequence[Experiment] = (),
    ) -> None:
        self._batcher = batcher
        self._publish = publish
        self._unsure_below = unsure_below
        self._experiments = {experiment.name: experiment for experiment in experiments}

    async def __call__(self, batch: list[Consumed[EscalationRequest]]) -> None:
        requests = [item.event for item in batch]
        if not requests:
            return
        started = time.perf_counter()
        answers = await self._batcher.submit_many(
            [
                (model_alias(request.experiments, self._experiments, "escalation"), request.text)
                for request in requests
            ]
        )
        # Each turn's latency is its batch's: the batch is what it waited for.
        latency_ms = (time.perf_counter() - started) * 1000
        analyses = [
            ml_analysis(
                request,
                prediction,
                model_version=label,
                unsure_below=self._unsure_below,
                latency_ms=latency_ms,
            )
            for request, (prediction, label) in zip(requests, answers, strict=True)
        ]
        await self._publish(analyses)


def _conversation_key(event: MessageAnalysis) -> bytes:
    return str(event.conversation_id).encode()


def register(
    broker: KafkaBroker,
    batcher: DynamicBatcher[AliasedText, LabelledPrediction],
    unsure_below: float,
    experiments: Sequence[Experiment] = (),
) -> None:
    publish = partial(publish_events, broker, topics.NLP_ANALYSES, key_of=_conversation_key)
    subscribe_batch(
        broker,
        models={topics.ML_ESCALATIONS: EscalationRequest},
        group_id=GROUP_ID,
        stage="escalation",
        dlq_topic=topics.ML_DLQ,
        handle=EscalationHandler(batcher, publish, unsure_below=unsure_below, experiments=experiments),
        outputs={topics.NLP_ANALYSES: MessageAnalysis},
        title="escalation",
        description='The slow path: the fine-tuned transformer answers every escalated turn (path "ml").',
    )


def load_model(settings: Settings, directory: Path | None = None) -> EscalationModel:
    backend = None if settings.escalation_backend == "auto" else settings.escalation_backend
    return EscalationModel(
        directory or settings.escalation_model_path, backend=backend, threads=settings.escalation_threads
    )


def served_model(settings: Settings, experiments: Sequence[Experiment] = ()) -> ServedModel[EscalationModel]:
    return ServedModel(
        "escalation",
        settings.escalation_model_path,
        partial(load_model, settings),
        lambda model: model.version,
        partial(open_registry_for_workers, settings),
        refresh_s=settings.model_refresh_s,
        aliases=aliases_in_experiments(experiments, "escalation"),
    )


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    # This room's worker never trains: `teppan ml train escalation` builds the model first, and the app
    # layer (`teppan worker escalation`) refuses to start, saying so, without it.
    experiments = load_experiments(settings.experiments_file)
    served = served_model(settings, experiments)
    await served.start()
    log.info(
        "escalation model %s loaded on %s (%s, %d thread(s))",
        served.label,
        served.model.device,
        served.model.backend,
        settings.escalation_threads,
    )
    batcher: DynamicBatcher[AliasedText, LabelledPrediction] = DynamicBatcher(
        # Through `served`, so each batch goes to whichever versions are in service when it runs.
        partial(predict_by_alias, served),
        max_batch_size=settings.escalation_max_batch_size,
        max_queue_delay_ms=settings.escalation_max_queue_delay_ms,
        sort_key=lambda item: len(item[1]),
    )
    register(broker, batcher, settings.escalation_model_threshold, experiments)
    try:
        async with served.watching():
            yield
    finally:
        await batcher.close()
