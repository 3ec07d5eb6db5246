"""The upsell model: training, held-out evaluation against the popularity baseline, and serving.

Why scikit-learn's HistGradientBoostingClassifier and not LightGBM: it is the same algorithm (histogram
gradient boosting, native categorical splits and missing values), already a dependency, and the data is
small (thousands of conversations, a few offered items each), where LightGBM's speed buys nothing; LightGBM
would add a native library (and its OpenMP runtime) to every image for no gain at this size.

Training (`train_upsell`):
- usable rows are those with a parseable `occurred_at` and at least one offered item the menu knows; fewer
  than `MIN_ROWS` of them, or no accepted or no declined offer among them, is refused with a ValueError;
- rows are ordered by `occurred_at` and the latest `HELD_OUT_SHARE` of them are held out: a random split
  would put a customer's later conversations into training and score the model on their past;
- the model and the popularity baseline (an item's acceptance rate over the training rows' offers; an item
  never offered there gets the overall rate) are both scored on the held-out examples;
- the saved model is then refit on every usable row, so the latest bookings count too: the held-out
  figures measure this recipe, trained on the earlier rows.

The figures (meta.json, `held_out`):
- `auc`: ROC AUC over all held-out examples pooled (one per offered item); null when they are all
  accepted or all declined;
- `precision_at_1`: over held-out rows that accepted at least one offered item, the mean of "the
  top-scored offered item was accepted". When several offered items share the top score, the row counts
  the share of them that were accepted (what a random tie-break would score on average), so a baseline
  that ties gets no credit from the dataset's item order. Null when no held-out row accepted anything.

Serving (`UpsellModel`, `is_built`, the folder's file names) lives in services.common.upsell.model, so the
nlp worker can load a saved folder without importing services.ml; it is re-exported here.
`UpsellModel.load(dir).rank(row, candidates)` scores a booking in progress (the row's outcome fields are
never read) and returns `[(item, probability), ...]`, best first. The files are a joblib pickle: load only
folders this project built.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services.common.upsell.features import (
    CATEGORICAL_FEATURES,
    FEATURES,
    Examples,
    UpsellVocabulary,
    build_examples,
    known_items,
    parse_datetime,
)
from services.common.upsell.model import (
    META_FILE,
    MODEL_FILE,
    MODEL_VERSION_PREFIX,
    UpsellModel,
    is_built,
    read_meta,
)

__all__ = [
    "DATASET_FILE",
    "HELD_OUT_SHARE",
    "HYPERPARAMETERS",
    "META_FILE",
    "MIN_ROWS",
    "MODEL_FILE",
    "MODEL_VERSION_PREFIX",
    "UpsellModel",
    "UsableRows",
    "auc",
    "held_out_start",
    "is_built",
    "popularity_rates",
    "precision_at_1",
    "read_dataset",
    "read_meta",
    "rows_digest",
    "run_upsell_training",
    "train_upsell",
    "usable_rows",
]

DATASET_FILE = "upsell.jsonl"
MIN_ROWS = 30
HELD_OUT_SHARE = 0.2
# Small, regularised trees: a few thousand examples, a dozen features, signals that are mostly "this item
# for this kind of booking" (two or three splits deep). Bigger trees (15 leaves, 200 rounds) scored a little
# worse on the tests' synthetic rows over 8 seeds; revisit on real data. Early stopping stays off: its
# validation split is random (it would undo the time-ordered split), and a fixed recipe is reproducible.
HYPERPARAMETERS: dict[str, Any] = {
    "learning_rate": 0.05,
    "max_iter": 100,
    "max_leaf_nodes": 5,
    "min_samples_leaf": 20,
    "l2_regularization": 1.0,
    "early_stopping": False,
}


@dataclass(frozen=True)
class UsableRows:
    """The rows training can use, oldest first, how many of the others were set aside and why, and the
    unknown item names met in every row's `offered` and `accepted` (set-aside rows included)."""

    rows: list[Mapping[str, Any]]
    skipped: Counter[str]
    unknown_items: Counter[str]


def rows_digest(rows: Sequence[object]) -> str:
    """The first 12 hex digits of the sha256 of the rows as canonical JSON lines, sorted: the same rows in
    any order name the same model version."""
    lines = sorted(json.dumps(row, sort_keys=True, separators=(",", ":"), default=str) for row in rows)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:12]


def usable_rows(rows: Sequence[object], vocabulary: UpsellVocabulary) -> UsableRows:
    """Keeps rows that are objects with a parseable `occurred_at` and a known offered item, oldest first
    (ties by conversation id, so the order never depends on the input's)."""
    skipped: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    kept: list[tuple[datetime, str, Mapping[str, Any]]] = []
    for row in rows:
        if not isinstance(row, Mapping):
            skipped["not_an_object"] += 1
            continue
        offered = known_items(row.get("offered"), vocabulary, unknown)
        known_items(row.get("accepted"), vocabulary, unknown)
        occurred = parse_datetime(row.get("occurred_at"))
        if occurred is None:
            skipped["no_occurred_at"] += 1
            continue
        if not offered:
            skipped["no_known_offered_item"] += 1
            continue
        # Naive timestamps are read as UTC so they order with aware ones instead of raising.
        moment = occurred if occurred.tzinfo is not None else occurred.replace(tzinfo=UTC)
        kept.append((moment, str(row.get("conversation_id", "")), row))
    kept.sort(key=lambda entry: (entry[0], entry[1]))
    return UsableRows([row for _, _, row in kept], skipped, unknown)


def held_out_start(row_count: int, share: float = HELD_OUT_SHARE) -> int:
    """The index of the first held-out row in time order: the latest `share` of the rows (at least one)."""
    return min(row_count - 1, math.floor(row_count * (1 - share))) if row_count > 1 else row_count


def popularity_rates(items: Sequence[str], labels: npt.ArrayLike) -> tuple[dict[str, float], float]:
    """({item: acceptance rate among its offers}, the overall rate for items never offered)."""
    label_array = np.asarray(labels, dtype=np.float64)
    offers: Counter[str] = Counter(items)
    accepts: Counter[str] = Counter(item for item, label in zip(items, label_array, strict=True) if label)
    overall = float(label_array.mean()) if len(label_array) else 0.0
    return {item: accepts[item] / offers[item] for item in offers}, overall


def auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float | None:
    """ROC AUC; None when the labels hold a single class (it is undefined)."""
    from sklearn.metrics import roc_auc_score

    label_array = np.asarray(labels)
    if len(np.unique(label_array)) < 2:
        return None
    return float(roc_auc_score(label_array, np.asarray(scores, dtype=np.float64)))


def precision_at_1(
    row_index: npt.ArrayLike, labels: npt.ArrayLike, scores: npt.ArrayLike
) -> tuple[float | None, int]:
    """(precision at 1, rows it is over): for each row with an accepted item, whether its top-scored offered
    item was accepted; a tie at the top counts the accepted share of the tied items. None over no rows."""
    rows = np.asarray(row_index)
    label_array = np.asarray(labels, dtype=np.float64)
    score_array = np.asarray(scores, dtype=np.float64)
    hits: list[float] = []
    for row in np.unique(rows):
        mask = rows == row
        row_labels, row_scores = label_array[mask], score_array[mask]
        if not row_labels.any():
            continue
        top = np.isclose(row_scores, row_scores.max(), rtol=0.0, atol=1e-12)
        hits.append(float(row_labels[top].mean()))
    return (float(np.mean(hits)) if hits else None), len(hits)


def _new_classifier(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        **HYPERPARAMETERS,
        categorical_features=[FEATURES.index(name) for name in CATEGORICAL_FEATURES],
        random_state=seed,
    )


def _subset(examples: Examples, mask: npt.NDArray[np.bool_]) -> Examples:
    return Examples(
        features=examples.features[mask],
        labels=examples.labels[mask],
        row_index=examples.row_index[mask],
        items=[item for item, keep in zip(examples.items, mask, strict=True) if keep],
        unknown_items=examples.unknown_items,
    )


def _figures(examples: Examples, scores: npt.NDArray[np.float64]) -> dict[str, float | None]:
    p_at_1, _ = precision_at_1(examples.row_index, examples.labels, scores)
    return {
        "auc": _rounded(auc(examples.labels, scores)),
        "precision_at_1": _rounded(p_at_1),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _refuse_one_class(labels: npt.NDArray[np.int8], where: str) -> None:
    if not labels.any():
        raise ValueError(f"no accepted upsell {where}: the model needs both accepted and declined offers")
    if labels.all():
        raise ValueError(f"no declined upsell {where}: the model needs both accepted and declined offers")


def train_upsell(
    rows: Sequence[object],
    out_dir: Path,
    *,
    seed: int = 0,
    vocabulary: UpsellVocabulary | None = None,
) -> dict[str, Any]:
    """Trains, evaluates and saves the upsell model into `out_dir` (model.joblib, meta.json); returns the
    meta. Raises ValueError, with the reason, when the rows cannot make a model (see the module doc)."""
    import joblib
    import sklearn

    vocabulary = vocabulary or UpsellVocabulary.from_menu()
    usable = usable_rows(rows, vocabulary)
    if len(usable.rows) < MIN_ROWS:
        raise ValueError(
            f"too few rows to train the upsell model: {len(usable.rows)} usable of {len(rows)}, need at least"
            f" {MIN_ROWS} (a usable row has an occurred_at and offers at least one menu item;"
            f" set aside: {dict(sorted(usable.skipped.items())) or 'none'})"
        )
    examples = build_examples(usable.rows, vocabulary)
    _refuse_one_class(examples.labels, "in the rows")

    first_held_out = held_out_start(len(usable.rows))
    in_training = examples.row_index < first_held_out
    train, held_out = _subset(examples, in_training), _subset(examples, ~in_training)
    _refuse_one_class(train.labels, f"in the earlier {1 - HELD_OUT_SHARE:.0%} of rows (the training split)")

    evaluated = _new_classifier(seed).fit(train.features, train.labels)
    model_scores = evaluated.predict_proba(held_out.features)[:, 1].astype(np.float64)
    rates, overall_rate = popularity_rates(train.items, train.labels)
    baseline_scores = np.asarray([rates.get(item, overall_rate) for item in held_out.items], dtype=np.float64)
    _, rows_with_acceptance = precision_at_1(held_out.row_index, held_out.labels, model_scores)

    final = _new_classifier(seed).fit(examples.features, examples.labels)

    meta: dict[str, Any] = {
        "model_version": f"{MODEL_VERSION_PREFIX}+{rows_digest(rows)}",
        "model": "sklearn.ensemble.HistGradientBoostingClassifier",
        "sklearn_version": sklearn.__version__,
        "hyperparameters": HYPERPARAMETERS,
        "seed": seed,
        "features": list(FEATURES),
        "categorical_features": list(CATEGORICAL_FEATURES),
        "vocabulary": vocabulary.to_json(),
        "rows": {
            "input": len(rows),
            "used": len(usable.rows),
            "train": first_held_out,
            "held_out": len(usable.rows) - first_held_out,
            "held_out_with_acceptance": rows_with_acceptance,
            "set_aside": dict(sorted(usable.skipped.items())),
        },
        "examples": {
            "total": len(examples.labels),
            "accepted": int(examples.labels.sum()),
            "train": len(train.labels),
            "held_out": len(held_out.labels),
        },
        "unknown_items": dict(sorted(usable.unknown_items.items())),
        "split": {
            "by": "occurred_at",
            "held_out_share": HELD_OUT_SHARE,
            "held_out_from": str(usable.rows[first_held_out].get("occurred_at")),
        },
        "held_out": {
            "model": _figures(held_out, model_scores),
            "popularity_baseline": _figures(held_out, baseline_scores),
        },
        "popularity_rates": {item: round(rate, 4) for item, rate in sorted(rates.items())},
        "fit_on": "all used rows, after the held-out evaluation of the same recipe on the training split",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(final, out_dir / MODEL_FILE)
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return meta


def read_dataset(path: Path) -> tuple[list[dict[str, Any]], int]:
    """(the rows of an upsell.jsonl file, how many non-blank lines were not a JSON object and skipped)."""
    rows: list[dict[str, Any]] = []
    malformed = 0
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                malformed += 1
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                malformed += 1
    return rows, malformed


def run_upsell_training(dataset_rows_path: Path, out_dir: Path, *, seed: int = 0) -> dict[str, Any]:
    """Reads `upsell.jsonl` (the file, or a dataset folder holding it) and trains into `out_dir`; the meta
    returned also says how many lines were malformed (`rows.malformed_lines`). ValueError when too few."""
    path = dataset_rows_path / DATASET_FILE if dataset_rows_path.is_dir() else dataset_rows_path
    rows, malformed = read_dataset(path)
    try:
        meta = train_upsell(rows, out_dir, seed=seed)
    except ValueError as refusal:
        if malformed:
            raise ValueError(f"{refusal} ({malformed} malformed lines skipped in {path})") from refusal
        raise
    meta["rows"]["malformed_lines"] = malformed
    meta["dataset"] = str(path)
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return meta
