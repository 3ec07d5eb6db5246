"""Upsell suggestions from the trained model: the conversation memory builds the dataset's row as the talk
goes on, and the ranker, trained here in a second on a few dozen synthetic bookings where large parties take
lobster and small ones gyoza, ranks accordingly, in one model call per batch, within a time bound, and never
raises on odd input."""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import MAX_TEXT_CHARS
from schemas.vocabulary import INTENTS, TONES, load_upsell_menu
from services.common.upsell.features import FEATURES, candidate_features
from services.ml.upsell.model import train_upsell
from services.nlp.upsell_ranking import (
    DEFAULT_MIN_PROBABILITY,
    ConversationMemory,
    UpsellRanker,
    no_upsell_moment,
)
from tests.nlp.adversarial import ADVERSARIAL_MESSAGES, messages

ITEMS = [item.id for item in load_upsell_menu().items]
START = datetime(2025, 3, 1, 12, tzinfo=UTC)
# The keys of a dataset row (services.common.upsell.features), less the outcomes a booking in progress lacks.
ROW_KEYS = {
    "conversation_id", "customer_id", "occurred_at", "party_size", "event_date", "month", "season", "turns",
    "customer_texts", "tones", "customer_previous_bookings", "customer_previous_accepted", "booking_value",
}  # fmt: skip
OUTCOMES = {"booked", "offered", "accepted"}


def training_rows(count: int = 72, *, seed: int = 3) -> list[dict[str, Any]]:
    """Every row offers the whole menu. Large parties (30+, celebrating) take lobster, small ones (2-8)
    gyoza; any other item is taken now and then (one offer in twenty), so nothing else stands out."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        large = index % 2 == 0
        party_size = rng.randint(30, 60) if large else rng.randint(2, 8)
        occurred = START + timedelta(hours=7 * index)
        event = (occurred + timedelta(days=rng.randint(5, 90))).date()
        texts = (
            [f"hi, we're {party_size} people for my dad's birthday", "what do you offer?"]
            if large
            else [f"a table for {party_size} please", "just a quiet dinner"]
        )
        favourite = "lobster" if large else "gyoza"
        accepted = [favourite, *(item for item in ITEMS if item != favourite and rng.random() < 0.05)]
        rows.append(
            {
                "conversation_id": f"c-{index:03d}",
                "customer_id": None,
                "occurred_at": occurred.isoformat(),
                "booked": True,
                "party_size": party_size,
                "event_date": event.isoformat(),
                "month": event.month,
                "season": ("winter", "spring", "summer", "autumn")[(event.month % 12) // 3],
                "turns": 2 * len(texts),
                "customer_texts": texts,
                "tones": [rng.choice(TONES) for _ in texts],
                "customer_previous_bookings": 0,
                "customer_previous_accepted": 0,
                "booking_value": None,
                "offered": list(ITEMS),
                "accepted": accepted,
            }
        )
    return rows


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("upsell-ranking-model")
    train_upsell(training_rows(), directory, seed=0)
    return directory


@pytest.fixture(scope="module")
def ranker(model_dir: Path) -> UpsellRanker:
    return UpsellRanker.load(model_dir)


def in_progress(party_size: int | None, text: str, *, conversation: str = "talk") -> dict[str, Any]:
    memory = ConversationMemory()
    return memory.observe(conversation, text, "casual", party_size, "2025-06-14", START, turn_index=0)


def test_the_ranker_loads_a_saved_folder_and_names_its_model(tmp_path: Path) -> None:
    meta = train_upsell(training_rows(), tmp_path, seed=0)
    ranker = UpsellRanker.load(tmp_path)
    assert ranker.version == meta["model_version"] and ranker.version.startswith("upsell-hgb-1+")
    assert ranker.items == tuple(ITEMS)
    with pytest.raises(FileNotFoundError, match="no upsell model"):
        UpsellRanker.load(tmp_path / "empty")
    with pytest.raises(ValueError, match="min_probability"):
        UpsellRanker(ranker.model, min_probability=1.5)


def test_a_large_celebrating_party_gets_lobster_first_and_a_small_one_gyoza(ranker: UpsellRanker) -> None:
    large = in_progress(40, "hi, we're 40 people for my wife's birthday")
    small = in_progress(4, "a table for 4 please")
    large_picks = ranker.suggest(large, mentioned=[], intent="booking_inquiry", tone="casual")
    small_picks = ranker.suggest(small, mentioned=[], intent="booking_inquiry", tone="casual")
    assert large_picks == ["lobster", "gyoza"] and small_picks == ["gyoza", "lobster"]
    # The party size moves the scores (the model's trees are small and shrunk, so it does by degrees).
    large_scores, small_scores = ranker.scores(large), ranker.scores(small)
    assert large_scores["lobster"] > small_scores["lobster"] + 0.1
    assert small_scores["gyoza"] > large_scores["gyoza"] + 0.1
    # Nothing else was ever taken by more than one customer in twenty: under the floor, never offered.
    assert all(
        p < DEFAULT_MIN_PROBABILITY for item, p in large_scores.items() if item not in ("lobster", "gyoza")
    )


def test_items_already_named_are_not_suggested(ranker: UpsellRanker) -> None:
    large = in_progress(40, "we're 40 people and want lobster")
    picks = ranker.suggest(large, mentioned=["lobster"], intent="menu_question", tone="warm", limit=3)
    assert picks and "lobster" not in picks
    assert ranker.suggest(large, mentioned="lobster", intent="menu_question", tone="warm")[:1] != ["lobster"]


@pytest.mark.parametrize(
    ("intent", "tone"), [("complaint", "casual"), ("other", "warm"), ("pricing_question", "anxious")]
)
def test_nothing_is_offered_where_the_rules_offer_nothing(
    ranker: UpsellRanker, intent: str, tone: str
) -> None:
    assert no_upsell_moment(intent, tone)
    assert ranker.suggest(in_progress(40, "40 people"), mentioned=[], intent=intent, tone=tone) == []


def test_the_limit_the_floor_and_the_candidates_are_kept(ranker: UpsellRanker, model_dir: Path) -> None:
    large = in_progress(40, "40 of us for a birthday")
    assert len(ranker.suggest(large, mentioned=[], intent="booking_inquiry", tone="casual", limit=1)) == 1
    for limit in (0, -2):
        assert ranker.suggest(large, mentioned=[], intent="booking_inquiry", tone="casual", limit=limit) == []
    # Nothing fits well enough: nothing is offered rather than the least bad items.
    picky = UpsellRanker.load(model_dir, min_probability=0.999)
    assert picky.suggest(large, mentioned=[], intent="booking_inquiry", tone="casual") == []
    everything = ranker.suggest(large, mentioned=[], intent="booking_inquiry", tone="casual", limit=99)
    scores = ranker.scores(large)
    assert everything == sorted(everything, key=lambda item: -scores[item])
    assert set(everything) == {item for item, p in scores.items() if p >= DEFAULT_MIN_PROBABILITY}
    only_sides = UpsellRanker.load(model_dir, items=["gyoza", "noodles", "caviar"])
    assert only_sides.items == ("gyoza", "noodles")
    assert set(only_sides.scores(large)) == {"gyoza", "noodles"}


class CountingClassifier:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def predict_proba(self, features: Any) -> Any:
        self.calls.append(len(features))
        return self.inner.predict_proba(features)


def test_a_batch_is_scored_in_one_model_call_and_matches_row_by_row(model_dir: Path) -> None:
    ranker = UpsellRanker.load(model_dir)
    counting = CountingClassifier(ranker.model.classifier)
    ranker.model.classifier = counting
    sizes = [40, 4, None, 55, 3, 12]
    rows = [in_progress(size, f"we are {size} people", conversation=str(i)) for i, size in enumerate(sizes)]
    intents = [
        "booking_inquiry",
        "menu_question",
        "complaint",
        "pricing_question",
        "other",
        "booking_inquiry",
    ]
    tones = ["casual", "warm", "casual", "formal", "casual", "anxious"]
    mentioned: list[list[str]] = [[], ["gyoza"], [], ["lobster"], [], []]
    batch = ranker.suggest_batch(rows, mentioned=mentioned, intents=intents, tones=tones)
    scored_rows = [
        i
        for i, (intent, tone) in enumerate(zip(intents, tones, strict=True))
        if not no_upsell_moment(intent, tone)
    ]
    assert counting.calls == [len(scored_rows) * len(ranker.items)]  # one call, guarded rows not scored
    one_by_one = [
        ranker.suggest(row, mentioned=m, intent=intent, tone=tone)
        for row, m, intent, tone in zip(rows, mentioned, intents, tones, strict=True)
    ]
    assert batch == one_by_one
    assert batch[0][0] == "lobster" and batch[2] == [] and batch[4] == [] and "gyoza" not in batch[1]
    assert ranker.suggest_batch([], mentioned=[], intents=[], tones=[]) == []
    with pytest.raises(ValueError, match="one mention list, intent and tone per row"):
        ranker.suggest_batch(rows, mentioned=[], intents=intents, tones=tones)


# --- The conversation memory ----------------------------------------------------------------------------


def test_the_memory_builds_the_dataset_row_as_the_conversation_goes() -> None:
    memory = ConversationMemory()
    conversation = uuid.uuid4()
    first = memory.observe(conversation, "hi, a party for my mom", "warm", None, None, START, turn_index=0)
    assert set(first) == ROW_KEYS and not set(first) & OUTCOMES
    assert first["turns"] == 1 and first["party_size"] is None and first["event_date"] is None
    # No event date yet: month and season are the turn's day's (March: spring), as the dataset dates them.
    assert (first["month"], first["season"]) == (3, "spring")
    later = START + timedelta(minutes=5)
    row = memory.observe(str(conversation), "we'll be 30", "casual", 30, "2025-07-04", later, turn_index=2)
    assert row["conversation_id"] == str(conversation) and len(memory) == 1  # a UUID and its string agree
    assert row["customer_texts"] == ["hi, a party for my mom", "we'll be 30"]
    assert row["tones"] == ["warm", "casual"] and row["turns"] == 3  # the assistant's turn 1 counts
    assert (row["party_size"], row["event_date"], row["month"], row["season"]) == (
        30,
        "2025-07-04",
        7,
        "summer",
    )
    assert row["occurred_at"] == later.isoformat()
    state = memory.state(conversation)
    assert state is not None and state.first_occurred_at == START and state.last_occurred_at == later
    # A turn without entities keeps the latest mention; odd values are not mentions; a correction wins.
    row = memory.observe(conversation, "sounds good", None, None, None, None, turn_index=4)
    assert (row["party_size"], row["event_date"], row["occurred_at"]) == (30, "2025-07-04", later.isoformat())
    row = memory.observe(conversation, "hmm", "direct", True, "the 31st of Feb", "yesterday", turn_index=6)
    assert (row["party_size"], row["event_date"]) == (30, "2025-07-04")
    row = memory.observe(conversation, "actually 25", "direct", "25", date(2025, 7, 5), later, turn_index=8)
    assert (row["party_size"], row["event_date"]) == (25, "2025-07-05")
    # What the worker cannot know is missing for the model, not zero.
    assert row["customer_previous_bookings"] is None and row["customer_previous_accepted"] is None
    vocabulary_items = ["lobster"]
    from services.common.upsell.features import UpsellVocabulary

    matrix = candidate_features(row, vocabulary_items, UpsellVocabulary.from_menu())
    assert np.isnan(matrix[0, FEATURES.index("customer_previous_bookings")])
    assert matrix[0, FEATURES.index("days_to_event")] == (date(2025, 7, 5) - later.date()).days


def test_a_redelivered_turn_changes_nothing_and_a_mid_conversation_start_counts_turns() -> None:
    memory = ConversationMemory()
    once = memory.observe("c", "we're 12", "casual", 12, None, START, turn_index=7)
    assert once["turns"] == 8  # first seen at its eighth message (a restart, a rebalance)
    again = memory.observe("c", "we're 12", "casual", 12, None, START, turn_index=7)
    assert again == once
    # Without turn indexes every observed turn counts.
    plain = ConversationMemory()
    for n in range(3):
        row = plain.observe("d", f"message {n}", "casual")
    assert row["turns"] == 3 and row["occurred_at"] is None and row["month"] is None


def test_the_memory_is_a_bounded_lru_with_capped_texts() -> None:
    memory = ConversationMemory(max_conversations=2, max_texts=3, max_text_chars=10)
    memory.observe("a", "first", "casual")
    memory.observe("b", "first", "casual")
    memory.observe("a", "second", "casual")  # "a" is now the most recently seen
    memory.observe("c", "first", "casual")
    assert "b" not in memory and "a" in memory and "c" in memory and len(memory) == 2
    for n in range(5):
        row = memory.observe("a", f"{n} " + "x" * 50, f"t{n}")
    assert row["customer_texts"] == ["2 xxxxxxxx", "3 xxxxxxxx", "4 xxxxxxxx"]
    assert row["tones"] == ["t2", "t3", "t4"] and row["turns"] == 7
    memory.forget("a")
    assert "a" not in memory and memory.state("a") is None
    with pytest.raises(ValueError):
        ConversationMemory(max_conversations=0)


def test_a_conversation_remembered_turn_by_turn_gets_lobster(ranker: UpsellRanker) -> None:
    memory = ConversationMemory()
    turns = [
        ("hello! planning my husband's 50th birthday", None),
        ("there will be 45 of us", 45),
        ("what would you recommend?", None),
    ]
    for index, (text, size) in enumerate(turns):
        row = memory.observe("party", text, "warm", size, "2025-09-20", START, turn_index=2 * index)
    assert ranker.suggest(row, mentioned=[], intent="menu_question", tone="warm")[0] == "lobster"


# --- Odd input and time -----------------------------------------------------------------------------------

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.dates(),
    st.datetimes(timezones=st.one_of(st.none(), st.just(UTC))),
    st.lists(st.integers(), max_size=2),
)
MENTIONS = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.lists(st.one_of(st.sampled_from(ITEMS), st.text(max_size=8), st.integers())),
)
PROPERTIES = settings(
    max_examples=150,
    # A runaway (backtracking, a quadratic loop) takes far longer than this; an example usually takes well
    # under a second, but the first one also loads the ranker, and the lanes (`pytest -n 2 --lanes`) share two cores.
    deadline=timedelta(seconds=5),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@PROPERTIES
@given(
    turns=st.lists(
        st.tuples(
            st.one_of(st.uuids(), st.text(max_size=3), st.integers()),
            st.one_of(messages, st.none(), st.integers()),
            st.one_of(st.sampled_from(TONES), st.text(max_size=10), st.none()),
            ODD_VALUES,
            st.one_of(ODD_VALUES, st.dates().map(date.isoformat)),
            st.one_of(ODD_VALUES, st.datetimes().map(datetime.isoformat)),
            st.one_of(st.none(), st.integers(), st.text(max_size=3)),
        ),
        min_size=1,
        max_size=6,
    ),
    intent=st.one_of(st.sampled_from(INTENTS), st.text(max_size=10), st.none()),
    tone=st.one_of(st.sampled_from(TONES), st.text(max_size=10), st.none()),
    mentioned=MENTIONS,
    limit=st.integers(min_value=-3, max_value=20),
)
def test_memory_and_ranker_never_raise_on_odd_input(
    ranker: UpsellRanker,
    turns: list[tuple[Any, ...]],
    intent: Any,
    tone: Any,
    mentioned: Any,
    limit: int,
) -> None:
    memory = ConversationMemory(max_conversations=3, max_texts=4)
    rows = []
    for conversation, text, turn_tone, party_size, event_date, occurred_at, turn_index in turns:
        row = memory.observe(
            conversation, text, turn_tone, party_size, event_date, occurred_at, turn_index=turn_index
        )
        assert set(row) == ROW_KEYS and len(memory) <= 3 and len(row["customer_texts"]) <= 4
        json.dumps(row, allow_nan=False)  # plain JSON values only, as a dataset row
        rows.append(row)
    picks = ranker.suggest(rows[-1], mentioned=mentioned, intent=intent, tone=tone, limit=limit)
    named = {mentioned} if isinstance(mentioned, str) else {m for m in mentioned or () if isinstance(m, str)}
    assert len(picks) == len(set(picks)) <= max(limit, 0)
    assert set(picks) <= set(ranker.items) and not set(picks) & named
    if no_upsell_moment(intent, tone):
        assert picks == []
    scores = ranker.scores(rows[-1])
    assert all(math.isfinite(p) and 0 <= p <= 1 for p in scores.values())
    assert all(scores[item] >= ranker.min_probability for item in picks)
    batch = ranker.suggest_batch(
        rows,
        mentioned=[mentioned] * len(rows),
        intents=[intent] * len(rows),
        tones=[tone] * len(rows),
        limit=limit,
    )
    assert batch[-1] == picks


@PROPERTIES
@given(
    rows=st.lists(
        st.one_of(
            st.none(),
            st.integers(),
            st.dictionaries(
                st.sampled_from(sorted(ROW_KEYS)), st.one_of(ODD_VALUES, st.lists(messages, max_size=3))
            ),
        ),
        max_size=4,
    )
)
def test_the_ranker_scores_any_row_it_is_handed(ranker: UpsellRanker, rows: list[Any]) -> None:
    scored = ranker.score_batch(rows)
    assert len(scored) == len(rows)
    assert all(set(scores) == set(ranker.items) for scores in scored)
    assert all(math.isfinite(p) for scores in scored for p in scores.values())


def _largest_texts() -> Iterator[str]:
    yield from (m for m in ADVERSARIAL_MESSAGES.values() if len(m) == MAX_TEXT_CHARS)
    yield ("lobster " * MAX_TEXT_CHARS)[:MAX_TEXT_CHARS]
    yield ("\ud800🎉 lobster tails" * MAX_TEXT_CHARS)[:MAX_TEXT_CHARS]


def test_largest_messages_are_remembered_and_ranked_in_bounded_time(ranker: UpsellRanker) -> None:
    texts = list(_largest_texts())
    assert texts and all(len(text) == MAX_TEXT_CHARS for text in texts)
    memory = ConversationMemory()
    # CPU time, not the wall clock: other processes share the cores (see test_time_bounds).
    t0 = time.process_time()
    rows = [
        memory.observe(f"c{index % 64}", text, "casual", 40, "2025-06-01", START, turn_index=index)
        for index, text in enumerate(texts * 3)
    ]
    batch = ranker.suggest_batch(
        rows,
        mentioned=[[]] * len(rows),
        intents=["booking_inquiry"] * len(rows),
        tones=["casual"] * len(rows),
    )
    assert time.process_time() - t0 < 2.0 + 0.05 * len(rows), len(rows)
    assert len(batch) == len(rows)
    # Handed raw rows of twenty full-size texts (no memory to trim them), one row still ranks within seconds.
    raw = {"party_size": 40, "customer_texts": (texts * 20)[:20]}
    t0 = time.process_time()
    ranker.suggest(raw, mentioned=[], intent="booking_inquiry", tone="casual")
    assert time.process_time() - t0 < 2.0
