"""The NLP fast path façade: one call gives tone, intent, sentiment, slots, PII flags, upsells and a confidence.

Rules handle slots; the stacked linear heads handle tone, intent, sentiment and frustration. Below the
escalation threshold the caller sends the message to the GPU model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from schemas.vocabulary import reply_tone
from services.common.corrections import is_correction
from services.common.lowercase import lower_aligned
from services.common.textmodel.artefacts import ARTEFACT_VERSION, is_built, load_heads
from services.common.textmodel.heads import StackedHeads
from services.common.timestamps import parse_occurred_at
from services.nlp import slots
from services.nlp.dates import find_dates
from services.nlp.defaults import DEFAULT_THRESHOLD, default_artifact_dir
from services.nlp.entities import Entity
from services.nlp.frustration import sounds_frustrated
from services.nlp.times import find_times
from services.nlp.upsells import UpsellCatalog

_LEADING_PREP = re.compile(r"^(?:at|on|for)\s+", re.I)


class MissingArtefacts(RuntimeError):
    """The artefact folder is empty, incomplete or built by another ARTEFACT_VERSION."""


@dataclass(frozen=True)
class Analysis:
    tone: str
    tone_probs: dict[str, float]
    intent: str
    intent_probs: dict[str, float]
    sentiment: str
    sentiment_probs: dict[str, float]
    frustrated: bool
    entities: dict[str, Entity]
    upsells_mentioned: list[str]
    pii: dict[str, bool]
    correction: bool
    confidence: float
    escalate: bool
    suggested_reply_tone: str
    suggested_upsells: list[str]
    model_versions: dict[str, str] = field(default_factory=dict)
    latency_ms: float = 0.0

    @property
    def intent_confidence(self) -> float:
        return self.intent_probs[self.intent]

    @property
    def tone_confidence(self) -> float:
        return self.tone_probs[self.tone]

    def to_predict_line(self, id: str) -> dict[str, Any]:
        """One output line of `teppan nlp predict`, in the documented line format."""
        ents = self.entities
        surface: dict[str, Any] = {"party_size": ents["party_size"].value if "party_size" in ents else None}
        for k in ("date", "time", "name"):
            surface[k] = _LEADING_PREP.sub("", ents[k].surface) if k in ents else None
        values = {k: ents[k].value for k in ("date", "time") if k in ents}
        return {
            "id": id,
            "intent": self.intent,
            "intent_confidence": round(self.intent_confidence, 4),
            "tone": self.tone,
            "tone_confidence": round(self.tone_confidence, 4),
            "sentiment": self.sentiment,
            "frustrated": self.frustrated,
            "entities": surface,
            "entity_values": values,
            "escalate": self.escalate,
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready, for the MessageAnalysis event. Raw PII never appears, only flags."""
        return {
            "tone": self.tone,
            "tone_probs": self.tone_probs,
            "intent": self.intent,
            "intent_probs": self.intent_probs,
            "sentiment": self.sentiment,
            "sentiment_probs": self.sentiment_probs,
            "frustrated": self.frustrated,
            "entities": {k: v.to_dict() for k, v in self.entities.items()},
            "upsells_mentioned": self.upsells_mentioned,
            "pii": self.pii,
            "correction": self.correction,
            "confidence": self.confidence,
            "escalate": self.escalate,
            "suggested_reply_tone": self.suggested_reply_tone,
            "suggested_upsells": self.suggested_upsells,
            "model_versions": self.model_versions,
            "latency_ms": self.latency_ms,
        }


def _argmax(probs: dict[str, float]) -> str:
    return max(probs, key=probs.__getitem__)


class FastPath:
    def __init__(
        self,
        heads: StackedHeads,
        meta: dict[str, Any],
        catalog: UpsellCatalog,
        escalation_threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.heads = heads
        self.meta = meta
        self.catalog = catalog
        self.escalation_threshold = escalation_threshold
        self.model_versions = {**meta["model_versions"], "catalog": catalog.version}

    @classmethod
    def load(
        cls, artifact_dir: Path | None = None, *, escalation_threshold: float = DEFAULT_THRESHOLD
    ) -> FastPath:
        """Load the artefacts; building them is services.ml's job, which the app layer runs first when needed."""
        artifact_dir = artifact_dir or default_artifact_dir()
        if not is_built(artifact_dir):
            raise MissingArtefacts(
                f"no current NLP artefacts ({ARTEFACT_VERSION}) in {artifact_dir}; "
                f"build them with `teppan nlp train --artifacts {artifact_dir}`"
            )
        heads, meta = load_heads(artifact_dir)
        return cls(heads, meta, UpsellCatalog.load(), escalation_threshold)

    def analyze(
        self, text: str, *, requested_slots: Sequence[str] = (), occurred_at: datetime | None = None
    ) -> Analysis:
        t0 = time.perf_counter()
        probs = self.heads.predict(text)
        return self._finish(text, probs, tuple(requested_slots), occurred_at, t0)

    @staticmethod
    def resolve(slot: str, surface: str, base: date) -> Any:
        """The value the rules give `surface` read alone as a date or time slot ("10:45 AM" -> "10:45"), or None.

        Evaluation resolves gold surfaces with this, so a gold and a predicted span that differ in wording
        but mean the same moment match."""
        if slot == "time":
            found = find_times(surface, expect_time=True)
        elif slot == "date":
            found = find_dates(surface, base, expect_date=True)
        else:
            return None
        return found[0].value if found else None

    def analyze_batch(self, items: Iterable[str | Mapping[str, Any]]) -> list[Analysis]:
        """Items are texts or mappings with "text" and optional "requested_slots" (or "context") and "occurred_at"."""
        t0 = time.perf_counter()
        norm = [_normalise_item(i) for i in items]
        if not norm:
            return []
        z = self.heads.logits_batch([n[0] for n in norm])
        return [
            self._finish(text, self.heads.softmax(row), requested, occurred, t0, batch=len(norm))
            for row, (text, requested, occurred) in zip(z, norm, strict=True)
        ]

    def _finish(
        self,
        text: str,
        probs: dict[str, dict[str, float]],
        requested: tuple[str, ...],
        occurred_at: datetime | None,
        t0: float,
        batch: int = 1,
    ) -> Analysis:
        base = _base_date(occurred_at)
        lower = lower_aligned(text)
        entities, pii_flags = slots.extract(text, base, requested, lower=lower)
        intent_p, tone_p, sent_p = probs["intent"], probs["tone"], probs["sentiment"]
        intent, tone = _argmax(intent_p), _argmax(tone_p)
        frustrated = probs["frustrated"].get("yes", 0.0) > 0.5 or (
            sounds_frustrated(text, lower) and sent_p.get("positive", 0.0) < 0.5
        )
        sentiment = "negative" if frustrated else _argmax(sent_p)
        mentioned = self.catalog.mentioned(text, lower)
        ps = entities.get("party_size")
        suggestions = self.catalog.suggest(
            intent=intent, tone=tone, party_size=ps.value if ps else None, mentioned=mentioned, text=text
        )
        confidence = self._confidence(intent_p[intent], tone_p[tone], entities)
        latency = (time.perf_counter() - t0) * 1000.0 / batch
        return Analysis(
            tone=tone,
            tone_probs=tone_p,
            intent=intent,
            intent_probs=intent_p,
            sentiment=sentiment,
            sentiment_probs=sent_p,
            frustrated=frustrated,
            entities=entities,
            upsells_mentioned=mentioned,
            pii=pii_flags,
            correction=is_correction(text, lower),
            confidence=confidence,
            escalate=confidence < self.escalation_threshold,
            suggested_reply_tone=reply_tone(tone, frustrated),
            suggested_upsells=suggestions,
            model_versions=self.model_versions,
            latency_ms=round(latency, 4),
        )

    @staticmethod
    def _confidence(intent_conf: float, tone_conf: float, entities: dict[str, Entity]) -> float:
        """The calibrated probability that the intent is right, and nothing else.

        Intent decides what the assistant does next, so a wrong intent is the error worth a GPU call. A doubtful
        tone only changes the wording of the reply (tone_probs are published for that), and a doubtful slot has
        its own needs_confirmation flag: the assistant asks rather than escalates. Mixing either in escalated
        more messages without raising the accuracy of the ones kept (docs/accuracy.md has the figures)."""
        return round(intent_conf, 4)


def _base_date(occurred_at: datetime | None) -> date:
    if occurred_at is None:
        return datetime.now(UTC).date()
    return occurred_at.date()


def _normalise_item(item: str | Mapping[str, Any]) -> tuple[str, tuple[str, ...], datetime | None]:
    if isinstance(item, str):
        return item, (), None
    requested = item.get("requested_slots")
    if requested is None:
        requested = (item.get("context") or {}).get("requested_slots") or ()
    occurred = item.get("occurred_at")
    if isinstance(occurred, str):
        occurred = parse_occurred_at(occurred)
    return str(item.get("text", "")), tuple(requested), occurred
