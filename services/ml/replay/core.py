"""The replay's pure core: the time range, which records of a partition it takes, the line format,
the data files' digests and the manifest. No Kafka and no database here; both sources build on this.

Layout of a replay directory::

    DIR/manifest.json
    DIR/<topic>/<partition>.jsonl     (`db.jsonl` for records rebuilt from PostgreSQL)

Each data file holds one JSON object per line, keys in this order::

    {"topic", "partition", "offset", "timestamp", "key", "value"[, "key_encoding"][, "value_encoding"]}

`timestamp` is the broker's record timestamp as ISO-8601 UTC ("2026-01-02T03:04:05.678Z"; null for a record
without one). `value` is the record value decoded as UTF-8, exactly: it is the text the broker held, so
`line["value"].encode()` gives back the record's bytes. Only a value that is not valid UTF-8 has its bad
bytes replaced (U+FFFD), and only then does the line carry `"value_encoding": "utf-8-replace"`; the same
for the key. A null value (a tombstone) is null. Lines are UTF-8; U+2028, U+2029 and U+0085 are written
as escapes, so that a reader splitting on every line break (`str.splitlines`) sees one record per line.

Lineage: `manifest.json` is::

    {"since", "until", "source", "records", "sha256",
     "topics": {topic: {partition: {"start_offset", "end_offset", "records"}}},
     "files": {relative path: {"sha256", "records", "bytes"}}}

`sha256` is the SHA-256 of the bytes of every data file concatenated, nothing between them, the files
taken in ascending order of their path relative to DIR written with '/' (plain code-point string order:
"t/10.jsonl" sorts before "t/2.jsonl"); `manifest.json` itself is not included. To check a copy:

    cd DIR && cat $(find . -name '*.jsonl' | sed 's|^./||' | LC_ALL=C sort) | sha256sum

`files` has each file's own digest. Partition keys are strings ("0", or "db" with null offsets for
records rebuilt from the database). A directory without `manifest.json` is an unfinished replay: the
manifest is written last.

Which records a partition gives (the Kafka source): the offsets from the first record whose timestamp is
at or after `since` up to, not including, the first record whose timestamp is at or after `until`, and
never past the partition's end offset when the replay began. That is what the broker's own time index
answers (`offsets_for_times`), so a record between the two offsets is replayed even if a producer stamped
it out of order; each file is then one contiguous offset range, whose lineage is two numbers.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

MANIFEST_NAME = "manifest.json"
DATA_SUFFIX = ".jsonl"
# The partition name of records rebuilt from the database, where partitions and offsets do not exist.
DB_PARTITION: Literal["db"] = "db"
REPLACED_UTF8 = "utf-8-replace"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# JSON allows these raw inside strings, but str.splitlines() breaks lines at them.
_LINE_BREAKS_JSON_ALLOWS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}

Partition = int | Literal["db"]


class ReplaySource(enum.StrEnum):
    KAFKA = "kafka"
    DB = "db"


class ReplayInputError(ValueError):
    """The request cannot be served as asked (bad time, empty range, unknown topic, used folder)."""


class ReplayError(RuntimeError):
    """The replay failed while running (broker or database unreachable, records gone while reading)."""


# --- The request: topics and the time range ---------------------------------------------------------


def parse_instant(text: str, *, name: str) -> datetime:
    """An ISO-8601 time with its UTC offset, as UTC. A time without an offset is refused, not guessed."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReplayInputError(
            f"{name} {text!r} is not an ISO-8601 time; write e.g. 2026-01-31T00:00:00Z"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ReplayInputError(f"{name} {text!r} has no UTC offset; add Z or e.g. +01:00")
    return moment.astimezone(UTC)


def microseconds_since_epoch(moment: datetime) -> int:
    # Integer arithmetic: a float timestamp can put a record a microsecond on the wrong side of a bound.
    return (moment - _EPOCH) // _MICROSECOND


@dataclass(frozen=True)
class TimeRange:
    """[since, until): `since` included, `until` excluded, both timezone-aware UTC."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ReplayInputError("since and until must carry a UTC offset")
        if self.since >= self.until:
            raise ReplayInputError(
                f"--since ({iso_utc(self.since)}) must be before --until ({iso_utc(self.until)})"
            )

    @classmethod
    def parse(cls, since: str, until: str) -> TimeRange:
        return cls(parse_instant(since, name="--since"), parse_instant(until, name="--until"))

    @property
    def since_us(self) -> int:
        return microseconds_since_epoch(self.since)

    @property
    def until_us(self) -> int:
        return microseconds_since_epoch(self.until)

    @property
    def since_ms(self) -> int:
        """The first whole millisecond at or after `since`: what a broker's time index is asked for."""
        return -(-self.since_us // 1000)


def parse_topics(text: str) -> tuple[str, ...]:
    """Comma-separated topic names, in the order given, each once."""
    names = [name.strip() for name in text.split(",")]
    if not any(names):
        raise ReplayInputError("--topics names no topic")
    if not all(names):
        raise ReplayInputError(f"--topics {text!r} has an empty name")
    return tuple(dict.fromkeys(names))


# --- Which records of a partition are replayed --------------------------------------------------------

Decision = Literal["skip", "keep", "stop"]


@dataclass
class PartitionWindow:
    """Decides, record by record in offset order, which records of one partition are in the range.

    Reading may begin anywhere at or before the range's first record (a broker whose time index answers
    with the partition's beginning makes this scan from there): records before the first one at or after
    `since` are skipped, the first one at or after `until` stops the reading, and so does `end_offset`,
    the partition's end when the replay began (records produced since are not part of this replay).
    """

    time_range: TimeRange
    end_offset: int
    start_offset: int | None = None
    stop_offset: int | None = None
    kept: int = 0
    skipped: int = 0

    def __post_init__(self) -> None:
        # Asked for every record: computed once.
        self._since_us = self.time_range.since_us
        self._until_us = self.time_range.until_us

    def decide(self, offset: int, timestamp_ms: int) -> Decision:
        if self.stop_offset is not None:
            return "stop"
        if offset >= self.end_offset:
            return self._stop(self.end_offset)
        # Kafka's "no timestamp" (-1) sorts before every range, as the broker's own index treats it.
        moment_us = timestamp_ms * 1000 if timestamp_ms >= 0 else None
        if self.start_offset is None:
            if moment_us is None or moment_us < self._since_us:
                self.skipped += 1
                return "skip"
            self.start_offset = offset
        if moment_us is not None and moment_us >= self._until_us:
            return self._stop(offset)
        self.kept += 1
        return "keep"

    def _stop(self, offset: int) -> Decision:
        self.stop_offset = offset
        if self.start_offset is None:
            self.start_offset = offset
        return "stop"

    def reached(self, position: int) -> bool:
        """Whether reading can end: a record stopped it, or the consumer's position reached the end."""
        if self.stop_offset is None and position >= self.end_offset:
            self._stop(self.end_offset)
        return self.stop_offset is not None

    @property
    def offsets(self) -> tuple[int, int]:
        """(start, end) of the replayed offsets, end excluded; equal when the range holds nothing."""
        if self.stop_offset is None or self.start_offset is None:
            raise RuntimeError("the partition was not read to its end")
        return self.start_offset, self.stop_offset


# --- Lines ------------------------------------------------------------------------------------------


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z, to the millisecond, or the microsecond when the time has finer digits."""
    moment = moment.astimezone(UTC)
    timespec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def timestamp_from_ms(timestamp_ms: int) -> str | None:
    """A broker record timestamp (ms since the epoch) as ISO-8601 UTC; None for Kafka's "none" (-1)."""
    if timestamp_ms < 0:
        return None
    return iso_utc(_EPOCH + timedelta(milliseconds=timestamp_ms))


def _decoded(raw: bytes | str | None) -> tuple[str | None, bool]:
    """The text and whether bytes had to be replaced to get it."""
    if raw is None or isinstance(raw, str):
        return raw, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


def record_line(
    *,
    topic: str,
    partition: Partition,
    offset: int | None,
    timestamp: str | None,
    key: bytes | str | None,
    value: bytes | str | None,
) -> bytes:
    """One data-file line, newline included, as UTF-8 bytes."""
    key_text, key_replaced = _decoded(key)
    value_text, value_replaced = _decoded(value)
    line: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": timestamp,
        "key": key_text,
        "value": value_text,
    }
    if key_replaced:
        line["key_encoding"] = REPLACED_UTF8
    if value_replaced:
        line["value_encoding"] = REPLACED_UTF8
    text = json.dumps(line, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in _LINE_BREAKS_JSON_ALLOWS.items():
        text = text.replace(raw, escaped)
    return (text + "\n").encode("utf-8")


# --- Files and digests --------------------------------------------------------------------------------


def data_file_name(topic: str, partition: Partition) -> str:
    """The data file's path relative to the replay directory, '/'-separated."""
    if not topic or "/" in topic or "\\" in topic or topic in (".", ".."):
        # Kafka topic names cannot hold these either; refusing keeps every file inside DIR.
        raise ReplayInputError(f"topic name {topic!r} cannot name a folder")
    return f"{topic}/{partition}{DATA_SUFFIX}"


def check_output_dir(out_dir: Path) -> None:
    """DIR must be new or empty: a replay never mixes with files it did not write. Checked first, so a
    refused request creates nothing; the data files create the folders they need."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ReplayInputError(f"--out {out_dir} exists and is not a folder")
        if any(out_dir.iterdir()):
            raise ReplayInputError(f"--out {out_dir} is not empty; give a new or empty folder")


class DataFile:
    """One data file being written: each line goes straight to disk and into the file's digest."""

    def __init__(self, out_dir: Path, topic: str, partition: Partition) -> None:
        self.topic = topic
        self.partition = partition
        self.name = data_file_name(topic, partition)
        self.path = out_dir / self.name
        self.records = 0
        self.size = 0
        self._digest = hashlib.sha256()
        self._handle: BinaryIO | None = None

    def __enter__(self) -> DataFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("wb")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def write(self, line: bytes) -> None:
        if self._handle is None:
            raise RuntimeError(f"{self.name} is not open")
        self._handle.write(line)
        self._digest.update(line)
        self.records += 1
        self.size += len(line)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


def sha256_of_files(out_dir: Path, names: Iterable[str]) -> str:
    """SHA-256 of the named files' bytes, concatenated in ascending order of name; read in chunks."""
    digest = hashlib.sha256()
    for name in sorted(names):
        with (out_dir / name).open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
    return digest.hexdigest()


# --- The manifest -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionResult:
    """What one partition (or the database, for a topic) contributed: its offsets, records and file."""

    topic: str
    partition: Partition
    start_offset: int | None
    end_offset: int | None
    records: int
    file_sha256: str
    file_bytes: int

    @property
    def file_name(self) -> str:
        return data_file_name(self.topic, self.partition)

    @classmethod
    def of(cls, data_file: DataFile, start_offset: int | None, end_offset: int | None) -> PartitionResult:
        return cls(
            data_file.topic,
            data_file.partition,
            start_offset,
            end_offset,
            data_file.records,
            data_file.sha256,
            data_file.size,
        )


def _partition_order(partition: Partition) -> tuple[int, int]:
    return (1, 0) if partition == DB_PARTITION else (0, int(partition))


def build_manifest(
    time_range: TimeRange,
    source: ReplaySource,
    results: Iterable[PartitionResult],
    sha256: str,
) -> dict[str, Any]:
    """The lineage record; topics by name, partitions by number, so equal replays give equal manifests."""
    ordered = sorted(results, key=lambda result: (result.topic, _partition_order(result.partition)))
    topics: dict[str, dict[str, dict[str, int | None]]] = {}
    for result in ordered:
        topics.setdefault(result.topic, {})[str(result.partition)] = {
            "start_offset": result.start_offset,
            "end_offset": result.end_offset,
            "records": result.records,
        }
    return {
        "since": iso_utc(time_range.since),
        "until": iso_utc(time_range.until),
        "source": source.value,
        "records": sum(result.records for result in ordered),
        "sha256": sha256,
        "topics": topics,
        "files": {
            result.file_name: {
                "sha256": result.file_sha256,
                "records": result.records,
                "bytes": result.file_bytes,
            }
            for result in sorted(ordered, key=lambda result: result.file_name)
        },
    }


def write_manifest(out_dir: Path, manifest: Mapping[str, Any]) -> Path:
    """Written last and atomically: its presence says the replay finished."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / MANIFEST_NAME
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


# --- Progress -------------------------------------------------------------------------------------------


class PartitionProgress(Protocol):
    def update(self, *, scanned: int, written: int) -> None:
        """`scanned`: records (offsets) read so far of this partition's total; `written`: records kept."""
        ...


class ReplayProgress(Protocol):
    def partition(self, label: str, total: int | None) -> PartitionProgress:
        """A bar for one partition; `total` is the offsets to read at most (None when unknown)."""
        ...


class _Silent:
    def update(self, *, scanned: int, written: int) -> None:
        pass

    def partition(self, label: str, total: int | None) -> _Silent:
        return self


SILENT: ReplayProgress = _Silent()
