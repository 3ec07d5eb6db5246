"""The artefact folder's format: what the trainer writes and the fast path reads, and whether it is current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from services.common.textmodel.featurizer import Featurizer
from services.common.textmodel.heads import HeadSpec, StackedHeads

ARTEFACT_VERSION = "nlp-fast-5"  # bump whenever features or the artefact format change
STATIC_SUBDIR = "static"
_FILES = ("meta.json", "vocab.json", "heads.npz", f"{STATIC_SUBDIR}/model.safetensors")


def save_heads(
    artifact_dir: Path, heads: list[HeadSpec], vocab: dict[str, int], meta: dict[str, Any]
) -> None:
    """Write the heads' weights, the n-gram vocabulary and meta.json beside the static model."""
    arrays: dict[str, np.ndarray] = {}
    for h in heads:
        arrays[f"{h.name}__dense"] = h.coef_dense.astype(np.float32)
        arrays[f"{h.name}__lex"] = h.coef_lex.astype(np.float32)
        arrays[f"{h.name}__bias"] = h.intercept.astype(np.float32)
    np.savez_compressed(artifact_dir / "heads.npz", **arrays)  # type: ignore[arg-type]
    (artifact_dir / "vocab.json").write_text(json.dumps(sorted(vocab, key=vocab.__getitem__)))
    (artifact_dir / "meta.json").write_text(json.dumps(meta, indent=2))


def load_heads(artifact_dir: Path) -> tuple[StackedHeads, dict[str, Any]]:
    meta = json.loads((artifact_dir / "meta.json").read_text())
    vocab_list = json.loads((artifact_dir / "vocab.json").read_text())
    feat = Featurizer.load(artifact_dir / STATIC_SUBDIR, {g: i for i, g in enumerate(vocab_list)})
    arrays = np.load(artifact_dir / "heads.npz")
    heads = [
        HeadSpec(
            h["name"],
            h["labels"],
            arrays[f"{h['name']}__dense"],
            arrays[f"{h['name']}__lex"],
            arrays[f"{h['name']}__bias"],
            float(h["temperature"]),
        )
        for h in meta["heads"]
    ]
    return StackedHeads(heads, feat), meta


def is_built(artifact_dir: Path) -> bool:
    """Every artefact is there and was built by this code's ARTEFACT_VERSION (stale ones are rebuilt)."""
    if not all((artifact_dir / f).exists() for f in _FILES):
        return False
    try:
        meta = json.loads((artifact_dir / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("artefact_version") == ARTEFACT_VERSION
