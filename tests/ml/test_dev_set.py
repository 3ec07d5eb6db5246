"""The hand-written dev set: labelled like the test set, and shared with no training set and no test set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from schemas.vocabulary import INTENTS, SENTIMENTS, TONES
from services.ml import corpora
from services.ml.escalation.training import training_rows

SLOTS = ("party_size", "date", "time", "name")


def _rows(path: object) -> list[dict[str, object]]:
    return list(corpora.read_jsonl(path))  # type: ignore[arg-type]


def _assert_sentiment_and_quoted_slots(row: dict[str, object]) -> None:
    extra, entities = row["extra"], row["entities"]
    assert isinstance(extra, dict) and extra["sentiment"] in SENTIMENTS and isinstance(extra["frustrated"], bool)
    assert isinstance(entities, dict) and set(entities) == set(SLOTS)
    for slot in ("date", "time", "name"):
        assert entities[slot] is None or str(entities[slot]) in str(row["text"]), (row["id"], slot)
    assert entities["party_size"] is None or isinstance(entities["party_size"], int)


def test_every_row_is_labelled_and_every_slot_is_quoted_from_its_text() -> None:
    rows = _rows(corpora.HAND_WRITTEN_DEV)
    assert len(rows) >= 390
    assert set(Counter(str(row["intent"]) for row in rows)) == set(INTENTS)
    assert set(Counter(str(row["tone"]) for row in rows)) == set(TONES)
    for row in rows:
        assert row["source"] == "teppan_hand_written_dev" and row["split"] == "dev"
        _assert_sentiment_and_quoted_slots(row)


@pytest.mark.parametrize(
    "dev_set", [corpora.HAND_WRITTEN_DEV_SLOTS, corpora.HAND_WRITTEN_DEV_SLOTS_2], ids=lambda path: path.name
)
def test_the_slots_only_batches_are_labelled_for_slots_and_leave_intent_and_tone_unscored(dev_set: Path) -> None:
    rows = _rows(dev_set)
    assert len(rows) >= 290
    for row in rows:
        assert row["source"] == "teppan_hand_written_dev_slots" and row["split"] == "dev"
        assert row["intent"] is None and row["tone"] is None
        assert row["annotated"] == {"intent": False, "entities": list(SLOTS), "tone": False}
        _assert_sentiment_and_quoted_slots(row)


DEV_SETS = [corpora.HAND_WRITTEN_DEV, corpora.HAND_WRITTEN_DEV_SLOTS, corpora.HAND_WRITTEN_DEV_SLOTS_2]


@pytest.mark.parametrize("dev_set", DEV_SETS, ids=lambda path: path.name)
def test_no_text_is_in_a_training_set_or_the_test_set(dev_set: Path) -> None:
    texts = {str(row["text"]).lower().strip() for row in _rows(dev_set)}
    others = [corpora.DOMAIN_TRAIN, corpora.DOMAIN_HELDOUT, corpora.VOICES_TRAIN, corpora.HAND_WRITTEN_GOLD]
    others += [path for path in DEV_SETS if path != dev_set]
    for path in others:
        assert not texts & {str(row["text"]).lower().strip() for row in _rows(path)}, path


def test_the_escalation_models_training_never_reads_them() -> None:
    texts = {
        json.loads(line)["text"]
        for dev_set in DEV_SETS
        for line in dev_set.read_text(encoding="utf-8").splitlines()
    }
    rows, _ = training_rows(public_data=True)
    shared = texts & {text for text, _, _ in rows}
    # Only one- or two-word replies anyone writes may also occur in the public sets.
    assert all(len(text.split()) <= 2 for text in shared), shared
