"""The hand-written voices training set: its shape, and that it shares nothing with the sets it must not."""

from __future__ import annotations

import json
from collections import Counter

from schemas.vocabulary import INTENTS, SENTIMENTS, TONES
from services.ml import corpora


def _rows(path: object) -> list[dict[str, object]]:
    return list(corpora.read_jsonl(corpora.VOICES_TRAIN if path is None else path))  # type: ignore[arg-type]


def test_every_tone_has_its_share_of_labelled_rows() -> None:
    rows = _rows(None)
    per_tone = Counter(str(row["tone"]) for row in rows)
    # 360 written per tone; a few short replies were dropped because they occur in another set.
    assert set(per_tone) == set(TONES) and all(340 <= count <= 360 for count in per_tone.values()), per_tone
    for row in rows:
        assert row["source"] == "teppan_voices" and row["split"] == "train"
        assert row["intent"] in INTENTS
        extra = row["extra"]
        assert isinstance(extra, dict) and extra["sentiment"] in SENTIMENTS and isinstance(extra["frustrated"], bool)
    assert {str(row["intent"]) for row in rows} == set(INTENTS)


def test_no_text_repeats_or_comes_from_the_generator_or_the_test_sets() -> None:
    texts = [str(row["text"]) for row in _rows(None)]
    assert len(set(texts)) == len(texts)
    generated = {str(row["text"]) for path in (corpora.DOMAIN_TRAIN, corpora.DOMAIN_HELDOUT) for row in _rows(path)}
    gold = {
        json.loads(line)["text"]
        for line in corpora.HAND_WRITTEN_GOLD.read_text(encoding="utf-8").splitlines()
        if line
    }
    # Only one- or two-word replies anyone writes ("ok", "yes please") may also occur elsewhere.
    for other in (generated, gold):
        shared = other & set(texts)
        assert all(len(text.split()) <= 2 for text in shared), shared
