"""The escalation model: a tiny version trains in seconds, is calibrated, exports ONNX int8, records its
data, answers every head, and the worker's core turns its answer into an ML-path analysis."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import EscalationRequest, ExtractedEntity, MessageAnalysis
from schemas.vocabulary import INTENTS, SENTIMENTS, TONES
from services.ml.escalation.core import ml_analysis, ml_analysis_id
from services.ml.escalation.model import (
    CALL_BATCH_SIZE,
    MAX_TOKENS,
    BatchTokenizer,
    EscalationModel,
    EscalationPrediction,
    encodable,
    is_built,
    read_meta,
)
from services.ml.escalation.training import training_rows
from services.ml.static_embedding import minilm_dir

GOLD = Path(__file__).resolve().parents[2] / "services" / "ml" / "gold" / "hand_written.jsonl"


def test_the_tiny_model_is_built_with_its_lineage_temperatures_and_both_backends(
    escalation_model_dir: Path,
) -> None:
    assert is_built(escalation_model_dir)
    meta = read_meta(escalation_model_dir)
    assert meta["model_version"].startswith("escalation-minilm-1+")
    assert meta["data"]["domain_train"] and set(meta["data"]["public"]) >= {
        "sgd_restaurants.jsonl",
        "goemotions_tone.jsonl",
    }
    assert set(meta["temperatures"]) == {"tone", "intent", "sentiment"}
    assert meta["cpu_backend"] in ("torch", "onnx-int8") and "cpu_backend_reason" in meta
    assert set(meta["held_out"]) == {"torch", "onnx-int8"}
    assert (escalation_model_dir / "model.int8.onnx").exists()


@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_each_backend_answers_every_head_with_probabilities(escalation_model_dir: Path, backend: str) -> None:
    model = EscalationModel(escalation_model_dir, backend=backend, device="cpu", threads=1)
    texts = ["can we book for 20 next saturday?", "", "🔥" * 500, "x" * 20_000]
    answers = model.predict(texts)
    assert len(answers) == len(texts) and model.backend == backend
    for answer in answers:
        assert answer.tone in TONES and answer.intent in INTENTS and answer.sentiment in SENTIMENTS
        for probs in (answer.tone_probs, answer.intent_probs, answer.sentiment_probs):
            assert abs(sum(probs.values()) - 1) < 0.01
        assert 0 < answer.confidence <= 1
    assert model.predict([]) == []


@pytest.mark.parametrize(("backend", "tolerance"), [("torch", 1e-4), ("onnx-int8", 0.1)])
def test_padding_changes_no_answer(escalation_model_dir: Path, backend: str, tolerance: float) -> None:
    """A text's logits are the same alone and in a padded batch: the exported graph honours the mask.
    (int8 dynamic quantisation scales activations per call, hence its small tolerance.)"""
    model = EscalationModel(escalation_model_dir, backend=backend, device="cpu")
    texts = ["hi", "can we book for 20 people next saturday at 6pm please, it's my mom's 70th", "ok"]
    batch = model.logits(texts)
    for index, text in enumerate(texts):
        alone = model.logits([text])
        for head in range(3):
            assert abs(batch[head][index] - alone[head][0]).max() < tolerance


def test_a_large_group_runs_in_sorted_calls_padded_to_their_own_longest_text(
    escalation_model_dir: Path,
) -> None:
    model = EscalationModel(escalation_model_dir, backend="torch", device="cpu", threads=1)
    texts = [f"book for {n} people " * (n % 7 + 1) for n in range(CALL_BATCH_SIZE * 2 + 5)]
    calls: list[tuple[int, ...]] = []
    run = model._run

    def recording_run(ids: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
        calls.append(ids.shape)
        # Each call is padded only to its own longest text: some row fills every column.
        assert int(mask.sum(axis=1).max()) == ids.shape[1]
        return run(ids, mask)

    model._run = recording_run  # type: ignore[method-assign]
    grouped = model.logits(texts)
    assert len(calls) == 3 and all(rows <= CALL_BATCH_SIZE for rows, _ in calls)
    assert sorted(width for _, width in calls) == [width for _, width in calls]
    for index in (0, 6, CALL_BATCH_SIZE + 3, len(texts) - 1):
        alone = run(*_encoded(model, texts[index]))
        for head in range(3):
            assert abs(grouped[head][index] - alone[head][0]).max() < 1e-4


def _encoded(model: EscalationModel, text: str) -> tuple[np.ndarray, np.ndarray]:
    return model.tokenizer.encode([text])


def test_training_never_reads_the_hand_written_test_set() -> None:
    gold_texts = {json.loads(line)["text"] for line in GOLD.read_text(encoding="utf-8").splitlines() if line}
    rows, _ = training_rows(public_data=True)
    assert len(gold_texts) >= 300
    # Only one- or two-word replies anyone writes ("yes", "Thanks.") may also occur in the public sets.
    shared = gold_texts & {text for text, _, _ in rows}
    assert all(len(text.split()) <= 2 for text in shared), shared


def _request(**changes: object) -> EscalationRequest:
    message_id = uuid.UUID("11111111-2222-3333-4444-555555555555")
    conversation = uuid.UUID("66666666-7777-8888-9999-000000000000")
    fast = MessageAnalysis(
        conversation_id=conversation,
        message_event_id=message_id,
        turn_index=3,
        tone="direct",
        intent="other",
        sentiment="neutral",
        frustrated=True,
        entities={"party_size": ExtractedEntity(surface="30 people", value=30, confidence=0.95)},
        pii_detected=["phone"],
        confidence=0.55,
        escalate=True,
        model_versions={"heads": "nlp-fast-3"},
        suggested_upsells=["gyoza"],
    )
    values: dict[str, object] = {
        "conversation_id": conversation,
        "customer_id": 7,
        "occurred_at": datetime(2026, 12, 2, 12, 0, tzinfo=UTC),
        "message_event_id": message_id,
        "turn_index": 3,
        "text": "my mom's turning 70 and we were thinking something fun for 30 people",
        "fast_confidence": 0.55,
        "reason": "confidence below the escalation threshold",
        "fast_analysis": fast,
    }
    return EscalationRequest(**{**values, **changes})  # type: ignore[arg-type]


def _prediction(top: float) -> EscalationPrediction:
    rest_tone = (1 - top) / (len(TONES) - 1)
    rest_intent = (1 - top) / (len(INTENTS) - 1)
    return EscalationPrediction(
        tone="warm",
        tone_probs={tone: top if tone == "warm" else rest_tone for tone in TONES},
        intent="booking_inquiry",
        intent_probs={intent: top if intent == "booking_inquiry" else rest_intent for intent in INTENTS},
        sentiment="positive",
        sentiment_probs={"positive": 0.8, "neutral": 0.15, "negative": 0.05},
    )


def test_the_ml_analysis_takes_the_models_labels_and_keeps_the_rules_slots() -> None:
    request = _request()
    analysis = ml_analysis(
        request, _prediction(0.9), model_version="escalation-minilm-1+x", unsure_below=0.6, latency_ms=12.3456
    )
    assert analysis.path == "ml" and analysis.event_id == ml_analysis_id(request.message_event_id)
    assert (analysis.tone, analysis.intent, analysis.sentiment) == ("warm", "booking_inquiry", "positive")
    assert analysis.confidence == 0.9 and analysis.escalate is False
    assert analysis.entities["party_size"].value == 30 and analysis.pii_detected == ["phone"]
    assert analysis.frustrated is True and analysis.suggested_reply_tone == "apologetic"
    assert analysis.suggested_upsells == ["gyoza"]
    assert analysis.model_versions == {"heads": "nlp-fast-3", "escalation": "escalation-minilm-1+x"}
    assert (analysis.message_event_id, analysis.turn_index, analysis.customer_id) == (
        request.message_event_id,
        3,
        7,
    )
    # The same request always gives the same event: redelivery republishes it, consumers drop the repeat.
    again = ml_analysis(
        request, _prediction(0.9), model_version="escalation-minilm-1+x", unsure_below=0.6, latency_ms=1
    )
    assert again.event_id == analysis.event_id


def test_a_model_that_is_unsure_too_marks_the_turn_for_a_human() -> None:
    unsure = ml_analysis(_request(), _prediction(0.5), model_version="v", unsure_below=0.6, latency_ms=1)
    assert unsure.escalate is True and unsure.confidence == 0.5


def test_a_request_without_the_fast_analysis_still_gets_an_answer() -> None:
    analysis = ml_analysis(
        _request(fast_analysis=None), _prediction(0.9), model_version="v", unsure_below=0.6, latency_ms=1
    )
    assert (
        analysis.entities == {} and analysis.frustrated is False and analysis.suggested_reply_tone == "warm"
    )


@pytest.fixture(scope="module")
def served_models(escalation_model_dir: Path) -> dict[str, EscalationModel]:
    return {
        backend: EscalationModel(escalation_model_dir, backend=backend, device="cpu", threads=1)
        for backend in ("torch", "onnx-int8")
    }


# Built from a character list: hypothesis's text() never yields a lone surrogate, and those arrive in valid JSON.
ANY_TEXT = st.lists(
    st.one_of(st.characters(), st.sampled_from(["\ud800", "\udfff", "\x00", "\u200b"])), max_size=300
).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=4))
def test_the_model_answers_any_text_and_in_bounded_time(
    served_models: dict[str, EscalationModel], texts: list[str]
) -> None:
    """Customer text is arbitrary (lone surrogates arrive in valid JSON): no text may make a batch raise."""
    for model in served_models.values():
        started = time.process_time()  # CPU time: other processes share the cores
        answers = model.predict(texts)
        assert len(answers) == len(texts)
        assert time.process_time() - started < 5


@pytest.mark.parametrize("text", ["a\ud800b", "\udfff", "\x00\x01\x02", "\u200b" * 5000, "é" * 20_000])
def test_texts_the_tokenizer_cannot_encode_as_given_still_get_an_answer(
    served_models: dict[str, EscalationModel], text: str
) -> None:
    for model in served_models.values():
        [answer] = model.predict([text])
        assert answer.intent in INTENTS


@pytest.fixture(scope="module")
def tokenizers_both_ways() -> tuple[BatchTokenizer, object]:
    """The serving tokenizer and transformers' own, over the same packaged tokenizer folder."""
    from transformers import AutoTokenizer

    folder = minilm_dir()
    return BatchTokenizer(folder), AutoTokenizer.from_pretrained(folder, local_files_only=True)


def _transformers_encoding(tokenizer: object, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = tokenizer(  # type: ignore[operator]
        [encodable(text) for text in texts],
        padding=True,
        truncation=True,
        max_length=MAX_TOKENS,
        return_tensors="np",
    )
    return encoded["input_ids"].astype(np.int64), encoded["attention_mask"].astype(np.int64)


def test_serving_tokenizes_the_hand_written_set_as_transformers_does(
    tokenizers_both_ways: tuple[BatchTokenizer, object],
) -> None:
    """Training tokenizes with transformers, serving with `tokenizers` directly: the ids must be the same."""
    serving, training = tokenizers_both_ways
    texts = [json.loads(line)["text"] for line in GOLD.read_text(encoding="utf-8").splitlines() if line]
    texts += ["", "word " * 200, "🍤🔥" * 40]
    for start in range(0, len(texts), 16):
        batch = texts[start : start + 16]
        ids, mask = serving.encode(batch)
        expected_ids, expected_mask = _transformers_encoding(training, batch)
        assert ids.tolist() == expected_ids.tolist() and mask.tolist() == expected_mask.tolist(), batch


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=5))
def test_serving_tokenizes_any_text_as_transformers_does(
    tokenizers_both_ways: tuple[BatchTokenizer, object], texts: list[str]
) -> None:
    serving, training = tokenizers_both_ways
    ids, mask = serving.encode(texts)
    expected_ids, expected_mask = _transformers_encoding(training, texts)
    assert ids.tolist() == expected_ids.tolist() and mask.tolist() == expected_mask.tolist()


def test_serving_on_the_cpu_never_imports_torch_or_transformers(escalation_model_dir: Path) -> None:
    """The ONNX backend needs neither; importing them cost the worker about six seconds of every start."""
    import subprocess
    import sys

    program = (
        "import sys\n"
        "from pathlib import Path\n"
        "from services.ml.escalation.model import EscalationModel\n"
        f"model = EscalationModel(Path({str(escalation_model_dir)!r}), backend='onnx-int8', device='cpu', threads=1)\n"
        "model.predict(['can the chef come at 6?'])\n"
        "print(sorted(name for name in ('torch', 'transformers') if name in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr
