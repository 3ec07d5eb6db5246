from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.ml.evaluation import evaluate
from services.nlp.fast_path import FastPath, MissingArtefacts
from services.nlp_cli import predict_file

PREDICT_KEYS = {
    "id",
    "intent",
    "intent_confidence",
    "tone",
    "tone_confidence",
    "sentiment",
    "frustrated",
    "entities",
    "entity_values",
    "escalate",
}


def test_analysis_fields(fast_path: FastPath) -> None:
    a = fast_path.analyze(
        "Hi! I'd like to book a hibachi chef for 30 people next Saturday at 7pm, call 555-123-4567",
        occurred_at=datetime(2026, 11, 18, tzinfo=UTC),
    )
    assert a.intent == "booking_inquiry"
    assert abs(sum(a.intent_probs.values()) - 1) < 1e-4 and abs(sum(a.tone_probs.values()) - 1) < 1e-4
    assert a.entities["party_size"].value == 30
    assert a.entities["date"].value == "2026-11-21"
    assert a.entities["time"].value == "19:00"
    assert a.pii == {"phone": True, "email": False}
    assert "123-4567" not in json.dumps(a.to_dict())
    assert a.escalate == (a.confidence < fast_path.escalation_threshold)
    assert a.suggested_reply_tone


def test_complaint_is_frustrated(fast_path: FastPath) -> None:
    a = fast_path.analyze("the chef showed up an hour late and the food was cold, this is unacceptable")
    assert a.intent == "complaint"
    assert a.frustrated and a.sentiment == "negative"
    assert a.suggested_upsells == []


def test_predict_line_format(fast_path: FastPath) -> None:
    a = fast_path.analyze(
        "party of 12 next saturday at 7pm, my name is Dana",
        occurred_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
    )
    line = a.to_predict_line("m-1")
    assert set(line) == PREDICT_KEYS
    assert line["id"] == "m-1"
    assert line["entities"] == {"party_size": 12, "date": "next saturday", "time": "7pm", "name": "Dana"}
    assert line["entity_values"] == {"date": "2026-11-21", "time": "19:00"}
    assert line["sentiment"] in ("positive", "neutral", "negative")
    assert isinstance(line["escalate"], bool) and 0.0 <= line["intent_confidence"] <= 1.0


def test_predict_file_streams_every_line(fast_path: FastPath, tmp_path: Path) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"id": str(i), "text": t} for i, t in enumerate(["hello", "how much for 20 guests?"] * 600)]
    rows.append(
        {
            "id": "ctx",
            "text": "13",
            "context": {"requested_slots": ["people"]},
            "occurred_at": "2026-01-01T00:00:00Z",
        }
    )
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert predict_file(fast_path, src, dst, progress=False) == len(rows)
    out = [json.loads(x) for x in dst.read_text().splitlines()]
    assert [o["id"] for o in out] == [r["id"] for r in rows]
    assert out[-1]["entities"]["party_size"] == 13


def test_batch_matches_single(fast_path: FastPath) -> None:
    texts = ["can we move it to sunday at 5pm", "what proteins do you have?", "thanks!"]
    single = [fast_path.analyze(t) for t in texts]
    batch = fast_path.analyze_batch(texts)
    assert [a.intent for a in single] == [b.intent for b in batch]
    assert all(abs(a.confidence - b.confidence) < 1e-3 for a, b in zip(single, batch, strict=True))


def test_eval_smoke(fast_path: FastPath) -> None:
    rows = [
        {
            "id": "a",
            "text": "book a chef for 20 people on Jan 15 at 6pm",
            "intent": "booking_inquiry",
            "tone": "direct",
            "entities": {"party_size": 20, "date": "Jan 15", "time": "6pm", "name": None},
            "annotated": {"intent": True, "entities": ["party_size", "date", "time", "name"], "tone": True},
        },
        {
            "id": "b",
            "text": "13",
            "intent": None,
            "tone": None,
            "entities": {"party_size": 13},
            "annotated": {"intent": False, "entities": ["party_size"], "tone": False},
            "extra": {"requested_slots": ["people"]},
        },
        {
            "id": "c",
            "text": "Chef Tony was great",
            "intent": None,
            "tone": None,
            "entities": {"name": None},
            "annotated": {"intent": False, "entities": ["name"], "tone": False},
        },
    ]
    report = evaluate(fast_path, rows)
    assert report["intent"]["n"] == 1 and report["tone"]["n"] == 1
    assert report["slots"]["party_size"] == {
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "tp": 2,
        "fp": 0,
        "fn": 0,
    }
    assert report["slots"]["date"]["f1"] == 1.0 and report["slots"]["time"]["f1"] == 1.0
    assert "name" not in report["slots"]  # nothing predicted, nothing gold: no counts
    assert 0.0 <= report["escalation_rate"] <= 1.0


def test_confidence_is_the_intent_probability(fast_path: FastPath) -> None:
    a = fast_path.analyze("hey can we move our party to sunday at 5pm?")
    assert a.confidence == round(a.intent_confidence, 4)
    low = FastPath(fast_path.heads, fast_path.meta, fast_path.catalog, escalation_threshold=1.01)
    assert low.analyze("hello").escalate


def test_stale_artefacts_are_rebuilt(
    nlp_artifacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from services.common.textmodel.artefacts import ARTEFACT_VERSION, is_built
    from services.ml import training

    assert is_built(nlp_artifacts)
    copy = tmp_path / "stale"
    shutil.copytree(nlp_artifacts, copy)
    meta = json.loads((copy / "meta.json").read_text())
    assert meta["artefact_version"] == ARTEFACT_VERSION
    meta["artefact_version"] = "nlp-fast-0"
    (copy / "meta.json").write_text(json.dumps(meta))
    assert not is_built(copy)
    # The fast path never trains: it refuses stale or missing artefacts, and the app layer rebuilds them.
    for folder in (copy, tmp_path / "missing"):
        with pytest.raises(MissingArtefacts, match="teppan nlp train"):
            FastPath.load(folder)
    trained: list[Path] = []
    monkeypatch.setattr(training, "train", lambda folder, **options: trained.append(folder))
    assert training.ensure_built(nlp_artifacts) is False
    assert training.ensure_built(copy) is True
    assert trained == [copy]


def test_surfaces_keep_the_case_as_written(fast_path: FastPath) -> None:
    a = fast_path.analyze(
        "Party Of 12 on Next Saturday at 7PM", occurred_at=datetime(2026, 11, 20, 10, tzinfo=UTC)
    )
    line = a.to_predict_line("x")
    assert line["entities"]["date"] == "Next Saturday" and line["entities"]["time"] == "7PM"
    assert line["entities"]["party_size"] == 12 and line["entity_values"]["date"] == "2026-11-21"


def test_artefacts_record_exactly_the_data_they_were_trained_on(
    nlp_artifacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from services.common.textmodel.artefacts import STATIC_SUBDIR
    from services.ml import corpora, training

    # Without the public sets on the machine, asking for them yields a domain-only model, labelled so.
    monkeypatch.setattr(corpora, "datasets_dir", lambda: None)
    stages: list[str] = []
    meta = training.train(
        tmp_path / "out",
        public_data=True,
        static_from=nlp_artifacts / STATIC_SUBDIR,
        progress=lambda stage, fraction: stages.append(stage),
    )
    assert meta["public_data"] is False
    assert not meta["model_versions"]["heads"].endswith("+public")
    assert set(meta["data"]["public"]) == set(training.PUBLIC_SETS)
    assert all(digest is None for digest in meta["data"]["public"].values())
    assert len(meta["data"]["domain_train"]) == 12
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["data"] == meta["data"]
    assert stages[0] == "reading training data" and stages[-1] == "done"
    # The static embeddings came from the test artefacts, distilled through MiniLM's first layer only: the
    # version says so, as it would for any model distilled that way.
    assert meta["model_versions"]["static_embedding"] == "model2vec-minilm-l6-first1-256"


def test_the_static_embeddings_name_the_layers_they_were_distilled_through(tmp_path: Path) -> None:
    from services.ml.static_embedding import DISTILLATION_FILE, distill_static_model, static_embedding_version

    # A folder distilled before the layers were recorded is the full model.
    assert static_embedding_version(tmp_path) == "model2vec-minilm-l6-256"
    (tmp_path / DISTILLATION_FILE).write_text('{"encoder_layers": 6}\n')
    assert static_embedding_version(tmp_path) == "model2vec-minilm-l6-256"
    (tmp_path / DISTILLATION_FILE).write_text('{"encoder_layers": 2}\n')
    assert static_embedding_version(tmp_path) == "model2vec-minilm-l6-first2-256"
    with pytest.raises(ValueError, match="at least 1"):
        distill_static_model(tmp_path / "none", encoder_layers=0)
