"""Builds the fast-path artefacts: distils the static embedding model, then trains the tone, intent,
sentiment and frustration heads on the domain set plus the shared public sets (train splits only).

The NLP worker only loads what this writes; the app layer (`teppan nlp ...`, `teppan worker nlp`) calls
`ensure_built` so that a missing or stale artefact folder is rebuilt before anything loads it.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from schemas.vocabulary import SENTIMENTS
from services.common.textmodel.artefacts import ARTEFACT_VERSION, STATIC_SUBDIR, is_built, save_heads
from services.common.textmodel.featurizer import Featurizer, build_vocab
from services.common.textmodel.heads import HeadSpec, StackedHeads
from services.ml import corpora, intent_mix
from services.ml.datasets import collected_rows_by_head
from services.ml.fitting import fit_head, fit_temperature
from services.ml.static_embedding import distill_static_model, static_embedding_version

log = logging.getLogger(__name__)
DEFAULT_C = {"intent": 1.0, "tone": 1.0, "sentiment": 2.0, "frustrated": 2.0}  # inverse L2 strength per head
# The unit-length embedding is multiplied by this before fitting, which weakens its L2 penalty relative to the
# n-gram weights (by the square). 2.0 for intent won in grouped cross-validation (docs/accuracy.md).
DENSE_SCALE = {"intent": 2.0}


# The public sets training reads when they are there (train splits only), and what each teaches.
PUBLIC_SETS = (
    "sgd_restaurants.jsonl",
    "clinc150.jsonl",
    "snips.jsonl",
    "nlupp_hotels.jsonl",
    "goemotions_tone.jsonl",
)
# progress(stage, fraction of the whole run done): how `teppan nlp train` and `teppan up` show training.
Progress = Callable[[str, float], None]


def public_sets_found() -> dict[str, str | None]:
    """Each public set's name with its digest, or None where it is not on this machine."""
    d = corpora.datasets_dir()
    return {
        name: corpora.file_digest(d / name) if d is not None and (d / name).exists() else None
        for name in PUBLIC_SETS
    }


def _public_rows(name: str) -> list[dict[str, Any]]:
    d = corpora.datasets_dir()
    if d is None or not (d / name).exists():
        return []
    return list(corpora.read_jsonl(d / name))


def _training_sets(
    public_data: bool, collected: Sequence[Mapping[str, Any]] = ()
) -> dict[str, list[tuple[str, str, float]]]:
    """(text, label, weight) triples per head."""
    domain = corpora.own_training_rows()
    sets: dict[str, list[tuple[str, str, float]]] = {
        "intent": [],
        "tone": [],
        "sentiment": [],
        "frustrated": [],
    }
    intent_rows = [r for r, _ in domain if intent_mix.usable(r)]
    if public_data:
        for f in ("sgd_restaurants.jsonl", "clinc150.jsonl", "snips.jsonl", "nlupp_hotels.jsonl"):
            intent_rows += [r for r in _public_rows(f) if intent_mix.usable(r)]
    for r in intent_mix.cap(intent_rows):
        sets["intent"].append(
            (r["text"], r["intent"], intent_mix.SOURCE_MIX.get(r["source"], (1.0, None))[0])
        )
    for r, weight in domain:
        sets["tone"].append((r["text"], r["tone"], weight))
        sets["sentiment"].append((r["text"], r["extra"]["sentiment"], weight))
        sets["frustrated"].append((r["text"], "yes" if r["extra"]["frustrated"] else "no", weight))
    if public_data:
        # GoEmotions is Reddit text, not catering chat: it only nudges sentiment and frustration.
        rng = random.Random(3)
        goemo = _public_rows("goemotions_tone.jsonl")
        rng.shuffle(goemo)
        for r in goemo[:3000]:
            s = r.get("extra", {}).get("sentiment")
            if s in SENTIMENTS:
                sets["sentiment"].append((r["text"], s, 0.5))
            sets["frustrated"].append((r["text"], "yes" if r["tone"] == "frustrated" else "no", 0.5))
    # What the business collected and humans labelled: its own customers' voice, weighted like the domain set.
    for head, pairs in collected_rows_by_head(collected).items():
        sets[head] += [(text, label, 1.0) for text, label in pairs]
    return sets


def train(
    artifact_dir: Path,
    *,
    public_data: bool = True,
    static_from: Path | None = None,
    seed: int = 13,
    head_c: dict[str, float] | None = None,
    progress: Progress | None = None,
    dataset_rows: Sequence[Mapping[str, Any]] = (),
    dataset_lineage: Mapping[str, Any] | None = None,
    distill_layers: int | None = None,
) -> dict[str, Any]:
    """Build every artefact into artifact_dir and return the training report (also saved as meta.json).

    The report's `data` names exactly what went in: the domain set's digest, and each public set with its
    digest, or null where it was not found (then the heads are labelled domain-only, not `+public`).
    `distill_layers` distils the static embeddings through MiniLM's first N layers only (tiny test models).
    """
    report = progress or (lambda stage, fraction: None)
    t0 = time.perf_counter()
    artifact_dir.mkdir(parents=True, exist_ok=True)
    static_dir = artifact_dir / STATIC_SUBDIR
    if not (static_dir / "model.safetensors").exists():
        if static_from is not None and (static_from / "model.safetensors").exists():
            shutil.copytree(static_from, static_dir, dirs_exist_ok=True)
        else:
            report("distilling embeddings from the packaged MiniLM", 0.0)
            log.info("distilling the static embedding model from the packaged MiniLM")
            distill_static_model(static_dir, quiet=progress is not None, encoder_layers=distill_layers)
    t_distill = time.perf_counter() - t0

    public = public_sets_found() if public_data else {}
    used_public = public_data and any(digest is not None for digest in public.values())
    report("reading training data", 0.5)
    sets = _training_sets(public_data, dataset_rows)
    all_texts = [t for rows in sets.values() for t, _, _ in rows]
    vocab = build_vocab(all_texts)
    feat = Featurizer.load(static_dir, vocab)
    # The heads share most of their texts (every domain row trains tone, sentiment and frustration): each
    # distinct text is featurised once, and each head takes its rows of those matrices.
    distinct = list(dict.fromkeys(all_texts))
    row_of = {text: row for row, text in enumerate(distinct)}
    dense_all, lex_all = feat.matrix(distinct)
    rng = np.random.default_rng(seed)
    heads: list[HeadSpec] = []
    counts: dict[str, dict[str, int]] = {}
    for number, (name, rows) in enumerate(sets.items()):
        report(f"fitting the {name} head", 0.55 + 0.45 * number / len(sets))
        texts = [t for t, _, _ in rows]
        labels = [y for _, y, _ in rows]
        weights = np.array([w for _, _, w in rows], dtype=np.float64)
        if name == "intent":
            weights *= np.array(intent_mix.class_balance(labels))
        rows_of_head = np.fromiter((row_of[text] for text in texts), dtype=np.int64, count=len(texts))
        dense, lex = dense_all[rows_of_head], lex_all[rows_of_head]  # type: ignore[index]
        c = (head_c or {}).get(name, DEFAULT_C.get(name, 2.0))
        # 10% of rows choose the softmax temperature of a head fitted without them (then refitted on all).
        calib = rng.random(len(texts)) < 0.1
        fit_idx = np.flatnonzero(~calib)
        scale = DENSE_SCALE.get(name, 1.0)
        head = fit_head(
            name,
            dense[fit_idx],
            lex[fit_idx],
            [labels[i] for i in fit_idx],
            weights[fit_idx],
            C=c,
            dense_scale=scale,
        )
        cal_idx = np.flatnonzero(calib)
        if len(cal_idx) > 20:
            stacked = StackedHeads([head], feat)
            z = stacked.logits_batch([texts[i] for i in cal_idx])
            y_idx = np.array(
                [head.labels.index(labels[i]) if labels[i] in head.labels else 0 for i in cal_idx]
            )
            temperature = fit_temperature(z, y_idx)
            # The calibration rows only choose the temperature; the served head then learns from every row.
            head = fit_head(name, dense, lex, labels, weights, C=c, dense_scale=scale)
            head.temperature = temperature
        heads.append(head)
        counts[name] = {lab: labels.count(lab) for lab in sorted(set(labels))}

    meta = {
        "artefact_version": ARTEFACT_VERSION,
        "model_versions": {
            "static_embedding": static_embedding_version(static_dir),
            "heads": f"{ARTEFACT_VERSION}+{corpora.file_digest(corpora.DOMAIN_TRAIN)}{'+public' if used_public else ''}"
            + (f"+collected-{str(dataset_lineage.get('sha256'))[:8]}" if dataset_lineage else ""),
            "rules": "rules-2",
        },
        "heads": [{"name": h.name, "labels": h.labels, "temperature": h.temperature} for h in heads],
        "training_rows": counts,
        "vocab_size": len(vocab),
        "public_data": used_public,
        "data": {
            "domain_train": corpora.file_digest(corpora.DOMAIN_TRAIN),
            "voices_train": corpora.file_digest(corpora.VOICES_TRAIN),
            "public": public,
            "dataset": dict(dataset_lineage) if dataset_lineage else None,
        },
        "seconds": {"distill": round(t_distill, 1), "total": round(time.perf_counter() - t0, 1)},
    }
    save_heads(artifact_dir, heads, vocab, meta)
    report("done", 1.0)
    return meta


def ensure_built(artifact_dir: Path, progress: Progress | None = None) -> bool:
    """Train into artifact_dir unless it already holds current artefacts (missing or stale ones are rebuilt).

    Returns whether it trained.
    """
    if is_built(artifact_dir):
        return False
    train(artifact_dir, progress=progress)
    return True
