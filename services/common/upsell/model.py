"""Serving a trained upsell model: reading its folder and scoring bookings in progress.

A model folder (written by `services.ml.upsell.model.train_upsell`) holds two files:

- `model.joblib`: the fitted scikit-learn HistGradientBoostingClassifier (a joblib pickle: load only folders
  this project built);
- `meta.json`: the version (`model_version`, starting with `MODEL_VERSION_PREFIX`), the feature names, the
  item vocabulary the item codes were numbered with, and the training report.

`UpsellModel.load(dir).rank(row, candidates)` scores a booking in progress (the row's outcome fields are
never read) and returns `[(item, probability), ...]`, best first; `predict_proba(matrix)` scores a
prebuilt feature matrix (many rows' candidates at once) in one call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from services.common import model_folder
from services.common.model_folder import META_FILE as META_FILE  # re-exported: the trainers write it
from services.common.model_folder import read_meta
from services.common.upsell.features import FloatMatrix, UpsellVocabulary, candidate_features

MODEL_VERSION_PREFIX = "upsell-hgb-1"
MODEL_FILE = "model.joblib"


def is_built(directory: Path) -> bool:
    """Whether `directory` holds a model of this format (both files, a version with the current prefix)."""
    return model_folder.is_built(directory, weights_file=MODEL_FILE, version_prefix=MODEL_VERSION_PREFIX)


class UpsellModel:
    """A trained upsell model: ranks the candidate items for a booking in progress."""

    def __init__(self, classifier: Any, meta: Mapping[str, Any]) -> None:
        self.classifier = classifier
        self.meta = dict(meta)
        self.version = str(meta["model_version"])
        # The vocabulary saved at training time, not today's menu: item codes must mean what they meant.
        self.vocabulary = UpsellVocabulary.from_json(meta["vocabulary"])

    @classmethod
    def load(cls, directory: Path) -> UpsellModel:
        """The model in `directory`; FileNotFoundError when there is none (see `is_built`)."""
        import joblib

        if not is_built(directory):
            raise FileNotFoundError(
                f"no upsell model in {directory}: train one with `teppan ml train upsell`"
            )
        return cls(joblib.load(directory / MODEL_FILE), read_meta(directory))

    def predict_proba(self, features: FloatMatrix) -> FloatMatrix:
        """The probability of acceptance of each row of a FEATURES matrix (a 1-d array; empty for no rows)."""
        if len(features) == 0:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self.classifier.predict_proba(features)[:, 1], dtype=np.float64)

    def rank(self, row: Mapping[str, Any], candidates: Sequence[str]) -> list[tuple[str, float]]:
        """[(item, probability the customer accepts it)], best first; ties keep the candidates' order.
        Candidates the model does not know are left out, repeats are ranked once."""
        items = [item for item in dict.fromkeys(candidates) if self.vocabulary.code(item) is not None]
        if not items:
            return []
        probabilities = self.predict_proba(candidate_features(row, items, self.vocabulary))
        ranked = [(item, float(p)) for item, p in zip(items, probabilities, strict=True)]
        return sorted(ranked, key=lambda pair: -pair[1])
