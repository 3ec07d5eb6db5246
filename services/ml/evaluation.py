"""Scores an analyser (today the NLP fast path) against a gold JSONL file in the shared datasets' format.

Each field is scored only where the row's `annotated` block says the source labels it. A predicted slot
matches the gold one when their normalised surfaces are equal or when both resolve to the same value
("10:45 AM" and "10:45", "the 24th" and "24th"), and times whose spans differ only by a trailing word. Party sizes compare as integers; descriptive head counts
whose gold is null ("me and my wife") are left out of P/R and reported separately against the heuristic.

The analyser is a Protocol, not the fast path's class: this room never imports services.nlp, and the app
layer (`teppan nlp eval`) hands the fast path in. Gold surfaces are resolved by the analyser's own rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol

from schemas.vocabulary import INTENTS, SENTIMENTS, TONES
from services.common.timestamps import parse_occurred_at


class Slot(Protocol):
    @property
    def surface(self) -> str: ...

    @property
    def value(self) -> Any: ...


class Prediction(Protocol):
    @property
    def intent(self) -> str: ...

    @property
    def tone(self) -> str: ...

    @property
    def escalate(self) -> bool: ...

    @property
    def sentiment(self) -> str: ...

    @property
    def frustrated(self) -> bool: ...

    @property
    def entities(self) -> Mapping[str, Slot]: ...


class Analyser(Protocol):
    def analyze(
        self, text: str, *, requested_slots: Sequence[str] = (), occurred_at: datetime | None = None
    ) -> Prediction: ...

    def resolve(self, slot: str, surface: str, base: date) -> Any:
        """The value the analyser's rules give `surface` read alone as `slot`, or None."""
        ...


SLOTS = ("party_size", "date", "time", "name")
# Gold files carry no message time; a fixed reference keeps date resolution reproducible.
REFERENCE_TIME = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
_TRIM = re.compile(r"^(?:at|on|for|the|around|about|by|in)\s+|[\s.,!?;:'\"]+$|^[\s.,!?;:'\"]+", re.I)


def _norm(s: str) -> str:
    s = s.strip().lower()
    prev = None
    while prev != s:
        prev, s = s, _TRIM.sub("", s).strip()
    return re.sub(r"\s+", " ", s)


def _same_value(analyser: Analyser, slot: str, gold: str, pred_value: Any, base: date) -> bool:
    if slot not in ("time", "date"):
        return False
    value = analyser.resolve(slot, gold, base)
    return value is not None and value == pred_value


def slot_match(
    analyser: Analyser, slot: str, gold: Any, pred_surface: str, pred_value: Any, base: date
) -> bool:
    if slot == "party_size":
        return pred_value == gold
    if slot == "name":
        return _norm(str(gold)) == _norm(str(pred_value)) or _norm(str(gold)) == _norm(pred_surface)
    g, p = _norm(str(gold)), _norm(pred_surface)
    if g == p or _same_value(analyser, slot, str(gold), pred_value, base):
        return True
    # Span boundaries that differ only by a trailing word ("6:30 a.m." vs "6:30") are the same mention.
    return slot == "time" and bool(g) and bool(p) and (p.startswith(g + " ") or g.startswith(p + " "))


def _f1(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def _macro_f1(pairs: list[tuple[str, str]], labels: Iterable[str]) -> float:
    scores = []
    for lab in labels:
        tp = sum(1 for g, p in pairs if g == lab and p == lab)
        fp = sum(1 for g, p in pairs if g != lab and p == lab)
        fn = sum(1 for g, p in pairs if g == lab and p != lab)
        if tp + fn == 0:
            continue  # a class absent from the gold set does not count towards the macro average
        scores.append(_f1(tp, fp, fn)["f1"])
    return round(sum(scores) / len(scores), 4) if scores else 0.0


def _accuracy(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "n": len(pairs),
        "accuracy": round(sum(g == p for g, p in pairs) / len(pairs), 4) if pairs else None,
    }


def evaluate(fp: Analyser, rows: Iterable[dict[str, Any]], *, keep_errors: int = 0) -> dict[str, Any]:
    intent_pairs: list[tuple[str, str]] = []
    # Intent pairs of the turns the fast path kept and of those it escalated: is its confidence honest?
    kept_pairs: list[tuple[str, str]] = []
    escalated_pairs: list[tuple[str, str]] = []
    tone_pairs: list[tuple[str, str]] = []
    sentiment_pairs: list[tuple[str, str]] = []
    frustration = [0, 0, 0]
    counts = {s: [0, 0, 0] for s in SLOTS}
    described = [0, 0]
    escalated = n = 0
    errors: list[dict[str, Any]] = []
    for row in rows:
        n += 1
        ann = row.get("annotated", {})
        extra = row.get("extra") or {}
        occurred = parse_occurred_at(row.get("occurred_at")) or REFERENCE_TIME
        requested = tuple(extra.get("requested_slots") or ())
        a = fp.analyze(row["text"], requested_slots=requested, occurred_at=occurred)
        escalated += a.escalate
        if ann.get("intent") and row.get("intent") in INTENTS:
            intent_pairs.append((row["intent"], a.intent))
            (escalated_pairs if a.escalate else kept_pairs).append((row["intent"], a.intent))
            if keep_errors and row["intent"] != a.intent and len(errors) < keep_errors:
                errors.append(
                    {
                        "id": row["id"],
                        "field": "intent",
                        "gold": row["intent"],
                        "pred": a.intent,
                        "text": row["text"],
                    }
                )
        if ann.get("tone") and row.get("tone") in TONES:
            tone_pairs.append((row["tone"], a.tone))
        if extra.get("sentiment") in SENTIMENTS:
            sentiment_pairs.append((extra["sentiment"], a.sentiment))
        if isinstance(extra.get("frustrated"), bool):
            gold_frustrated, predicted = extra["frustrated"], bool(a.frustrated)
            frustration[0] += gold_frustrated and predicted
            frustration[1] += predicted and not gold_frustrated
            frustration[2] += gold_frustrated and not predicted
        gold_entities = row.get("entities") or {}
        for slot in ann.get("entities") or []:
            if slot not in counts:
                continue
            gold = gold_entities.get(slot)
            pred = a.entities.get(slot)
            if slot == "party_size" and gold is None and extra.get("party_size_text"):
                heuristic = extra.get("party_size_heuristic")
                if heuristic is not None:
                    described[0] += 1
                    described[1] += int(pred is not None and pred.value == heuristic)
                continue
            c = counts[slot]
            ok = (
                pred is not None
                and gold is not None
                and slot_match(fp, slot, gold, pred.surface, pred.value, occurred.date())
            )
            if ok:
                c[0] += 1
            else:
                if pred is not None:
                    c[1] += 1
                if gold is not None:
                    c[2] += 1
                if keep_errors and len(errors) < keep_errors and (pred is not None or gold is not None):
                    errors.append(
                        {
                            "id": row["id"],
                            "field": slot,
                            "gold": gold,
                            "pred": None if pred is None else [pred.surface, pred.value],
                            "text": row["text"],
                            "requested": list(requested),
                        }
                    )
    per_slot = {s: _f1(*c) for s, c in counts.items() if sum(c)}
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    report: dict[str, Any] = {
        "rows": n,
        "intent": {
            "n": len(intent_pairs),
            "accuracy": round(sum(g == p for g, p in intent_pairs) / len(intent_pairs), 4)
            if intent_pairs
            else None,
            "macro_f1": _macro_f1(intent_pairs, INTENTS) if intent_pairs else None,
        },
        "tone": {
            "n": len(tone_pairs),
            "accuracy": round(sum(g == p for g, p in tone_pairs) / len(tone_pairs), 4)
            if tone_pairs
            else None,
            "macro_f1": _macro_f1(tone_pairs, TONES) if tone_pairs else None,
        },
        "intent_kept": _accuracy(kept_pairs),
        "intent_escalated": _accuracy(escalated_pairs),
        "sentiment": {
            "n": len(sentiment_pairs),
            "accuracy": _accuracy(sentiment_pairs)["accuracy"],
            "macro_f1": _macro_f1(sentiment_pairs, SENTIMENTS) if sentiment_pairs else None,
        },
        "frustration": _f1(*frustration) if any(frustration) else None,
        "slots": per_slot,
        "slots_micro": _f1(*total) if any(total) else None,
        "party_size_described": {
            "n": described[0],
            "accuracy_vs_heuristic": round(described[1] / described[0], 4) if described[0] else None,
        },
        "escalation_rate": round(escalated / n, 4) if n else None,
    }
    if keep_errors:
        report["errors"] = errors
    return report


def evaluate_heads(answers: Sequence[Mapping[str, str]], rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """A slot-less classifier's figures on gold rows (the escalation model's): intent accuracy, tone and
    sentiment macro-F1, scored exactly as `evaluate` scores the fast path. `answers[i]` answers `rows[i]`
    with its "intent", "tone" and "sentiment"."""
    intent_pairs, tone_pairs, sentiment_pairs = [], [], []
    for row, answer in zip(rows, answers, strict=True):
        annotated = row.get("annotated", {})
        extra = row.get("extra") or {}
        if annotated.get("intent") and row.get("intent") in INTENTS:
            intent_pairs.append((str(row["intent"]), answer["intent"]))
        if annotated.get("tone") and row.get("tone") in TONES:
            tone_pairs.append((str(row["tone"]), answer["tone"]))
        if extra.get("sentiment") in SENTIMENTS:
            sentiment_pairs.append((str(extra["sentiment"]), answer["sentiment"]))
    return {
        "intent_accuracy": _accuracy(intent_pairs)["accuracy"],
        "tone_macro_f1": _macro_f1(tone_pairs, TONES) if tone_pairs else None,
        "sentiment_macro_f1": _macro_f1(sentiment_pairs, SENTIMENTS) if sentiment_pairs else None,
    }
