"""The NLP fast path's thin Kafka edge: customer turns in, MessageAnalysis (and escalations) out.

Event ids of what it publishes are derived from the analysed message's id, so a redelivered turn
republishes the very same events and every consumer drops the repeat.

The fast path served is the registry's `nlp@champion` when there is one, else the built artefacts; a
promotion is picked up without a restart (services.common.champion), and each analysis names the registered
version in `model_versions.registered`. A turn stamped with a model experiment over `nlp` is answered by its
variant's alias (`nlp@challenger`, say); its escalation carries the stamp on to the slow path.

`suggested_upsells` come from the upsell model (`upsell@champion`, or a folder `teppan ml train upsell`
built) when there is one, scored on what this worker has seen of the conversation so far
(services.nlp.upsell_ranking.ConversationMemory), and from the fast path's rules otherwise; the analysis
names the upsell model's version in `model_versions.upsell` when it answered.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker

from schemas import topics
from schemas.events import EscalationRequest, ExtractedEntity, MessageAnalysis, Turn
from schemas.vocabulary import load_upsell_menu
from schemas.workers import consumer_group
from services.common.champion import ServedModel, open_registry_for_workers
from services.common.experiments import Experiment, aliases_in_experiments, load_experiments, model_alias
from services.common.upsell.model import is_built as upsell_model_is_built
from services.nlp.fast_path import Analysis, FastPath
from services.nlp.upsell_ranking import ConversationMemory, UpsellRanker
from shared.consumer import Consumed, publish_events, subscribe_batch
from shared.settings import Settings

GROUP_ID = consumer_group("nlp")
# Fixed namespace: the same message always yields the same analysis and escalation event ids.
DERIVED_ID_NAMESPACE = uuid.UUID("1f0c5a52-6b1e-4c4e-9d0f-7e2b8a3c9d11")


def derived_event_id(message_event_id: uuid.UUID, kind: str) -> uuid.UUID:
    return uuid.uuid5(DERIVED_ID_NAMESPACE, f"{message_event_id}:{kind}")


def about_turn(turn: Turn, kind: str) -> dict[str, Any]:
    """The fields every event the worker derives from a turn shares: its own id, and the turn's."""
    return {
        "event_id": derived_event_id(turn.event_id, kind),
        "conversation_id": turn.conversation_id,
        "customer_id": turn.customer_id,
        "occurred_at": turn.occurred_at,
        "source": "teppan-nlp",
        "message_event_id": turn.event_id,
        "turn_index": turn.turn_index,
    }


# The upsell model's picks for a turn and the label of the version that made them.
ModelUpsells = tuple[list[str], str]


def message_analysis(
    turn: Turn, analysis: Analysis, registered_version: int | None = None, model_upsells: ModelUpsells | None = None
) -> MessageAnalysis:
    """The analysis event; `registered_version` names the registry version of the fast path that answered, and
    `model_upsells` (when the upsell model answered) replace the rules' suggestions."""
    versions = dict(analysis.model_versions)
    if registered_version is not None:
        versions["registered"] = f"nlp/v{registered_version}"
    suggested_upsells = analysis.suggested_upsells
    if model_upsells is not None:
        suggested_upsells, versions["upsell"] = model_upsells
    return MessageAnalysis(
        **about_turn(turn, "analysis"),
        tone=analysis.tone,
        tone_probs=analysis.tone_probs,
        intent=analysis.intent,
        intent_probs=analysis.intent_probs,
        sentiment=analysis.sentiment,  # type: ignore[arg-type]
        frustrated=analysis.frustrated,
        entities={
            name: ExtractedEntity(
                surface=entity.surface,
                value=entity.value,
                confidence=entity.confidence,
                needs_confirmation=entity.needs_confirmation,
            )
            for name, entity in analysis.entities.items()
        },
        correction=analysis.correction,
        pii_detected=sorted(kind for kind, found in analysis.pii.items() if found),
        confidence=analysis.confidence,
        escalate=analysis.escalate,
        path="fast",
        model_versions=versions,
        latency_ms=analysis.latency_ms,
        suggested_reply_tone=analysis.suggested_reply_tone,
        suggested_upsells=suggested_upsells,
    )


def escalation_request(turn: Turn, analysis: Analysis, fast_analysis: MessageAnalysis) -> EscalationRequest:
    return EscalationRequest(
        **about_turn(turn, "escalation"),
        text=turn.text,
        requested_slots=turn.context.requested_slots,
        fast_confidence=analysis.confidence,
        reason="confidence below the escalation threshold",
        fast_analysis=fast_analysis,
        experiments=dict(turn.experiments),
    )


def conversation_key(event: MessageAnalysis | EscalationRequest) -> bytes:
    return str(event.conversation_id).encode()


class NlpHandler:
    def __init__(
        self,
        broker: KafkaBroker,
        fast_path: ServedModel[FastPath],
        experiments: Sequence[Experiment] = (),
        upsells: ServedModel[UpsellRanker | None] | None = None,
        memory: ConversationMemory | None = None,
    ) -> None:
        self._broker = broker
        self._fast_path = fast_path
        self._experiments = {experiment.name: experiment for experiment in experiments}
        self._upsells = upsells
        self._memory = memory or ConversationMemory()

    async def __call__(self, batch: list[Consumed[Turn]]) -> None:
        turns = [item.event for item in batch if item.event.role == "customer"]
        if not turns:
            return
        answers = self._analyse(turns)
        model_upsells = self._model_upsells(turns, [analysis for analysis, _ in answers])
        # Published in the turns' order, so a conversation's analyses keep the order of its turns.
        events: list[MessageAnalysis] = []
        escalations: list[EscalationRequest] = []
        for turn, (analysis, version), upsells in zip(turns, answers, model_upsells, strict=True):
            event = message_analysis(turn, analysis, version, upsells)
            events.append(event)
            if analysis.escalate:
                escalations.append(escalation_request(turn, analysis, event))
        await publish_events(self._broker, topics.NLP_ANALYSES, events, key_of=conversation_key)
        await publish_events(self._broker, topics.ML_ESCALATIONS, escalations, key_of=conversation_key)

    def _by_alias(self, turns: Sequence[Turn], model: str) -> dict[str, list[int]]:
        """The turns' positions grouped by the registry alias that answers them for `model`."""
        groups: dict[str, list[int]] = {}
        for index, turn in enumerate(turns):
            groups.setdefault(model_alias(turn.experiments, self._experiments, model), []).append(index)
        return groups

    def _analyse(self, turns: Sequence[Turn]) -> list[tuple[Analysis, int | None]]:
        """Each turn's analysis and the registered fast-path version that made it, in the turns' order."""
        answers: dict[int, tuple[Analysis, int | None]] = {}
        for alias, indexes in self._by_alias(turns, "nlp").items():
            # One version answers each alias's share of the batch: a promotion swaps models between batches.
            serving = self._fast_path.serving_for(alias)
            analyses = serving.model.analyze_batch(
                {
                    "text": turns[index].text,
                    "requested_slots": turns[index].context.requested_slots,
                    "occurred_at": turns[index].occurred_at,
                }
                for index in indexes
            )
            for index, analysis in zip(indexes, analyses, strict=True):
                answers[index] = (analysis, serving.registered_version)
        return [answers[index] for index in range(len(turns))]

    def _model_upsells(self, turns: Sequence[Turn], analyses: Sequence[Analysis]) -> list[ModelUpsells | None]:
        """The upsell model's picks per turn (one model call per alias present), None where the rules stand."""
        picks: list[ModelUpsells | None] = [None] * len(turns)
        if self._upsells is None:
            return picks
        # Every turn is remembered, whether or not a model answers now: one promoted later reads it all.
        rows = [
            self._memory.observe(
                turn.conversation_id,
                turn.text,
                analysis.tone,
                _entity_value(analysis, "party_size"),
                _entity_value(analysis, "date"),
                turn.occurred_at,
                turn_index=turn.turn_index,
            )
            for turn, analysis in zip(turns, analyses, strict=True)
        ]
        for alias, indexes in self._by_alias(turns, "upsell").items():
            serving = self._upsells.serving_for(alias)
            if serving.model is None:
                continue
            suggested = serving.model.suggest_batch(
                [rows[index] for index in indexes],
                mentioned=[analyses[index].upsells_mentioned for index in indexes],
                intents=[analyses[index].intent for index in indexes],
                tones=[analyses[index].tone for index in indexes],
            )
            for index, items in zip(indexes, suggested, strict=True):
                picks[index] = (items, serving.label)
        return picks


def _entity_value(analysis: Analysis, name: str) -> Any:
    entity = analysis.entities.get(name)
    return None if entity is None else entity.value


def register(
    broker: KafkaBroker,
    fast_path: ServedModel[FastPath],
    experiments: Sequence[Experiment] = (),
    upsells: ServedModel[UpsellRanker | None] | None = None,
) -> None:
    subscribe_batch(
        broker,
        models={topics.CHAT_TURNS: Turn},
        group_id=GROUP_ID,
        stage="nlp",
        dlq_topic=topics.NLP_DLQ,
        handle=NlpHandler(broker, fast_path, experiments, upsells),
        outputs={topics.NLP_ANALYSES: MessageAnalysis, topics.ML_ESCALATIONS: EscalationRequest},
        title="nlp",
        description="Tone, intent, sentiment and slots for every customer turn (the fast path).",
    )


def load_fast_path(settings: Settings, directory: Path) -> FastPath:
    return FastPath.load(directory, escalation_threshold=settings.escalation_threshold)


def served_fast_path(settings: Settings, experiments: Sequence[Experiment] = ()) -> ServedModel[FastPath]:
    return ServedModel(
        "nlp",
        settings.nlp_artifacts_path,
        partial(load_fast_path, settings),
        lambda fast_path: fast_path.model_versions.get("heads", "nlp"),
        partial(open_registry_for_workers, settings),
        refresh_s=settings.model_refresh_s,
        aliases=aliases_in_experiments(experiments, "nlp"),
    )


def load_upsell_ranker(directory: Path) -> UpsellRanker | None:
    """The upsell model in `directory`, limited to today's menu; None (the rules answer) when none was built."""
    if not upsell_model_is_built(directory):
        return None
    return UpsellRanker.load(directory, items=[item.id for item in load_upsell_menu().items])


def served_upsells(settings: Settings, experiments: Sequence[Experiment] = ()) -> ServedModel[UpsellRanker | None]:
    return ServedModel(
        "upsell",
        settings.upsell_model_path,
        load_upsell_ranker,
        lambda ranker: "rules" if ranker is None else ranker.version,
        partial(open_registry_for_workers, settings),
        refresh_s=settings.model_refresh_s,
        aliases=aliases_in_experiments(experiments, "upsell"),
    )


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, broker: KafkaBroker) -> AsyncIterator[None]:
    # The models load once per process, off the event loop. This room never trains: `teppan worker nlp`
    # (the app layer) builds missing artefacts before it gets here, and without them loading fails clearly.
    experiments = load_experiments(settings.experiments_file)
    served = served_fast_path(settings, experiments)
    upsells = served_upsells(settings, experiments)
    await served.start()
    await upsells.start()
    register(broker, served, experiments, upsells)
    async with served.watching(), upsells.watching():
        yield
