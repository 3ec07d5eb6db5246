"""The replay's pure core, without Kafka or PostgreSQL: times, which records a partition gives, the line
format, digests, the manifest, the database rows mapped back to events, and the CLI's refusals."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from schemas import topics
from schemas.events import BookingOutcome, Label, MessageAnalysis, SurveyResponse, Turn, TurnContext
from services.ml.replay.core import (
    DB_PARTITION,
    MANIFEST_NAME,
    DataFile,
    PartitionResult,
    PartitionWindow,
    ReplayInputError,
    ReplaySource,
    TimeRange,
    build_manifest,
    check_output_dir,
    data_file_name,
    iso_utc,
    parse_instant,
    parse_topics,
    record_line,
    sha256_of_files,
    timestamp_from_ms,
    write_manifest,
)
from services.ml.replay.db_source import (
    REBUILDABLE,
    analysis_from_row,
    check_rebuildable,
    event_line,
    label_from_row,
    outcome_from_row,
    survey_from_row,
    turn_from_row,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


def window(since_ms: int, until_ms: int, end_offset: int = 1_000) -> PartitionWindow:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return PartitionWindow(
        TimeRange(epoch + timedelta(milliseconds=since_ms), epoch + timedelta(milliseconds=until_ms)),
        end_offset,
    )


def read(partition_window: PartitionWindow, records: list[tuple[int, int]], position: int) -> list[int]:
    """Feed (offset, timestamp_ms) records as a consumer would; the offsets kept."""
    kept = []
    for offset, timestamp in records:
        decision = partition_window.decide(offset, timestamp)
        if decision == "stop":
            break
        if decision == "keep":
            kept.append(offset)
    partition_window.reached(position)
    return kept


# --- Times and topics ---------------------------------------------------------------------------------


def test_an_instant_with_an_offset_is_converted_to_utc() -> None:
    assert parse_instant("2026-03-01T13:00:00+01:00", name="--since") == T0
    assert parse_instant("2026-03-01T12:00Z", name="--since") == T0
    assert parse_instant(" 2026-03-01T12:00:00.250000Z ", name="--since") == T0 + timedelta(milliseconds=250)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("2026-03-01T12:00:00", "no UTC offset"),
        ("2026-03-01", "no UTC offset"),
        ("yesterday", "not an ISO-8601 time"),
        ("2026-13-01T00:00Z", "not an ISO-8601 time"),
        ("", "not an ISO-8601 time"),
    ],
)
def test_a_time_that_is_not_iso_or_has_no_offset_is_refused_by_name(text: str, complaint: str) -> None:
    with pytest.raises(ReplayInputError, match=complaint) as caught:
        parse_instant(text, name="--until")
    assert "--until" in str(caught.value)


def test_since_must_come_before_until() -> None:
    with pytest.raises(ReplayInputError, match="must be before"):
        TimeRange.parse("2026-03-01T12:00Z", "2026-03-01T12:00Z")
    with pytest.raises(ReplayInputError, match="must be before"):
        TimeRange.parse("2026-03-01T13:00Z", "2026-03-01T13:30+01:00")
    assert (
        TimeRange.parse("2026-03-01T12:00Z", "2026-03-01T12:00:00.001Z").until_us - T0.timestamp() * 1e6
        == 1000
    )


def test_a_broker_is_asked_for_the_first_whole_millisecond_at_or_after_since() -> None:
    exact = TimeRange(T0, T0 + timedelta(hours=1))
    finer = TimeRange(T0 + timedelta(microseconds=1), T0 + timedelta(hours=1))
    assert exact.since_ms == T0_MS
    assert finer.since_ms == T0_MS + 1


def test_topics_are_split_stripped_and_each_named_once() -> None:
    assert parse_topics(" a.v1, b.v1 ,a.v1") == ("a.v1", "b.v1")
    with pytest.raises(ReplayInputError, match="names no topic"):
        parse_topics(" , ")
    with pytest.raises(ReplayInputError, match="empty name"):
        parse_topics("a,,b")


# --- Which records a partition gives ------------------------------------------------------------------


def test_records_before_since_are_skipped_and_the_first_at_or_after_until_stops_the_reading() -> None:
    records = [(offset, T0_MS + offset * 1000) for offset in range(10)]
    partition = window(T0_MS + 3000, T0_MS + 7000)
    assert read(partition, records, position=10) == [3, 4, 5, 6]
    assert partition.offsets == (3, 7)
    assert partition.skipped == 3 and partition.kept == 4


def test_the_end_offset_taken_at_the_start_bounds_the_reading() -> None:
    records = [(offset, T0_MS + offset * 1000) for offset in range(10)]
    partition = window(T0_MS + 3000, T0_MS + 99_000, end_offset=6)
    assert read(partition, records, position=10) == [3, 4, 5]
    assert partition.offsets == (3, 6)


def test_a_range_after_every_record_is_empty_at_the_end_offset() -> None:
    partition = window(T0_MS + 50_000, T0_MS + 60_000, end_offset=5)
    assert read(partition, [(offset, T0_MS + offset) for offset in range(5)], position=5) == []
    assert partition.offsets == (5, 5)


def test_a_range_between_two_records_is_empty_at_the_next_record() -> None:
    partition = window(T0_MS + 1500, T0_MS + 1800, end_offset=5)
    assert read(partition, [(offset, T0_MS + offset * 1000) for offset in range(5)], position=5) == []
    assert partition.offsets == (2, 2)


def test_a_partition_whose_reading_begins_at_its_end_is_empty_there() -> None:
    partition = window(T0_MS, T0_MS + 1000, end_offset=7)
    assert partition.reached(7)
    assert partition.offsets == (7, 7)


def test_out_of_order_timestamps_follow_the_brokers_offset_range() -> None:
    # As Kafka's time index answers: the range runs from the first record at or after `since` to the
    # first one at or after `until`; records stamped earlier between them (offsets 1 and 3) are inside it,
    # and one stamped inside the range after that first one (offset 6) is not.
    stamps = [5, 1, 9, 3, 6, 12, 4]
    records = [(offset, T0_MS + stamp * 1000) for offset, stamp in enumerate(stamps)]
    partition = window(T0_MS + 2000, T0_MS + 10_000)
    assert read(partition, records, position=len(stamps)) == [0, 1, 2, 3, 4]
    assert partition.offsets == (0, 5)


def test_a_record_without_a_timestamp_never_starts_or_stops_the_range() -> None:
    records = [(0, -1), (1, T0_MS + 1000), (2, -1), (3, T0_MS + 9000)]
    partition = window(T0_MS, T0_MS + 5000)
    assert read(partition, records, position=4) == [1, 2]
    assert partition.offsets == (1, 3)


def test_the_bounds_are_exact_to_the_microsecond() -> None:
    since = T0 + timedelta(microseconds=500)  # half a millisecond after T0_MS
    until = T0 + timedelta(milliseconds=2, microseconds=1)
    partition = PartitionWindow(TimeRange(since, until), end_offset=10)
    records = [(0, T0_MS), (1, T0_MS + 1), (2, T0_MS + 2), (3, T0_MS + 3)]
    assert read(partition, records, position=4) == [1, 2]


def first_at_or_after(stamps: list[int], bound_ms: int) -> int:
    return next((offset for offset, stamp in enumerate(stamps) if stamp >= bound_ms), len(stamps))


@given(
    stamps=st.lists(st.integers(min_value=0, max_value=50), max_size=40),
    since=st.integers(min_value=0, max_value=55),
    length=st.integers(min_value=1, max_value=30),
    exact_start=st.booleans(),
)
def test_the_window_gives_what_offsets_for_times_would_wherever_reading_begins(
    stamps: list[int], since: int, length: int, exact_start: bool
) -> None:
    """The fallback (scan from the beginning, as on Tansu) and the exact start (Kafka) agree with the
    broker's definition: [offsets_for_times(since), offsets_for_times(until))."""
    until = since + length
    expected = (first_at_or_after(stamps, since), first_at_or_after(stamps, until))
    partition = window(since, until, end_offset=len(stamps))
    begin = expected[0] if exact_start else 0
    records = [(offset, stamps[offset]) for offset in range(begin, len(stamps))]
    if not partition.reached(begin):
        kept = read(partition, records, position=len(stamps))
        assert kept == list(range(*expected))
    assert partition.offsets == expected


# --- Lines ------------------------------------------------------------------------------------------


def test_timestamps_are_iso_utc_with_a_z() -> None:
    assert timestamp_from_ms(T0_MS + 678) == "2026-03-01T12:00:00.678Z"
    assert timestamp_from_ms(-1) is None
    assert iso_utc(datetime(2026, 3, 1, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))) == (
        "2026-03-01T12:00:00.123456Z"
    )


def test_a_line_keeps_the_value_text_exactly_and_its_fields_in_order() -> None:
    value = '{"b": 1,  "a": "caf\u00e9 \U0001f363"}'.encode()
    line = record_line(
        topic="t", partition=3, offset=17, timestamp="2026-03-01T12:00:00.000Z", key=b"k1", value=value
    )
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    parsed = json.loads(line)
    assert list(parsed) == ["topic", "partition", "offset", "timestamp", "key", "value"]
    assert parsed["value"].encode() == value
    assert parsed == {
        "topic": "t",
        "partition": 3,
        "offset": 17,
        "timestamp": "2026-03-01T12:00:00.000Z",
        "key": "k1",
        "value": value.decode(),
    }


def test_bytes_that_are_not_utf8_are_replaced_and_said_so() -> None:
    parsed = json.loads(
        record_line(topic="t", partition=0, offset=0, timestamp=None, key=b"\xff", value=b"ok\xfe")
    )
    assert parsed["value"] == "ok\ufffd" and parsed["value_encoding"] == "utf-8-replace"
    assert parsed["key"] == "\ufffd" and parsed["key_encoding"] == "utf-8-replace"
    clean = json.loads(record_line(topic="t", partition=0, offset=0, timestamp=None, key=None, value=None))
    assert clean["key"] is None and clean["value"] is None
    assert "value_encoding" not in clean and "key_encoding" not in clean


def test_line_breaks_that_json_allows_raw_are_escaped_so_every_reader_sees_one_line() -> None:
    value = "a\u2028b\u2029c\x85d\ne".encode()
    line = record_line(topic="t", partition=0, offset=0, timestamp=None, key=None, value=value)
    text = line.decode()
    assert len(text.splitlines()) == 1
    assert json.loads(text)["value"].encode() == value


def test_data_files_stay_inside_the_replay_folder() -> None:
    assert data_file_name("chat.turns.v1", 4) == "chat.turns.v1/4.jsonl"
    assert data_file_name("labels.v1", DB_PARTITION) == "labels.v1/db.jsonl"
    for bad in ("../x", "a/b", "..", ""):
        with pytest.raises(ReplayInputError):
            data_file_name(bad, 0)


# --- Files, digests, manifest ---------------------------------------------------------------------------


def test_the_replay_sha256_is_over_the_files_in_plain_string_order_of_their_paths(tmp_path: Path) -> None:
    contents = {("t", 2): [b"two\n"], ("t", 10): [b"ten\n", b"ten again\n"], ("s", 0): []}
    files = []
    for (topic, partition), lines in contents.items():
        with DataFile(tmp_path, topic, partition) as data_file:
            for line in lines:
                data_file.write(line)
        files.append(data_file)
        assert data_file.sha256 == hashlib.sha256(b"".join(lines)).hexdigest()
        assert data_file.records == len(lines) and data_file.size == sum(map(len, lines))
    names = [data_file.name for data_file in files]
    # "s/0" < "t/10" < "t/2": string order, not partition number.
    expected = hashlib.sha256(b"ten\nten again\ntwo\n").hexdigest()
    assert sha256_of_files(tmp_path, names) == expected
    assert (tmp_path / "s" / "0.jsonl").read_bytes() == b""


def test_the_manifest_records_the_lineage_in_a_stable_order(tmp_path: Path) -> None:
    time_range = TimeRange(T0, T0 + timedelta(hours=1))
    results = [
        PartitionResult("t", 10, 40, 45, 5, "c" * 64, 50),
        PartitionResult("t", 2, 7, 7, 0, "b" * 64, 0),
        PartitionResult("a", 0, 0, 3, 3, "a" * 64, 30),
    ]
    manifest = build_manifest(time_range, ReplaySource.KAFKA, results, "f" * 64)
    assert manifest["since"] == "2026-03-01T12:00:00.000Z"
    assert manifest["until"] == "2026-03-01T13:00:00.000Z"
    assert manifest["source"] == "kafka" and manifest["records"] == 8 and manifest["sha256"] == "f" * 64
    assert manifest["topics"] == {
        "a": {"0": {"start_offset": 0, "end_offset": 3, "records": 3}},
        "t": {
            "2": {"start_offset": 7, "end_offset": 7, "records": 0},
            "10": {"start_offset": 40, "end_offset": 45, "records": 5},
        },
    }
    assert list(manifest["topics"]["t"]) == ["2", "10"]
    assert list(manifest["files"]) == ["a/0.jsonl", "t/10.jsonl", "t/2.jsonl"]
    assert manifest["files"]["t/10.jsonl"] == {"sha256": "c" * 64, "records": 5, "bytes": 50}
    written = write_manifest(tmp_path, manifest)
    assert written == tmp_path / MANIFEST_NAME
    assert json.loads(written.read_text()) == manifest
    assert [path.name for path in tmp_path.iterdir()] == [MANIFEST_NAME]


def test_a_database_replay_has_a_db_partition_without_offsets() -> None:
    results = [PartitionResult("labels.v1", DB_PARTITION, None, None, 2, "d" * 64, 20)]
    manifest = build_manifest(TimeRange(T0, T0 + timedelta(days=1)), ReplaySource.DB, results, "e" * 64)
    assert manifest["source"] == "db"
    assert manifest["topics"] == {
        "labels.v1": {"db": {"start_offset": None, "end_offset": None, "records": 2}}
    }


def test_the_output_folder_must_be_new_or_empty(tmp_path: Path) -> None:
    check_output_dir(tmp_path / "new")
    check_output_dir(tmp_path)
    (tmp_path / "old.jsonl").write_text("x")
    with pytest.raises(ReplayInputError, match="not empty"):
        check_output_dir(tmp_path)
    with pytest.raises(ReplayInputError, match="not a folder"):
        check_output_dir(tmp_path / "old.jsonl")
    assert not (tmp_path / "new").exists()


# --- The database rows back to events -----------------------------------------------------------------


def stored(row: tuple[Any, ...]) -> dict[str, Any]:
    """A row as asyncpg reads it back: the columns by name, JSON columns as text, NUMERIC as Decimal."""
    values = dict(row._asdict())  # type: ignore[attr-defined]
    return {
        name: Decimal(str(value)) if name == "total_value" and value is not None else value
        for name, value in values.items()
    }


CONVERSATION = uuid.uuid4()
MOMENT = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_a_turn_comes_back_from_its_messages_row_whole_but_for_its_source() -> None:
    from services.analytics.conversation_log.core import message_row

    ai_fields: dict[str, Any] = {
        "tone_used": "warm",
        "suggested_upsells": ["gyoza"],
        "model": "m",
        "tokens_in": 5,
        "latency_ms": 12.5,
    }
    for role in ("customer", "ai"):
        turn = Turn.model_validate(
            {
                "conversation_id": CONVERSATION,
                "occurred_at": MOMENT,
                "customer_id": 7,
                "source": "web-widget",
                "role": role,
                "text": "Table for 8 on Friday? caf\u00e9",
                "channel": "web",
                "turn_index": 3,
                "experiments": {"tone": "warm"},
                "context": TurnContext(requested_slots=["date"], corrections=1),
                **(ai_fields if role == "ai" else {}),
            }
        )
        rebuilt = turn_from_row(stored(message_row(turn)))
        assert rebuilt == turn.model_copy(update={"source": None})


def test_an_analysis_outcome_survey_and_label_come_back_from_their_rows() -> None:
    from services.analytics.conversation_log.core import analysis_row, outcome_row
    from services.analytics.metrics.core import label_row, survey_row

    analysis = MessageAnalysis(
        conversation_id=CONVERSATION,
        occurred_at=MOMENT,
        message_event_id=uuid.uuid4(),
        turn_index=0,
        tone="warm",
        intent="book",
        sentiment="positive",
        confidence=0.9,
        path="ml",
    )
    assert analysis_from_row(stored(analysis_row(analysis))) == analysis
    outcome = BookingOutcome(
        conversation_id=CONVERSATION,
        occurred_at=MOMENT,
        customer_id=7,
        booked=True,
        total_value=123.45,
        offered_upsells=["gyoza"],
        accepted_upsells=["gyoza"],
    )
    assert outcome_from_row(stored(outcome_row(outcome))) == outcome
    survey = SurveyResponse(
        conversation_id=CONVERSATION, occurred_at=MOMENT, customer_id=7, rating=4, free_text="ok"
    )
    assert survey_from_row(stored(survey_row(survey))) == survey
    label = Label(
        conversation_id=CONVERSATION,
        occurred_at=MOMENT,
        customer_id=7,
        message_event_id=uuid.uuid4(),
        field="entity",
        entity_name="people",
        value={"n": 8},
        labeller="ana",
    )
    assert label_from_row(stored(label_row(label))) == label.model_copy(update={"customer_id": None})


def test_a_rebuilt_event_is_written_as_the_workers_publish_it() -> None:
    survey = SurveyResponse(conversation_id=CONVERSATION, occurred_at=MOMENT, rating=5)
    parsed = json.loads(event_line(topics.INGEST_SURVEYS, survey))
    assert parsed == {
        "topic": topics.INGEST_SURVEYS,
        "partition": "db",
        "offset": None,
        "timestamp": "2026-03-01T12:00:00.123456Z",
        "key": str(CONVERSATION),
        "value": survey.model_dump_json(),
    }


def test_topics_the_database_does_not_hold_are_refused_by_name() -> None:
    check_rebuildable([topics.CHAT_TURNS, topics.LABELS])
    with pytest.raises(ReplayInputError) as caught:
        check_rebuildable([topics.CHAT_TURNS, topics.CHAT_MESSAGES, topics.INGEST_SERVICE_CALLS])
    message = str(caught.value)
    assert topics.CHAT_MESSAGES in message and topics.INGEST_SERVICE_CALLS in message
    assert set(REBUILDABLE) == {
        topics.CHAT_TURNS,
        topics.NLP_ANALYSES,
        topics.INGEST_OUTCOMES,
        topics.INGEST_SURVEYS,
        topics.LABELS,
    }


def test_every_rebuild_query_is_parameterised_on_the_time_range() -> None:
    for source in REBUILDABLE.values():
        assert "occurred_at >= $1 AND occurred_at < $2" in source.query
        assert "ORDER BY occurred_at" in source.query


# --- The command's refusals (exit 2, a message, no traceback, nothing written) ------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--since", "2026-03-01T12:00", "--until", "2026-03-02T00:00Z"], "no UTC offset"),
        (["--since", "last week", "--until", "2026-03-02T00:00Z"], "not an ISO-8601 time"),
        (["--since", "2026-03-02T00:00Z", "--until", "2026-03-01T00:00Z"], "must be before"),
        (
            [
                "--since",
                "2026-03-01T00:00Z",
                "--until",
                "2026-03-02T00:00Z",
                "--source",
                "db",
                "--topics",
                "chat.messages.v1",
            ],
            "cannot rebuild from the database: chat.messages.v1",
        ),
    ],
)
def test_the_command_refuses_bad_input_with_exit_code_2(
    arguments: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services import cli

    # Nothing may be reached: the refusal comes before any server is.
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    if "--topics" not in arguments:
        arguments = [*arguments, "--topics", "chat.turns.v1"]
    out = tmp_path / "out"
    result = CliRunner().invoke(cli.app, ["replay", *arguments, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_the_command_refuses_a_folder_in_use(tmp_path: Path) -> None:
    from services import cli

    (tmp_path / "earlier.jsonl").write_text("{}\n")
    arguments = ["--topics", "chat.turns.v1", "--since", "2026-03-01T00:00Z", "--until", "2026-03-02T00:00Z"]
    result = CliRunner().invoke(cli.app, ["replay", *arguments, "--out", str(tmp_path)])
    assert result.exit_code == 2 and "not empty" in result.stderr
