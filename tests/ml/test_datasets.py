"""The dataset build's pure core: label resolution, rows, PII, upsell history and season, the manifest and
the reader. No database here (tests/stack/test_dataset_build.py runs the build against PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from schemas.vocabulary import INTENTS, SENTIMENTS, TONES
from services.ml.dataset_cli import ml_dataset_app
from services.ml.datasets import (
    DATA_FILES,
    INTENT_FILE,
    MANIFEST_NAME,
    TONE_FILE,
    UPSELL_FILE,
    BuildOptions,
    Conversation,
    DatasetBuilder,
    DatasetFiles,
    DatasetInputError,
    DatasetIntegrityError,
    HumanLabel,
    Message,
    ModelAnalysis,
    Outcome,
    Vote,
    check_output_dir,
    finish_dataset,
    jsonl_line,
    parse_time_range,
    read_dataset,
    resolve_message_labels,
    resolve_votes,
    season_of,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HUMANS_ONLY = BuildOptions()
WITH_MODEL = BuildOptions(include_model_labels=True, min_model_confidence=0.9)


def label(
    value: Any,
    *,
    field: str = "tone",
    labeller: str | None = "ana",
    minutes: int = 0,
    entity_name: str | None = None,
    event_id: str | None = None,
) -> HumanLabel:
    return HumanLabel(
        event_id=event_id or f"label-{field}-{labeller}-{minutes}-{value!r}",
        field=field,
        value=value,
        labeller=labeller,
        occurred_at=T0 + timedelta(hours=1, minutes=minutes),
        entity_name=entity_name,
    )


def analysis(
    *,
    tone: str | None = "casual",
    intent: str | None = "booking_inquiry",
    sentiment: str | None = "positive",
    confidence: float | None = 0.95,
    path: str = "fast",
    entities: dict[str, Any] | None = None,
) -> ModelAnalysis:
    return ModelAnalysis(path, tone, intent, sentiment, confidence, entities or {})


def customer(
    event_id: str,
    text: str,
    *,
    turn: int = 0,
    at: datetime = T0,
    model: ModelAnalysis | None = None,
    labels: tuple[HumanLabel, ...] = (),
    customer_id: int | None = 7,
) -> Message:
    return Message(event_id, "customer", text, turn, at, customer_id, model, labels)


def ai(event_id: str, turn: int, at: datetime) -> Message:
    return Message(event_id, "ai", "Happy to help with that!", turn, at)


def outcome(**overrides: Any) -> Outcome:
    fields: dict[str, Any] = {
        "event_id": "outcome-1",
        "customer_id": 7,
        "booked": True,
        "total_value": 1250.5,
        "offered": ("lobster_tail", "sake_pairing"),
        "accepted": ("lobster_tail",),
        "occurred_at": datetime(2026, 3, 1, 13, 0, tzinfo=UTC),
        "previous_bookings": 2,
        "previous_accepted": 3,
    }
    fields.update(overrides)
    return Outcome(**fields)


def one_message(message: Message, options: BuildOptions = HUMANS_ONLY) -> tuple[DatasetBuilder, Any]:
    builder = DatasetBuilder(options)
    rows = builder.rows_of(Conversation("conv-1", (message,)))
    return builder, rows


# --- Label resolution --------------------------------------------------------------------------------


def test_two_labellers_disagreeing_resolve_to_the_later_label_with_half_agreement() -> None:
    labels = (label("warm", labeller="ana", minutes=0), label("casual", labeller="ben", minutes=5))
    resolved = resolve_message_labels(labels).resolved["tone"]
    assert (resolved.value, resolved.labellers, resolved.agreeing, resolved.agreement) == (
        "casual",
        2,
        1,
        0.5,
    )

    # The same two labels given the other way round: the later one still wins.
    swapped = (label("warm", labeller="ana", minutes=5), label("casual", labeller="ben", minutes=0))
    assert resolve_message_labels(swapped).resolved["tone"].value == "warm"


def test_the_majority_beats_a_later_single_label() -> None:
    labels = (
        label("anxious", labeller="ana", minutes=0),
        label("anxious", labeller="ben", minutes=1),
        label("formal", labeller="cy", minutes=9),
    )
    resolved = resolve_message_labels(labels).resolved["tone"]
    assert (resolved.value, resolved.labellers, resolved.agreeing) == ("anxious", 3, 2)
    assert resolved.agreement == pytest.approx(2 / 3)


def test_a_labeller_who_corrects_themselves_votes_once_with_their_latest_label() -> None:
    labels = (
        label("formal", labeller="ana", minutes=0),
        label("formal", labeller="ana", minutes=1),
        label("direct", labeller="ana", minutes=2),
        label("formal", labeller="ben", minutes=3),
    )
    resolved = resolve_message_labels(labels).resolved["tone"]
    # ana's vote is "direct" now; one vote each, and ben's is the later one.
    assert (resolved.value, resolved.labellers, resolved.agreeing) == ("formal", 2, 1)


def test_unnamed_labels_each_count_as_their_own_labeller() -> None:
    labels = (
        label("warm", labeller=None, minutes=0, event_id="a"),
        label("warm", labeller=None, minutes=1, event_id="b"),
        label("direct", labeller="ana", minutes=2),
    )
    resolved = resolve_message_labels(labels).resolved["tone"]
    assert (resolved.value, resolved.labellers, resolved.agreeing) == ("warm", 3, 2)


def test_resolve_votes_without_votes_is_none() -> None:
    assert resolve_votes([]) is None
    vote = Vote("x", "ana", T0, "1")
    assert resolve_votes([vote]) is not None


def test_out_of_vocabulary_labels_are_rejected_and_counted_never_used() -> None:
    labels = (
        label("furious", labeller="ana"),  # not a tone
        label(["casual"], labeller="ben"),  # not a string
        label(None, labeller="cy"),
        label(" Casual ", labeller="dee"),  # a tone, written loosely
        label("purchase", field="intent", labeller="ana"),
        label("meh", field="sentiment", labeller="ana"),
        label("0", field="entity", entity_name="party_size", labeller="ana"),
        label("next friday", field="entity", entity_name="date", labeller="ana"),
        label("Ana", field="entity", entity_name="name", labeller="ana"),  # not used here: not read
        label("x", field="frustrated", labeller="ana"),  # not a field of this dataset: not read
    )
    found = resolve_message_labels(labels)
    assert (found.read, found.rejected) == (8, 7)
    assert {key: r.value for key, r in found.resolved.items()} == {"tone": "casual"}

    builder, rows = one_message(customer("m1", "hey can we book", labels=labels, model=analysis()))
    assert [row["tone"] for row in rows.tone] == ["casual"]
    assert rows.tone[0]["extra"]["labellers"] == 1
    assert rows.intent == []  # the only intent label was rejected and model labels are off
    assert builder.counts.to_json() == {
        "conversations": 1,
        "customer_messages": 1,
        "human_labels": 8,
        "human_labels_rejected": 7,
        "model_labels_used": 0,
        "outcomes": 0,
        "upsell_rows": 0,
    }


# --- Tone and intent rows ----------------------------------------------------------------------------


def test_a_human_label_beats_the_model_and_the_row_claims_only_its_own_field() -> None:
    message = customer(
        "m1",
        "Good evening, I would like to arrange a dinner.",
        model=analysis(tone="casual", intent="booking_inquiry", confidence=0.99, path="ml"),
        labels=(label("formal", labeller="ana"), label("negative", field="sentiment", labeller="ben")),
    )
    builder, rows = one_message(message, WITH_MODEL)
    (tone_row,) = rows.tone
    assert tone_row == {
        "id": "collected-m1",
        "source": "teppan_collected",
        "split": "train",
        "text": "Good evening, I would like to arrange a dinner.",
        "intent": None,
        "tone": "formal",
        "entities": {"party_size": None, "date": None, "time": None, "name": None},
        "annotated": {"intent": False, "tone": True, "entities": []},
        "source_labels": {},
        "extra": {
            "label_source": "human",
            "labellers": 1,
            "agreement": 1.0,
            "model_path": "ml",
            "model_confidence": 0.99,
            "sentiment": "negative",
            "sentiment_source": "human",
            "conversation_id": "conv-1",
            "occurred_at": "2026-03-01T12:00:00.000Z",
        },
    }
    # No human intent label: with --include-model-labels the model's confident answer is used.
    (intent_row,) = rows.intent
    assert (intent_row["intent"], intent_row["tone"]) == ("booking_inquiry", None)
    assert intent_row["annotated"] == {"intent": True, "tone": False, "entities": []}
    assert intent_row["extra"]["label_source"] == "model"
    assert (intent_row["extra"]["labellers"], intent_row["extra"]["agreement"]) == (0, None)
    assert builder.counts.model_labels_used == 1


def test_model_answers_are_left_out_by_default_and_below_the_confidence_floor() -> None:
    confident = customer("m1", "how much per person", model=analysis(confidence=0.95))
    _, rows = one_message(confident)
    assert (rows.tone, rows.intent) == ([], [])

    builder, rows = one_message(confident, WITH_MODEL)
    assert [row["extra"]["sentiment"] for row in rows.tone] == ["positive"]
    assert rows.tone[0]["extra"]["sentiment_source"] == "model"
    assert builder.counts.model_labels_used == 2

    at_floor = customer("m2", "how much per person", model=analysis(confidence=0.9))
    assert len(one_message(at_floor, WITH_MODEL)[1].tone) == 1
    unsure = customer("m3", "how much per person", model=analysis(confidence=0.89))
    assert one_message(unsure, WITH_MODEL)[1].tone == []
    off_vocabulary = customer("m4", "how much", model=analysis(tone="frustrated", intent=None))
    assert one_message(off_vocabulary, WITH_MODEL)[1].tone == []


def test_only_customer_messages_with_text_become_rows() -> None:
    builder = DatasetBuilder(HUMANS_ONLY)
    conversation = Conversation(
        "conv-1",
        (
            customer("m1", "   ", labels=(label("warm"),)),
            ai("a1", 1, T0 + timedelta(minutes=1)),
            customer("m2", "great thanks", turn=2, labels=(label("warm"),)),
        ),
    )
    rows = builder.rows_of(conversation)
    assert [row["id"] for row in rows.tone] == ["collected-m2"]
    assert builder.counts.customer_messages == 2


def test_pii_is_scrubbed_from_every_text_written() -> None:
    text = "Book us for 12 guests, call me at 555-867-5309 or mail jo.smith@example.com"
    scrubbed = "Book us for 12 guests, call me at [phone] or mail [email]"
    message = customer("m1", text, labels=(label("direct"), label("booking_inquiry", field="intent")))
    conversation = Conversation("conv-1", (message,), outcome())
    rows = DatasetBuilder(HUMANS_ONLY).rows_of(conversation)
    assert [row["text"] for row in rows.tone + rows.intent] == [scrubbed, scrubbed]
    assert rows.upsell is not None
    assert rows.upsell["customer_texts"] == [scrubbed]


# --- Upsell rows -------------------------------------------------------------------------------------


def upsell_conversation(**outcome_overrides: Any) -> Conversation:
    return Conversation(
        "conv-9",
        (
            customer(
                "m1",
                "hi, a hibachi party for 10 on july 4th?",
                model=analysis(tone="casual", entities={"party_size": {"text": "10", "value": 10}}),
            ),
            ai("a1", 1, T0 + timedelta(minutes=1)),
            customer(
                "m2",
                "actually 14 of us, on 2026-07-04",
                turn=2,
                at=T0 + timedelta(minutes=2),
                model=analysis(
                    tone="warm",
                    entities={
                        "party_size": {"text": "14", "value": 14},
                        "date": {"text": "2026-07-04", "value": "2026-07-04"},
                    },
                ),
            ),
            customer("m3", "ok", turn=3, at=T0 + timedelta(minutes=3), model=None),
            # After the outcome: not known when it came.
            customer(
                "m4",
                "thanks again!",
                turn=4,
                at=T0 + timedelta(hours=5),
                model=analysis(entities={"party_size": {"text": "30", "value": 30}}),
            ),
        ),
        outcome(**outcome_overrides),
    )


def test_the_upsell_row_takes_what_was_known_when_the_outcome_came() -> None:
    builder = DatasetBuilder(HUMANS_ONLY)
    row = builder.rows_of(upsell_conversation()).upsell
    assert row == {
        "conversation_id": "conv-9",
        "customer_id": 7,
        "occurred_at": "2026-03-01T13:00:00.000Z",
        "booked": True,
        "party_size": 14,
        "event_date": "2026-07-04",
        "month": 7,
        "season": "summer",
        "turns": 4,
        "customer_texts": [
            "hi, a hibachi party for 10 on july 4th?",
            "actually 14 of us, on 2026-07-04",
            "ok",
        ],
        "tones": ["casual", "warm", None],
        "customer_previous_bookings": 2,
        "customer_previous_accepted": 3,
        "booking_value": 1250.5,
        "offered": ["lobster_tail", "sake_pairing"],
        "accepted": ["lobster_tail"],
    }
    assert (builder.counts.outcomes, builder.counts.upsell_rows) == (1, 1)


def test_without_an_event_date_the_season_is_the_outcomes_and_history_needs_a_customer() -> None:
    conversation = Conversation(
        "conv-2",
        (customer("m1", "price for 20?", model=analysis(), customer_id=None),),
        outcome(customer_id=None, occurred_at=datetime(2026, 12, 31, 23, 0, tzinfo=UTC), total_value=None),
    )
    row = DatasetBuilder(HUMANS_ONLY).rows_of(conversation).upsell
    assert row is not None
    assert (row["event_date"], row["party_size"], row["month"], row["season"]) == (None, None, 12, "winter")
    assert (row["customer_previous_bookings"], row["customer_previous_accepted"]) == (0, 0)
    assert (row["customer_id"], row["booking_value"]) == (None, None)


def test_a_human_entity_label_beats_the_extracted_entity() -> None:
    labelled = customer(
        "m1",
        "about 40 people on october 3",
        model=analysis(entities={"party_size": {"text": "40", "value": 40}}),
        labels=(
            label(45, field="entity", entity_name="party_size"),
            label({"text": "october 3", "value": "2026-10-03"}, field="entity", entity_name="date"),
        ),
    )
    row = DatasetBuilder(HUMANS_ONLY).rows_of(Conversation("c", (labelled,), outcome())).upsell
    assert row is not None
    assert (row["party_size"], row["event_date"], row["month"], row["season"]) == (
        45,
        "2026-10-03",
        10,
        "autumn",
    )


def test_no_upsell_row_without_offers_or_outcome() -> None:
    builder = DatasetBuilder(HUMANS_ONLY)
    assert builder.rows_of(upsell_conversation(offered=())).upsell is None
    assert builder.rows_of(Conversation("c", (customer("m", "hi"),))).upsell is None
    assert (builder.counts.outcomes, builder.counts.upsell_rows) == (1, 0)


@pytest.mark.parametrize(
    ("day", "season"),
    [
        (date(2026, 12, 1), "winter"),
        (date(2026, 1, 15), "winter"),
        (date(2026, 2, 28), "winter"),
        (date(2026, 3, 1), "spring"),
        (date(2026, 5, 31), "spring"),
        (date(2026, 6, 1), "summer"),
        (date(2026, 8, 31), "summer"),
        (date(2026, 9, 1), "autumn"),
        (date(2026, 11, 30), "autumn"),
    ],
)
def test_seasons_are_meteorological(day: date, season: str) -> None:
    assert season_of(day) == season


# --- Files, manifest and reader ------------------------------------------------------------------------


def write_dataset(out_dir: Path) -> dict[str, Any]:
    builder = DatasetBuilder(WITH_MODEL)
    conversations = [
        upsell_conversation(),
        Conversation("conv-3", (customer("m9", "Line\u2028break café", labels=(label("warm"),)),)),
    ]
    check_output_dir(out_dir)
    with DatasetFiles(out_dir) as files:
        for conversation in conversations:
            files.write(builder.rows_of(conversation))
    time_range = parse_time_range("2026-03-01T00:00:00Z", "2026-03-02T00:00:00+01:00")
    created = datetime(2026, 3, 5, tzinfo=UTC)
    return finish_dataset(out_dir, time_range, files.results(), builder.counts, WITH_MODEL, created)


def test_the_manifest_records_files_digests_counts_and_options(tmp_path: Path) -> None:
    out_dir = tmp_path / "dataset"
    manifest = write_dataset(out_dir)
    assert sorted(path.name for path in out_dir.iterdir()) == sorted([*DATA_FILES, MANIFEST_NAME])
    assert json.loads((out_dir / MANIFEST_NAME).read_text()) == manifest
    whole = b"".join((out_dir / name).read_bytes() for name in (INTENT_FILE, TONE_FILE, UPSELL_FILE))
    assert manifest["sha256"] == hashlib.sha256(whole).hexdigest()
    for name in DATA_FILES:
        data = (out_dir / name).read_bytes()
        assert manifest["files"][name] == {
            "rows": data.count(b"\n"),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    # The model's answers for m1, m2 and m4 (m3 has none), and the human tone label of m9.
    assert {name: entry["rows"] for name, entry in manifest["files"].items()} == {
        INTENT_FILE: 3,
        TONE_FILE: 4,
        UPSELL_FILE: 1,
    }
    assert (manifest["since"], manifest["until"]) == ("2026-03-01T00:00:00.000Z", "2026-03-01T23:00:00.000Z")
    assert manifest["source"] == "db"
    assert manifest["created_at"] == "2026-03-05T00:00:00.000Z"
    assert manifest["options"] == {"include_model_labels": True, "min_model_confidence": 0.9}
    assert manifest["counts"]["conversations"] == 2
    assert manifest["counts"]["upsell_rows"] == 1
    # One row per line, for readers that split on every line break.
    assert (
        len((out_dir / TONE_FILE).read_text(encoding="utf-8").splitlines())
        == manifest["files"][TONE_FILE]["rows"]
    )


def test_the_reader_gives_the_rows_back(tmp_path: Path) -> None:
    manifest = write_dataset(tmp_path)
    dataset = read_dataset(tmp_path)
    assert dataset.manifest == manifest
    assert [row["id"] for row in dataset.tone_rows()][-1] == "collected-m9"
    assert dataset.tone_rows()[-1]["text"] == "Line\u2028break café"
    assert all(row["annotated"]["intent"] and not row["annotated"]["tone"] for row in dataset.intent_rows())
    assert [row["conversation_id"] for row in dataset.upsell_rows()] == ["conv-9"]


def test_the_reader_refuses_a_changed_file_and_an_unfinished_folder(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    with (tmp_path / TONE_FILE).open("ab") as handle:
        handle.write(jsonl_line({"id": "smuggled"}))
    with pytest.raises(DatasetIntegrityError, match=r"tone\.jsonl does not match its manifest"):
        read_dataset(tmp_path)

    (tmp_path / MANIFEST_NAME).unlink()
    with pytest.raises(DatasetIntegrityError, match="has no manifest.json"):
        read_dataset(tmp_path)


def test_the_reader_refuses_a_missing_file(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    (tmp_path / UPSELL_FILE).unlink()
    with pytest.raises(DatasetIntegrityError, match="upsell.jsonl is missing"):
        read_dataset(tmp_path)


# --- The request -------------------------------------------------------------------------------------


def test_bad_requests_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetInputError, match="has no UTC offset"):
        parse_time_range("2026-03-01T00:00:00", "2026-03-02T00:00:00Z")
    with pytest.raises(DatasetInputError, match="is not an ISO-8601 time"):
        parse_time_range("yesterday", "2026-03-02T00:00:00Z")
    with pytest.raises(DatasetInputError, match="must be before"):
        parse_time_range("2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z")
    with pytest.raises(DatasetInputError, match="between 0 and 1"):
        BuildOptions(include_model_labels=True, min_model_confidence=1.5)
    (tmp_path / "something").write_text("x")
    with pytest.raises(DatasetInputError, match="is not empty"):
        check_output_dir(tmp_path)
    with pytest.raises(DatasetInputError, match="not a folder"):
        check_output_dir(tmp_path / "something")


def cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(ml_dataset_app, name="dataset")
    return app


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--since", "2026-03-01", "--until", "2026-03-02T00:00Z"], "has no UTC offset"),
        (
            ["--since", "2026-03-01T00:00Z", "--until", "2026-03-02T00:00Z", "--min-model-confidence", "2"],
            "between 0",
        ),
        (["--since", "2026-03-01T00:00Z", "--until", "2026-03-02T00:00Z"], "is not empty"),
    ],
)
def test_the_command_exits_2_on_bad_input_without_a_traceback(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    (tmp_path / "old.jsonl").write_text("{}\n")
    result = CliRunner().invoke(cli(), ["dataset", "build", *arguments, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["old.jsonl"]


# --- Any input --------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
words = st.sampled_from([*TONES, *INTENTS, *SENTIMENTS, "Casual ", "FORMAL", ""]) | st.text(max_size=12)
labels_strategy = st.builds(
    HumanLabel,
    event_id=st.text(max_size=8),
    field=st.sampled_from(["tone", "intent", "sentiment", "entity", "other"]),
    value=json_values | words,
    labeller=st.none() | st.sampled_from(["ana", "ben", ""]),
    occurred_at=st.datetimes(timezones=st.just(UTC)),
    entity_name=st.none() | st.sampled_from(["party_size", "date", "time"]),
)
analyses = st.none() | st.builds(
    ModelAnalysis,
    path=st.sampled_from(["fast", "ml"]),
    tone=st.none() | words,
    intent=st.none() | words,
    sentiment=st.none() | words,
    confidence=st.none() | st.floats(),
    entities=st.dictionaries(st.sampled_from(["party_size", "date", "x"]), json_values, max_size=3),
)
messages = st.builds(
    Message,
    event_id=st.uuids().map(str),
    role=st.sampled_from(["customer", "ai", "human_agent"]),
    text=st.text(),
    turn_index=st.integers(0, 50),
    occurred_at=st.datetimes(timezones=st.just(UTC)),
    customer_id=st.none() | st.integers(),
    analysis=analyses,
    labels=st.lists(labels_strategy, max_size=5).map(tuple),
)
outcomes = st.none() | st.builds(
    Outcome,
    event_id=st.just("o"),
    customer_id=st.none() | st.integers(),
    booked=st.booleans(),
    total_value=st.none() | st.floats(),
    offered=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    accepted=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    occurred_at=st.datetimes(timezones=st.just(UTC)),
    previous_bookings=st.integers(0, 5),
    previous_accepted=st.integers(0, 5),
)


@settings(max_examples=200, deadline=None)
@given(
    conversation_messages=st.lists(messages, max_size=4),
    conversation_outcome=outcomes,
    include_model_labels=st.booleans(),
)
def test_any_text_and_label_values_never_crash_row_building(
    conversation_messages: list[Message], conversation_outcome: Outcome | None, include_model_labels: bool
) -> None:
    builder = DatasetBuilder(BuildOptions(include_model_labels=include_model_labels))
    rows = builder.rows_of(Conversation("c", tuple(conversation_messages), conversation_outcome))
    for row in rows.tone:
        assert row["tone"] in TONES and row["intent"] is None
    for row in rows.intent:
        assert row["intent"] in INTENTS and row["tone"] is None
    for row in rows.tone + rows.intent:
        assert row["extra"].get("sentiment", "neutral") in SENTIMENTS
    every_row = rows.tone + rows.intent + ([rows.upsell] if rows.upsell else [])
    for row in every_row:
        line = jsonl_line(row)  # valid UTF-8 JSON, always
        assert json.loads(line.decode("utf-8")) is not None
        assert len(line.decode("utf-8").splitlines()) == 1
    counts = builder.counts
    assert counts.human_labels_rejected <= counts.human_labels


def test_collected_rows_teach_only_the_heads_they_are_labelled_for() -> None:
    from services.ml.datasets import collected_rows_by_head
    from services.ml.training import _training_sets

    rows = [
        {"text": "party of 9 pls", "tone": "casual", "intent": None, "annotated": {"tone": True, "intent": False},
         "extra": {"sentiment": "positive", "sentiment_source": "human"}},
        {"text": "how much is it", "tone": None, "intent": "pricing_question",
         "annotated": {"tone": False, "intent": True}, "extra": {"sentiment": "neutral", "sentiment_source": "model"}},
        {"text": "   ", "tone": "casual", "annotated": {"tone": True}},
        {"text": "odd", "tone": "grumpy", "annotated": {"tone": True}},
    ]  # fmt: skip
    assert collected_rows_by_head(rows) == {
        "tone": [("party of 9 pls", "casual")],
        "intent": [("how much is it", "pricing_question")],
        "sentiment": [("party of 9 pls", "positive")],  # a model's sentiment teaches nothing new
    }
    without, with_rows = _training_sets(False), _training_sets(False, rows)
    assert with_rows["tone"][len(without["tone"]) :] == [("party of 9 pls", "casual", 1.0)]
    assert with_rows["intent"][len(without["intent"]) :] == [("how much is it", "pricing_question", 1.0)]
