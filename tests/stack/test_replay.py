"""`teppan replay` against the real broker and database: a known stream in three time bands, and only the
middle band comes back, with offsets, counts and digests the manifest states exactly."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import topics
from schemas.events import BookingOutcome, ConversationEvent, Label, MessageAnalysis, SurveyResponse, Turn
from services.ml.replay import ReplayInputError, ReplaySource, TimeRange, replay
from services.ml.replay.core import MANIFEST_NAME
from shared.embedded import EmbeddedServers, child_environment
from shared.kafka import create_producer, create_topics
from shared.settings import Settings

pytestmark = pytest.mark.stack

PARTITIONS = 3
PER_BAND = 4
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Produced:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None

    def line(self, topic: str) -> dict[str, Any]:
        """The line a replay must write for this record."""
        stamp = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=self.timestamp_ms)
        line: dict[str, Any] = {
            "topic": topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "key": None if self.key is None else self.key.decode(),
            "value": None if self.value is None else self.value.decode("utf-8", errors="replace"),
        }
        if self.value is not None and line["value"].encode() != self.value:
            line["value_encoding"] = "utf-8-replace"
        return line


@dataclass(frozen=True)
class KnownStream:
    topic: str
    time_range: TimeRange
    records: list[Produced]

    def inside(self) -> list[Produced]:
        since, until = (
            int(moment.timestamp() * 1000) for moment in (self.time_range.since, self.time_range.until)
        )
        return [record for record in self.records if since <= record.timestamp_ms < until]


def band_stamps(start_ms: int, band: str) -> list[int]:
    """A band's timestamps; the middle one starts exactly at `since` and ends a millisecond before `until`."""
    spread = [0, 1000, 2000, 3_599_999] if band == "inside" else [0, 1000, 2000, 3000]
    return [start_ms + delta for delta in spread]


def value_of(band: str, partition: int, index: int) -> bytes | None:
    if band == "inside" and index == 1:
        # Text a reader must get back exactly, and bytes that are not UTF-8 at all.
        return [
            json.dumps(
                {"text": "caf\u00e9 \U0001f363 a\u2028b", "n": partition}, ensure_ascii=False
            ).encode(),
            b"\xff\xfe not utf-8",
            None,  # a tombstone
        ][partition % 3]
    return json.dumps(
        {"band": band, "partition": partition, "index": index, "id": str(uuid.uuid4())}
    ).encode()


@pytest.fixture(scope="module")
async def known_stream(stack: Settings) -> KnownStream:
    """A fresh topic: on each partition, in time order, records before, inside and after one hour."""
    topic = f"replay-test-{uuid.uuid4().hex[:12]}"
    await create_topics(stack.model_copy(update={"partitions": PARTITIONS}), [topic])
    # Whole seconds some hours ago: a broker keeps them, and no other test stamps records there.
    base_ms = (int(datetime.now(UTC).timestamp()) - 6 * 3600) * 1000
    since_ms, until_ms = base_ms + 3_600_000, base_ms + 7_200_000
    producer = create_producer(stack)
    await producer.start()
    records = []
    try:
        for partition in range(PARTITIONS):
            for band, start_ms in (("before", base_ms), ("inside", since_ms), ("after", until_ms)):
                for index, stamp in enumerate(band_stamps(start_ms, band)):
                    key = None if (band, index) == ("inside", 2) else f"{band}-{partition}-{index}".encode()
                    value = value_of(band, partition, index)
                    meta = await producer.send_and_wait(
                        topic, value, key=key, partition=partition, timestamp_ms=stamp
                    )
                    records.append(Produced(partition, meta.offset, stamp, key, value))
    finally:
        await producer.stop()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    time_range = TimeRange(epoch + timedelta(milliseconds=since_ms), epoch + timedelta(milliseconds=until_ms))
    return KnownStream(topic, time_range, records)


def lines_of(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as handle:
        return [json.loads(line) for line in handle]


def sha256_in_path_order(out_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in sorted(str(path.relative_to(out_dir)) for path in out_dir.rglob("*.jsonl")):
        digest.update((out_dir / name).read_bytes())
    return digest.hexdigest()


async def test_a_replay_gives_exactly_the_records_produced_in_its_range(
    stack: Settings, known_stream: KnownStream, tmp_path: Path
) -> None:
    topic = known_stream.topic
    manifest = await replay(stack, topics=[topic], time_range=known_stream.time_range, out_dir=tmp_path / "r")
    out = tmp_path / "r"

    expected = known_stream.inside()
    assert len(expected) == PARTITIONS * PER_BAND
    for partition in range(PARTITIONS):
        wanted = [record.line(topic) for record in expected if record.partition == partition]
        assert lines_of(out / topic / f"{partition}.jsonl") == wanted
    # The special values came back as stated: exact text, replaced bytes flagged, a tombstone as null.
    unicode_text = lines_of(out / topic / "0.jsonl")[1]
    assert unicode_text["value"] == json.dumps(
        {"text": "caf\u00e9 \U0001f363 a\u2028b", "n": 0}, ensure_ascii=False
    )
    assert "value_encoding" not in unicode_text
    replaced = lines_of(out / topic / "1.jsonl")[1]
    assert replaced["value_encoding"] == "utf-8-replace" and replaced["value"].endswith(" not utf-8")
    assert lines_of(out / topic / "2.jsonl")[1]["value"] is None

    assert manifest == json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["source"] == "kafka"
    assert manifest["since"] == known_stream.time_range.since.isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )
    assert manifest["records"] == len(expected)
    for partition in range(PARTITIONS):
        offsets = [record.offset for record in known_stream.records if record.partition == partition]
        # Per partition: PER_BAND before, PER_BAND inside, then the first record at `until` ends the range.
        assert manifest["topics"][topic][str(partition)] == {
            "start_offset": offsets[PER_BAND],
            "end_offset": offsets[2 * PER_BAND],
            "records": PER_BAND,
        }
    assert manifest["sha256"] == sha256_in_path_order(out)
    for name, entry in manifest["files"].items():
        data = (out / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "records": PER_BAND, "bytes": len(data)}


async def test_the_same_range_replayed_again_gives_the_same_bytes(
    stack: Settings, known_stream: KnownStream, tmp_path: Path
) -> None:
    first = await replay(
        stack, topics=[known_stream.topic], time_range=known_stream.time_range, out_dir=tmp_path / "a"
    )
    again = await replay(
        stack, topics=[known_stream.topic], time_range=known_stream.time_range, out_dir=tmp_path / "b"
    )
    assert first == again


async def test_a_range_between_records_gives_empty_files_at_the_next_offset(
    stack: Settings, known_stream: KnownStream, tmp_path: Path
) -> None:
    since = known_stream.time_range.since + timedelta(seconds=2, milliseconds=1)
    quiet = TimeRange(since, since + timedelta(minutes=5))
    manifest = await replay(stack, topics=[known_stream.topic], time_range=quiet, out_dir=tmp_path)
    assert manifest["records"] == 0
    assert manifest["sha256"] == hashlib.sha256(b"").hexdigest()
    for partition in range(PARTITIONS):
        # The next record is the last one inside the band, at until - 1 ms.
        next_offset = [r.offset for r in known_stream.records if r.partition == partition][PER_BAND + 3]
        assert manifest["topics"][known_stream.topic][str(partition)] == {
            "start_offset": next_offset,
            "end_offset": next_offset,
            "records": 0,
        }
        assert (tmp_path / known_stream.topic / f"{partition}.jsonl").read_bytes() == b""


async def test_an_unknown_topic_is_refused_by_name_and_nothing_is_written(
    stack: Settings, known_stream: KnownStream, tmp_path: Path
) -> None:
    missing = f"no-such-topic-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ReplayInputError, match=missing):
        await replay(
            stack,
            topics=[known_stream.topic, missing],
            time_range=known_stream.time_range,
            out_dir=tmp_path / "out",
        )
    assert not (tmp_path / "out").exists()


async def test_the_broker_answers_a_time_lookup_the_replay_can_start_from(
    stack: Settings, known_stream: KnownStream
) -> None:
    """What the replay relies on from `offsets_for_times`: an offset at or before the range's first record.

    Apache Kafka answers that first record exactly; Tansu 0.6 answers the partition's first offset for any
    timestamp (the replay then skips by timestamp). Either way the replay above found exactly the range.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(known_stream.topic, partition) for partition in range(PARTITIONS)]
        since_ms = int(known_stream.time_range.since.timestamp() * 1000)
        answers = await consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
    finally:
        await consumer.stop()
    for tp, answer in answers.items():
        first_inside = [r.offset for r in known_stream.records if r.partition == tp.partition][PER_BAND]
        assert answer is not None and answer.offset <= first_inside


async def test_the_command_writes_the_replay_and_says_what_it_wrote(
    stack: Settings, stack_servers: EmbeddedServers, known_stream: KnownStream, tmp_path: Path
) -> None:
    out = tmp_path / "replay"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "replay",
        "--topics",
        known_stream.topic,
        # The same instants, written with another UTC offset.
        "--since",
        known_stream.time_range.since.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
        "--until",
        known_stream.time_range.until.isoformat().replace("+00:00", "Z"),
        "--out",
        str(out),
        env=child_environment(stack_servers, TEPPAN_DATA_DIR=str(tmp_path / "data")),
        cwd=REPOSITORY,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["records"] == PARTITIONS * PER_BAND
    assert f"{manifest['records']} records" in stdout.decode() and manifest["sha256"] in stdout.decode()
    # stderr is no terminal here, so no progress bar is drawn into it.
    assert "\x1b[" not in stderr.decode()

    bad = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "replay",
        "--topics",
        f"{known_stream.topic},no-such-topic-here",
        "--since",
        "2026-01-01T00:00Z",
        "--until",
        "2026-01-02T00:00Z",
        "--out",
        str(tmp_path / "bad"),
        env=child_environment(stack_servers, TEPPAN_DATA_DIR=str(tmp_path / "data")),
        cwd=REPOSITORY,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, bad_stderr = await asyncio.wait_for(bad.communicate(), timeout=120)
    assert bad.returncode == 2
    assert "no-such-topic-here" in bad_stderr.decode() and "Traceback" not in bad_stderr.decode()


# --- From the database --------------------------------------------------------------------------------


async def write_as_the_workers_do(db: asyncpg.Pool, events: Sequence[Any]) -> None:
    """Rows written by the real writers' own code: the conversation logger's and the metrics worker's."""
    from services.analytics.conversation_log.core import log_batch
    from services.analytics.conversation_log.store import PostgresConversationLog
    from services.analytics.metrics.core import LabelRow, SurveyRow, label_row, survey_row
    from shared.db import insert_rows

    await PostgresConversationLog(db).write_batch(log_batch(events))
    async with db.acquire() as connection, connection.transaction():
        surveys = [survey_row(event) for event in events if isinstance(event, SurveyResponse)]
        labels = [label_row(event) for event in events if isinstance(event, Label)]
        await insert_rows(connection, "surveys", SurveyRow._fields, surveys, conflict="(event_id) DO NOTHING")
        await insert_rows(connection, "labels", LabelRow._fields, labels, conflict="(event_id) DO NOTHING")


def conversation_events(conversation: uuid.UUID, at: datetime) -> list[Any]:
    """One conversation's events of every rebuildable kind, a second apart from `at`."""
    customer = Turn(
        conversation_id=conversation,
        occurred_at=at,
        customer_id=9,
        role="customer",
        text="8 people friday?",
        channel="web",
        turn_index=0,
    )
    answer = Turn(
        conversation_id=conversation,
        occurred_at=at + timedelta(seconds=1),
        customer_id=9,
        role="ai",
        text="Friday works!",
        turn_index=1,
        tone_used="warm",
        suggested_upsells=["gyoza"],
        model="m",
        tokens_in=3,
    )
    fast = MessageAnalysis(
        conversation_id=conversation,
        occurred_at=at + timedelta(seconds=2),
        message_event_id=customer.event_id,
        turn_index=0,
        tone="neutral",
        intent="book",
        sentiment="neutral",
        confidence=0.5,
    )
    ml = fast.model_copy(update={"event_id": uuid.uuid4(), "tone": "warm", "confidence": 0.9, "path": "ml"})
    outcome = BookingOutcome(
        conversation_id=conversation,
        occurred_at=at + timedelta(seconds=3),
        customer_id=9,
        booked=True,
        total_value=321.5,
        accepted_upsells=["gyoza"],
    )
    survey = SurveyResponse(conversation_id=conversation, occurred_at=at + timedelta(seconds=4), rating=5)
    label = Label(
        conversation_id=conversation,
        occurred_at=at + timedelta(seconds=5),
        message_event_id=customer.event_id,
        field="tone",
        value="warm",
        labeller="ana",
    )
    return [customer, answer, fast, ml, outcome, survey, label]


DB_TOPICS: dict[str, type[ConversationEvent]] = {
    topics.CHAT_TURNS: Turn,
    topics.NLP_ANALYSES: MessageAnalysis,
    topics.INGEST_OUTCOMES: BookingOutcome,
    topics.INGEST_SURVEYS: SurveyResponse,
    topics.LABELS: Label,
}


async def test_a_database_replay_rebuilds_the_events_of_its_range(
    stack: Settings, db: asyncpg.Pool, tmp_path: Path
) -> None:
    # A random hour decades ago: rows other tests write carry today's times.
    since = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(hours=random.randrange(200_000))
    until = since + timedelta(hours=1)
    bands = {"before": since - timedelta(minutes=1), "inside": since, "after": until}
    events = {band: conversation_events(uuid.uuid4(), at) for band, at in bands.items()}
    everything = [event for band_events in events.values() for event in band_events]
    ml_analyses = [e for e in everything if isinstance(e, MessageAnalysis) and e.path == "ml"]
    await write_as_the_workers_do(db, [event for event in everything if event not in ml_analyses])
    # Later, the ML path's analysis replaces the fast one (the logger's rule): only it can come back.
    await write_as_the_workers_do(db, ml_analyses)

    manifest = await replay(
        stack,
        topics=list(DB_TOPICS),
        time_range=TimeRange(since, until),
        out_dir=tmp_path,
        source=ReplaySource.DB,
    )
    stored_inside = [e for e in events["inside"] if not (isinstance(e, MessageAnalysis) and e.path == "fast")]
    kept = {topic: [e for e in stored_inside if isinstance(e, model)] for topic, model in DB_TOPICS.items()}
    for topic, model in DB_TOPICS.items():
        lines = lines_of(tmp_path / topic / "db.jsonl")
        assert [model.model_validate_json(line["value"]) for line in lines] == kept[topic], topic
        for line, event in zip(lines, kept[topic], strict=True):
            assert line["partition"] == "db" and line["offset"] is None
            assert line["key"] == str(event.conversation_id)
            assert datetime.fromisoformat(line["timestamp"]) == event.occurred_at
        assert manifest["topics"][topic] == {
            "db": {"start_offset": None, "end_offset": None, "records": len(kept[topic])}
        }
    assert manifest["source"] == "db"
    assert manifest["records"] == 2 + 1 + 1 + 1 + 1
    assert manifest["sha256"] == sha256_in_path_order(tmp_path)


async def test_a_database_replay_refuses_topics_it_cannot_rebuild(stack: Settings, tmp_path: Path) -> None:
    with pytest.raises(ReplayInputError, match=f"{topics.CHAT_MESSAGES}.*{topics.INGEST_SERVICE_CALLS}"):
        await replay(
            stack,
            topics=[topics.CHAT_TURNS, topics.CHAT_MESSAGES, topics.INGEST_SERVICE_CALLS],
            time_range=TimeRange(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)),
            out_dir=tmp_path / "out",
            source=ReplaySource.DB,
        )
    assert not (tmp_path / "out").exists()
