"""`teppan bench escalation`: the slow path's model behind its dynamic batcher, against the naive peer.

In one process, on this machine's CPU (or CUDA when there is one):

* batched: the model as the worker serves it (its default backend) behind the `DynamicBatcher`, fed by
  many concurrent single-message requests (an asyncio load), so the batcher forms real batches; latency
  is per request, from submit to answer;
* unbatched: the same model called one message at a time, for reference;
* peer: the naive per-message classifier of `teppan bench nlp` (all-MiniLM-L6-v2 embedding per message +
  LogisticRegression), without its spaCy pipeline: the escalation model extracts no entities, so the
  classifier alone is the fair (and the faster, so the harder) peer.

The bench uses every core by default (torch's own default thread count) and records the count; the
worker itself runs one thread by default (`TEPPAN_ESCALATION_THREADS`).
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.devtools.nlp_bench import _peer, _stats, bench_messages
from services.ml import corpora

PEER_NAME = "all-MiniLM-L6-v2 + LogisticRegression, one message at a time"
UNBATCHED_MESSAGES = 200

Progress = Callable[[str], None]


async def _batched_load(
    model: Any, texts: list[str], *, batch_size: int, max_queue_delay_ms: float, concurrency: int
) -> dict[str, Any]:
    """`concurrency` submitters, each sending one message at a time until the texts run out."""
    from services.ml.escalation.batching import DynamicBatcher

    batcher: DynamicBatcher[str, Any] = DynamicBatcher(
        model.predict, max_batch_size=batch_size, max_queue_delay_ms=max_queue_delay_ms, sort_key=len
    )
    latencies: list[float] = []
    position = 0

    async def submitter() -> None:
        nonlocal position
        while position < len(texts):
            text = texts[position]
            position += 1
            started = time.perf_counter()
            await batcher.submit(text)
            latencies.append(time.perf_counter() - started)

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(submitter() for _ in range(max(1, concurrency))))
        wall = time.perf_counter() - t0
    finally:
        await batcher.close()
    return {
        "batch_size": batch_size,
        "max_queue_delay_ms": max_queue_delay_ms,
        "concurrency": concurrency,
        **_stats(latencies, wall),
        "model_calls": batcher.stats.calls,
        "mean_formed_batch": round(batcher.stats.mean_batch_size, 2),
        "largest_formed_batch": batcher.stats.largest,
    }


def run_escalation_benchmark(
    model_dir: Path,
    *,
    messages: int = 2000,
    batch_size: int = 64,
    max_queue_delay_ms: float = 5.0,
    concurrency: int = 256,
    peer_messages: int = 200,
    peer_train_rows: int | None = None,
    threads: int | None = None,
    backend: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Measure the batched, unbatched and peer throughput; returns the JSON-ready result."""
    import torch

    from services.ml.escalation.model import EscalationModel

    say = progress or (lambda line: None)
    if threads is not None:
        torch.set_num_threads(threads)
    used_threads = torch.get_num_threads()
    say(f"loading the escalation model from {model_dir} ({used_threads} thread(s))")
    model = EscalationModel(model_dir, backend=backend, threads=threads)
    texts = bench_messages(max(messages, 1))[:messages]
    say(f"model {model.version}: backend {model.backend} on {model.device}; warming up")
    warm = texts[: max(batch_size, 8)] or ["warm-up"]
    model.predict(warm[:batch_size])
    for text in warm[:8]:
        model.predict([text])

    say(f"batched: {len(texts)} messages, {concurrency} concurrent submitters, max batch {batch_size}")
    batched = asyncio.run(
        _batched_load(
            model,
            texts,
            batch_size=batch_size,
            max_queue_delay_ms=max_queue_delay_ms,
            concurrency=concurrency,
        )
    )
    say(f"  {batched['msgs_per_s']} msgs/s, mean formed batch {batched['mean_formed_batch']}")

    single_texts = texts[:UNBATCHED_MESSAGES]
    say(f"unbatched: {len(single_texts)} messages one at a time")
    lat = []
    t0 = time.perf_counter()
    for text in single_texts:
        started = time.perf_counter()
        model.predict([text])
        lat.append(time.perf_counter() - started)
    unbatched = {"batch_size": 1, **_stats(lat, time.perf_counter() - t0)} if lat else {"batch_size": 1}
    if lat:
        say(f"  {unbatched['msgs_per_s']} msgs/s")

    result: dict[str, Any] = {
        "device": model.device,
        "backend": model.backend,
        "model_version": model.version,
        "threads": used_threads,
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
        },
        "batched": batched,
        "unbatched": unbatched,
    }
    if peer_messages > 0:
        train_rows = list(corpora.read_jsonl(corpora.DOMAIN_TRAIN))[:peer_train_rows]
        peer_texts = bench_messages(peer_messages)
        say(f"peer: {len(peer_texts)} messages one at a time (fitting on {len(train_rows)} rows first)")
        peer = _peer(
            peer_texts,
            [r["text"] for r in train_rows],
            [r["intent"] for r in train_rows],
            with_spacy=False,
        )
        say(f"  {peer['msgs_per_s']} msgs/s")
        result["peer"] = {"name": PEER_NAME, **peer}
        result["speedup_batched"] = round(batched["msgs_per_s"] / peer["msgs_per_s"], 1)
        if lat:
            result["speedup_unbatched"] = round(unbatched["msgs_per_s"] / peer["msgs_per_s"], 1)
    else:
        result["peer"] = None
        result["speedup_batched"] = None
    return result


def summary_lines(r: dict[str, Any]) -> list[str]:
    """The human table `teppan bench escalation` prints before its JSON line."""
    lines = [
        f"escalation model {r['model_version']}: {r['backend']} on {r['device']}, {r['threads']} thread(s)",
        f"{'run':<12} {'batch':>6} {'msgs/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'mean batch':>11}",
    ]
    b, u = r["batched"], r["unbatched"]
    lines.append(
        f"{'batched':<12} {b['batch_size']:>6} {b['msgs_per_s']:>10.1f} {b['p50_ms']:>9.2f} "
        f"{b['p99_ms']:>9.2f} {b['mean_formed_batch']:>11.2f}"
    )
    if "msgs_per_s" in u:
        lines.append(
            f"{'unbatched':<12} {1:>6} {u['msgs_per_s']:>10.1f} {u['p50_ms']:>9.2f} {u['p99_ms']:>9.2f} {1:>11.2f}"
        )
    if r.get("peer"):
        p = r["peer"]
        lines.append(
            f"{'peer':<12} {1:>6} {p['msgs_per_s']:>10.1f} {p['p50_ms']:>9.2f} {p['p99_ms']:>9.2f} {1:>11.2f}"
        )
        lines.append(f"peer: {p['name']}; batched speed-up {r['speedup_batched']}x")
    return lines
