"""The upsell model: on synthetic rows with a real signal it beats the popularity baseline on a time-ordered
held-out split; it refuses too few rows, ignores and counts unknown items, handles missing values, ranks
candidates once loaded, and feature building survives any row. The features and the serving half live in
services.common.upsell (the nlp room serves the model); services.ml.upsell re-exports them."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.vocabulary import TONES, load_upsell_menu
from services.common.upsell.features import (
    FEATURES,
    SEASONS,
    UpsellVocabulary,
    build_examples,
    candidate_features,
    row_context,
)
from services.common.upsell.model import META_FILE, MODEL_FILE, UpsellModel, is_built
from services.ml.upsell.model import (
    MIN_ROWS,
    held_out_start,
    precision_at_1,
    rows_digest,
    run_upsell_training,
    train_upsell,
    usable_rows,
)

MENU = load_upsell_menu()
ITEMS = [item.id for item in MENU.items]
SYNONYM = {item.id: item.synonyms[0] for item in MENU.items}
# The items' base appetite (log-odds): what the popularity baseline can learn and nothing more.
BASE_LOG_ODDS = {item: -1.6 + 0.25 * (index % 5) for index, item in enumerate(ITEMS)}


def _season(month: int) -> str:
    return SEASONS[(month % 12) // 3]  # December to February is winter


def synthetic_rows(count: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic rows with signals beyond popularity: a customer who names an item accepts it far more
    often, large parties take lobster (small ones rarely do), summer events take the sake bar, and a
    customer who accepted before accepts again more often."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, 9, tzinfo=UTC)
    history: dict[int, tuple[int, int]] = {}
    rows: list[dict[str, Any]] = []
    for index in range(count):
        occurred = start + timedelta(hours=index * 11 + rng.randint(0, 5))
        event = (occurred + timedelta(days=rng.randint(2, 150))).date()
        party_size = rng.randint(4, 50) if rng.random() > 0.1 else None
        customer_id = rng.randint(1, 80) if rng.random() > 0.2 else None
        previous_bookings, previous_accepted = history.get(customer_id, (0, 0)) if customer_id else (0, 0)
        offered = rng.sample(ITEMS, rng.randint(2, 4))
        # Customers often ask about something on offer, sometimes about something else.
        named = rng.choice(offered if rng.random() < 0.5 else ITEMS) if rng.random() < 0.6 else None
        texts = [f"hi, we'd like a hibachi party on {event:%B %d}", "how much per person?"]
        if named:
            texts.append(f"do you do {SYNONYM[named]}? my wife loves {SYNONYM[named]}")
        accepted = []
        for item in offered:
            log_odds = BASE_LOG_ODDS[item]
            log_odds += 3.0 if item == named else 0.0
            if item == "lobster" and party_size is not None:
                log_odds += 2.5 if party_size >= 25 else -1.5
            log_odds += 2.0 if item == "sake_bar" and _season(event.month) == "summer" else 0.0
            log_odds += 0.8 if previous_accepted else 0.0
            if rng.random() < 1 / (1 + math.exp(-log_odds)):
                accepted.append(item)
        if customer_id:
            history[customer_id] = (previous_bookings + 1, previous_accepted + bool(accepted))
        rows.append(
            {
                "conversation_id": f"c-{index:04d}",
                "customer_id": customer_id,
                "occurred_at": occurred.isoformat(),
                "booked": rng.random() < 0.7,
                "party_size": party_size,
                "event_date": event.isoformat() if rng.random() > 0.1 else None,
                "month": event.month,
                "season": _season(event.month),
                "turns": len(texts) + rng.randint(0, 4),
                "customer_texts": texts,
                "tones": [rng.choice(TONES) for _ in texts],
                "customer_previous_bookings": previous_bookings,
                "customer_previous_accepted": previous_accepted,
                "booking_value": round(party_size * rng.uniform(45, 70), 2) if party_size else None,
                "offered": offered,
                "accepted": accepted,
            }
        )
    # The dataset builder need not write rows in time order: training must order them itself.
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("upsell-model")
    return out, train_upsell(synthetic_rows(500), out, seed=0)


def test_the_model_beats_the_popularity_baseline_on_the_latest_rows(
    trained: tuple[Path, dict[str, Any]],
) -> None:
    directory, meta = trained
    model, baseline = meta["held_out"]["model"], meta["held_out"]["popularity_baseline"]
    print(f"held-out: model {model}, popularity baseline {baseline}")
    assert model["auc"] > baseline["auc"] + 0.05
    assert model["precision_at_1"] >= baseline["precision_at_1"]
    assert meta["rows"]["used"] == 500 and meta["rows"]["held_out"] == 100
    assert meta["examples"]["total"] == meta["examples"]["train"] + meta["examples"]["held_out"]
    assert meta["features"] == list(FEATURES)
    assert meta["model_version"] == f"upsell-hgb-1+{rows_digest(synthetic_rows(500))}"
    assert (directory / MODEL_FILE).exists() and is_built(directory)
    assert json.loads((directory / META_FILE).read_text()) == json.loads(json.dumps(meta))


def test_the_held_out_rows_are_the_latest_whatever_the_input_order() -> None:
    rows = synthetic_rows(60)
    usable = usable_rows(rows, UpsellVocabulary.from_menu())
    times = [datetime.fromisoformat(row["occurred_at"]) for row in usable.rows]
    assert times == sorted(times)
    first = held_out_start(len(usable.rows))
    assert first == 48 and max(times[:first]) <= min(times[first:])
    # The version names the rows, not their order.
    assert rows_digest(rows) == rows_digest(list(reversed(rows)))
    assert rows_digest(rows) != rows_digest(rows[1:])


def test_precision_at_1_counts_rows_with_an_acceptance_and_shares_ties() -> None:
    # Row 0: top item accepted (1). Row 1: top item declined (0). Row 2: nothing accepted (not counted).
    # Row 3: two items tie at the top, one accepted (1/2).
    row_index = [0, 0, 1, 1, 2, 2, 3, 3, 3]
    labels = [1, 0, 0, 1, 0, 0, 1, 0, 0]
    scores = [0.9, 0.1, 0.8, 0.2, 0.5, 0.4, 0.6, 0.6, 0.1]
    value, rows = precision_at_1(row_index, labels, scores)
    assert rows == 3 and value == pytest.approx((1 + 0 + 0.5) / 3)
    assert precision_at_1([0, 0], [0, 0], [0.3, 0.2]) == (None, 0)


def test_too_few_rows_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"too few rows.*29 usable of 29.*at least {MIN_ROWS}"):
        train_upsell(synthetic_rows(MIN_ROWS - 1), tmp_path)
    # Rows without a time or a known offered item do not count towards the minimum.
    rows = synthetic_rows(MIN_ROWS)
    rows[0] = {**rows[0], "occurred_at": "yesterday"}
    rows[1] = {**rows[1], "offered": ["caviar"]}
    with pytest.raises(ValueError, match="28 usable of 30.*no_known_offered_item.: 1, .no_occurred_at.: 1"):
        train_upsell(rows, tmp_path)
    nobody_accepts = [{**row, "accepted": []} for row in synthetic_rows(60)]
    with pytest.raises(ValueError, match="no accepted upsell"):
        train_upsell(nobody_accepts, tmp_path)
    everybody_accepts = [{**row, "accepted": row["offered"]} for row in synthetic_rows(60)]
    with pytest.raises(ValueError, match="no declined upsell"):
        train_upsell(everybody_accepts, tmp_path)
    assert not (tmp_path / MODEL_FILE).exists()


def test_unknown_items_are_ignored_and_counted(tmp_path: Path) -> None:
    rows = synthetic_rows(80)
    rows[0] = {**rows[0], "offered": [*rows[0]["offered"], "caviar", 7], "accepted": ["caviar"]}
    rows[1] = {**rows[1], "offered": ["truffles"], "accepted": []}
    meta = train_upsell(rows, tmp_path)
    assert meta["unknown_items"] == {"<not a string>": 1, "caviar": 2, "truffles": 1}
    assert meta["rows"]["set_aside"] == {"no_known_offered_item": 1}  # "truffles" alone is nothing to learn
    examples = build_examples([rows[0]], UpsellVocabulary.from_menu())
    assert examples.items == synthetic_rows(80)[0]["offered"] and not examples.labels.any()


def test_a_loaded_model_ranks_candidates_best_first(trained: tuple[Path, dict[str, Any]]) -> None:
    directory, meta = trained
    model = UpsellModel.load(directory)
    assert model.version == meta["model_version"]
    in_progress = {
        "occurred_at": "2025-06-01T18:00:00+00:00",
        "party_size": 12,
        "event_date": "2025-06-20",
        "month": 6,
        "season": "summer",
        "turns": 3,
        "customer_texts": ["can we add gyoza for everyone?", "and how about gyoza for the kids"],
        "tones": ["casual", "casual"],
    }
    ranked = model.rank(in_progress, ["edamame", "gyoza", "noodles", "caviar", "gyoza"])
    assert [item for item, _ in ranked][0] == "gyoza" and len(ranked) == 3  # caviar unknown, gyoza once
    probabilities = [p for _, p in ranked]
    assert probabilities == sorted(probabilities, reverse=True) and all(0 <= p <= 1 for p in probabilities)
    big_party = model.rank({**in_progress, "party_size": 45, "customer_texts": []}, ["lobster"])
    small_party = model.rank({**in_progress, "party_size": 5, "customer_texts": []}, ["lobster"])
    assert big_party[0][1] > small_party[0][1]
    assert model.rank(in_progress, []) == [] and model.rank(in_progress, ["caviar"]) == []


def test_missing_values_become_nan_and_still_rank(trained: tuple[Path, dict[str, Any]]) -> None:
    vocabulary = UpsellVocabulary.from_menu()
    bare = {"customer_id": None, "party_size": None, "event_date": None, "booking_value": None}
    matrix = candidate_features(bare, ["lobster", "gyoza"], vocabulary)
    assert matrix.shape == (2, len(FEATURES))
    for name in ("party_size", "days_to_event", "month", "season", "tone_share_casual"):
        assert np.isnan(matrix[:, FEATURES.index(name)]).all(), name
    # A month alone still gives the season; an event date alone gives the month.
    assert row_context({"month": 7}, vocabulary).numbers[3] == SEASONS.index("summer")
    assert row_context({"event_date": "2025-01-05"}, vocabulary).numbers[2] == 1
    ranked = UpsellModel.load(trained[0]).rank(bare, ["lobster", "gyoza"])
    assert {item for item, _ in ranked} == {"lobster", "gyoza"} and all(0 <= p <= 1 for _, p in ranked)


def test_mentions_count_the_example_item_and_the_others() -> None:
    vocabulary = UpsellVocabulary.from_menu()
    context = row_context(
        {"customer_texts": ["Lobster tails and potstickers please", "more lobster!", 42, "lobsterish"]},
        vocabulary,
    )
    assert context.mentions == {"lobster": 2, "gyoza": 1}
    matrix = candidate_features(
        {"customer_texts": ["Lobster tails and potstickers please", "more lobster!"]}, ["lobster"], vocabulary
    )
    assert matrix[0, FEATURES.index("item_mentions")] == 2
    assert matrix[0, FEATURES.index("other_item_mentions")] == 1


def test_training_from_the_dataset_file_skips_malformed_lines(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    lines = [json.dumps(row) for row in synthetic_rows(60)]
    lines[3:3] = ["{not json", "[1, 2]", "", '"a string"']
    (dataset / "upsell.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    meta = run_upsell_training(dataset, tmp_path / "model")
    assert meta["rows"]["malformed_lines"] == 3 and meta["rows"]["used"] == 60
    assert meta["model_version"] == f"upsell-hgb-1+{rows_digest(synthetic_rows(60))}"
    assert json.loads((tmp_path / "model" / META_FILE).read_text())["rows"]["malformed_lines"] == 3
    (tmp_path / "few.jsonl").write_text("\n".join(lines[:10]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="too few rows.*3 malformed lines"):
        run_upsell_training(tmp_path / "few.jsonl", tmp_path / "none")


def test_the_training_package_re_exports_the_serving_half() -> None:
    from services.common import upsell as serving
    from services.common.upsell import features as common_features
    from services.common.upsell import model as common_model
    from services.ml import upsell as training
    from services.ml.upsell import model as ml_model

    for name in ("META_FILE", "MODEL_FILE", "MODEL_VERSION_PREFIX", "UpsellModel", "is_built", "read_meta"):
        assert getattr(ml_model, name) is getattr(common_model, name), name
    assert training.UpsellModel is serving.UpsellModel is common_model.UpsellModel
    # The model trains with the very features it is served with.
    assert ml_model.FEATURES is serving.FEATURES and ml_model.build_examples is common_features.build_examples


def test_a_folder_saved_by_training_loads_without_services_ml(trained: tuple[Path, dict[str, Any]]) -> None:
    """The saved format is unchanged by the move: the pickle holds only scikit-learn objects, so a fresh
    interpreter loads and scores it importing services.common alone."""
    directory, meta = trained
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from services.common.upsell import UpsellModel\n"
        f"model = UpsellModel.load(Path({str(directory)!r}))\n"
        "print(model.version, len(model.rank({'party_size': 40}, ['lobster', 'gyoza'])))\n"
        "assert not [m for m in sys.modules if m.startswith('services.ml')], 'services.ml was imported'\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=root
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [meta["model_version"], "2"]


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


_ITEM_NAMES = st.one_of(st.sampled_from(ITEMS), st.text(max_size=12))
_DATETIMES = st.datetimes(timezones=st.one_of(st.none(), st.just(UTC))).map(datetime.isoformat)
_ROWS = st.fixed_dictionaries(
    {},
    optional={
        "conversation_id": st.text(max_size=8),
        "customer_id": _maybe(st.integers()),
        "occurred_at": st.one_of(_DATETIMES, st.text(max_size=30)),
        "booked": st.booleans(),
        "party_size": _maybe(st.integers()),
        "event_date": _maybe(st.one_of(st.dates(min_value=date(1, 1, 1)).map(date.isoformat), st.text())),
        "month": st.integers(),
        "season": st.one_of(st.sampled_from(SEASONS), st.text(max_size=8)),
        "turns": st.integers(),
        "customer_texts": st.lists(st.text(), max_size=5),
        "tones": st.lists(st.one_of(st.sampled_from(TONES), st.text(max_size=8)), max_size=5),
        "customer_previous_bookings": st.integers(),
        "customer_previous_accepted": st.integers(),
        "booking_value": _maybe(st.floats(allow_nan=True, allow_infinity=True)),
        "offered": st.lists(_ITEM_NAMES, max_size=5),
        "accepted": st.lists(_ITEM_NAMES, max_size=5),
    },
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(_ROWS, max_size=4), candidates=st.lists(_ITEM_NAMES, max_size=4))
def test_feature_building_survives_any_row(rows: list[dict[str, Any]], candidates: list[str]) -> None:
    vocabulary = UpsellVocabulary.from_menu()
    examples = build_examples(rows, vocabulary)
    assert examples.features.shape == (len(examples.labels), len(FEATURES))
    assert len(examples.items) == len(examples.row_index) == len(examples.labels)
    for row in rows:
        matrix = candidate_features(row, candidates, vocabulary)
        assert matrix.shape == (len(candidates), len(FEATURES))
        assert not np.isinf(matrix).any()  # every value is finite or NaN (missing)
    usable_rows(rows, vocabulary)
    rows_digest(rows)
