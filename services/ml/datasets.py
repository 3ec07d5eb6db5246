"""Training sets collected from the pipeline: the pure core of `teppan ml dataset build` and the trainers' reader.

The build joins what PostgreSQL kept of each conversation (messages, the standing analysis of each customer
message, human labels and the outcome) into three files; this module turns one conversation at a time into
rows, resolves human labels, writes the files and the manifest, and reads a dataset back. No database here:
`services.ml.dataset_source` streams the conversations in, `services.ml.dataset_cli` is the command.

Which conversations: those whose first message (any role) occurred in [since, until); all of each one's
messages, labels (whenever they were given) and its latest outcome are taken, as one database snapshot.

Layout of a dataset directory::

    DIR/intent.jsonl
    DIR/tone.jsonl
    DIR/upsell.jsonl
    DIR/manifest.json      (written last: a folder without it is an unfinished build)

`tone.jsonl` and `intent.jsonl` hold one row per customer message that has an answer for that field, in the
row format of the repository's own corpora (services/ml/gold/hand_written.jsonl)::

    {"id": "collected-<message_event_id>", "source": "teppan_collected", "split": "train", "text",
     "intent", "tone", "entities": {"party_size": null, "date": null, "time": null, "name": null},
     "annotated": {"intent": bool, "tone": bool, "entities": []}, "source_labels": {},
     "extra": {"label_source": "human"|"model", "labellers", "agreement", "model_path",
               "model_confidence", "sentiment"?, "sentiment_source"?, "conversation_id", "occurred_at"}}

A row claims only the field its file is about: a tone row has `annotated.tone` true, `annotated.intent`
false and `intent` null (and the other way round), and no entities. The answer is the human one when the
message was labelled, resolved by majority over labellers (each labeller's latest label is their vote;
ties go to the value labelled last); `labellers` counts the votes and `agreement` is the share of them
that chose the row's value. Without a human label the model's answer (the standing analysis, fast or ML
path) is used only with `include_model_labels`, and only at or above `min_model_confidence`: training on
the model's own answers teaches it nothing new, so it is off by default. Those rows have
`label_source` "model", `labellers` 0 and `agreement` null. `model_path` and `model_confidence` describe
the standing analysis (null without one). `sentiment` is given when known: a human sentiment label wins
over the model's, and `sentiment_source` says which.

Every value written is in the vocabularies of schemas/vocabulary.py (TONES, INTENTS, SENTIMENTS). Label
values are compared trimmed and lower-cased; any other human label (a value outside the vocabulary, or not
a string at all) is skipped and counted in the manifest as rejected. Every text written, in all three
files, has passed the PII scrubber (shared/pii.py) first.

`upsell.jsonl` holds one row per conversation whose latest outcome offered upsells::

    {"conversation_id", "customer_id", "occurred_at" (the outcome's), "booked", "party_size", "event_date",
     "month", "season", "turns", "customer_texts", "tones", "customer_previous_bookings",
     "customer_previous_accepted", "booking_value", "offered", "accepted"}

Only what was known when the outcome came counts: `turns` is the conversation's messages (any role) at or
before the outcome's time, `customer_texts` the customer's among them in turn order, `tones` the standing
analysis's detected tone of each of those texts (null where there is none; the model's answer, not a
label, since that is what an upsell model is served). `party_size` and `event_date` (ISO date) are the
latest mention in those customer messages, a human entity label winning over the extracted entity, else
null. `month` (1-12) and `season` (northern meteorological: winter is Dec-Feb) are of `event_date`, else of
the outcome's day. `customer_previous_bookings` and `customer_previous_accepted` count that customer's
booked outcomes and accepted upsells strictly before this outcome's time, in other conversations (0
without a customer id). `booking_value` is the outcome's total_value, or null.

`manifest.json`::

    {"since", "until", "source": "db", "created_at",
     "files": {name: {"rows", "sha256"}},
     "sha256", "counts": {...}, "options": {"include_model_labels", "min_model_confidence"}}

`sha256` is the SHA-256 of the three data files' bytes concatenated in name order (intent, tone, upsell):
`cat intent.jsonl tone.jsonl upsell.jsonl | sha256sum`. `counts`: `conversations` selected,
`customer_messages` in them, `human_labels` read for the fields used here (tone, intent, sentiment and the
party_size and date entities) on those messages, `human_labels_rejected` of them, `model_labels_used` (tone
and intent rows answered by the model), `outcomes` (conversations with one) and `upsell_rows`.

Lines are UTF-8 JSON, one row each; U+2028, U+2029 and U+0085 are escaped so that `str.splitlines` sees one
row per line.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from schemas.vocabulary import INTENTS, SENTIMENTS, TONES
from services.ml.replay.core import ReplayInputError, TimeRange, iso_utc, sha256_of_files
from shared.pii import scrub_pii

TONE_FILE = "tone.jsonl"
INTENT_FILE = "intent.jsonl"
UPSELL_FILE = "upsell.jsonl"
DATA_FILES = (INTENT_FILE, TONE_FILE, UPSELL_FILE)  # name order: the order of the manifest's sha256
MANIFEST_NAME = "manifest.json"

SOURCE_NAME = "teppan_collected"
SPLIT = "train"
ENTITY_SLOTS = ("party_size", "date", "time", "name")
DEFAULT_MIN_MODEL_CONFIDENCE = 0.9

# The classification fields a human label can answer, with the words each may take.
LABEL_VOCABULARIES: dict[str, tuple[str, ...]] = {"tone": TONES, "intent": INTENTS, "sentiment": SENTIMENTS}
ClassifiedField = Literal["tone", "intent"]
CLASSIFIED_FIELDS: tuple[ClassifiedField, ...] = ("tone", "intent")
# The entities the upsell rows use; a label for another entity is neither used nor counted.
USED_ENTITIES = ("party_size", "date")
# No hibachi party is this large: a bigger number is a misread (a price, a year), not a party size.
MAX_PARTY_SIZE = 10_000

LabelSource = Literal["human", "model"]

_LINE_BREAKS_JSON_ALLOWS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


class DatasetInputError(ValueError):
    """The build cannot be run as asked (bad time, bad option, used output folder)."""


class DatasetError(RuntimeError):
    """The build failed while running (database unreachable, a query failed)."""


class DatasetIntegrityError(ValueError):
    """A dataset on disk is unfinished or is not what its manifest says."""


# --- The request ------------------------------------------------------------------------------------


def parse_time_range(since: str, until: str) -> TimeRange:
    """[since, until) from ISO-8601 times with a UTC offset."""
    try:
        return TimeRange.parse(since, until)
    except ReplayInputError as error:
        raise DatasetInputError(str(error)) from None


@dataclass(frozen=True)
class BuildOptions:
    include_model_labels: bool = False
    min_model_confidence: float = DEFAULT_MIN_MODEL_CONFIDENCE

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_model_confidence <= 1.0:
            raise DatasetInputError(
                f"--min-model-confidence {self.min_model_confidence} must be between 0 and 1"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "include_model_labels": self.include_model_labels,
            "min_model_confidence": self.min_model_confidence,
        }


def check_output_dir(out_dir: Path) -> None:
    """DIR must be new or empty: a dataset never mixes with files it did not write. Checked before anything
    is read, so a refused request creates nothing."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise DatasetInputError(f"--out {out_dir} exists and is not a folder")
        if any(out_dir.iterdir()):
            raise DatasetInputError(f"--out {out_dir} is not empty; give a new or empty folder")


# --- What the database gives, one conversation at a time ----------------------------------------------


@dataclass(frozen=True)
class HumanLabel:
    event_id: str
    field: str
    value: Any  # the JSONB value as stored: anything, checked before it is used
    labeller: str | None
    occurred_at: datetime
    entity_name: str | None = None


@dataclass(frozen=True)
class ModelAnalysis:
    """The standing analysis of a message (an ML-path one replaces the fast path's)."""

    path: str
    tone: str | None
    intent: str | None
    sentiment: str | None
    confidence: float | None
    entities: Mapping[str, Any] = field(default_factory=dict)  # name -> {"text", "value"}


@dataclass(frozen=True)
class Message:
    event_id: str
    role: str
    text: str
    turn_index: int
    occurred_at: datetime
    customer_id: int | None = None
    analysis: ModelAnalysis | None = None
    labels: tuple[HumanLabel, ...] = ()

    @property
    def from_customer(self) -> bool:
        return self.role == "customer"


@dataclass(frozen=True)
class Outcome:
    """A conversation's latest outcome, with the customer's history before it (counted by the database)."""

    event_id: str
    customer_id: int | None
    booked: bool
    total_value: float | None
    offered: tuple[str, ...]
    accepted: tuple[str, ...]
    occurred_at: datetime
    previous_bookings: int = 0
    previous_accepted: int = 0


@dataclass(frozen=True)
class Conversation:
    conversation_id: str
    messages: tuple[Message, ...]  # in turn order
    outcome: Outcome | None = None


# --- Human labels -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vote:
    value: Hashable
    voter: str
    occurred_at: datetime
    event_id: str

    @property
    def order(self) -> tuple[datetime, str]:
        return self.occurred_at, self.event_id


@dataclass(frozen=True)
class ResolvedLabel:
    value: Any
    labellers: int
    agreeing: int

    @property
    def agreement(self) -> float:
        return self.agreeing / self.labellers


def resolve_votes(votes: Iterable[Vote]) -> ResolvedLabel | None:
    """Majority over voters, each voter's latest vote counting once (a labeller who corrects themselves
    does not outvote a colleague); a tie goes to the value voted for last. None without votes."""
    latest: dict[str, Vote] = {}
    for vote in votes:
        if vote.voter not in latest or vote.order > latest[vote.voter].order:
            latest[vote.voter] = vote
    if not latest:
        return None
    tally: dict[Hashable, tuple[int, tuple[datetime, str]]] = {}
    for vote in latest.values():
        count, last = tally.get(vote.value, (0, vote.order))
        tally[vote.value] = (count + 1, max(last, vote.order))
    value, (agreeing, _) = max(tally.items(), key=lambda item: item[1])
    return ResolvedLabel(value, len(latest), agreeing)


def vocabulary_value(field_name: str, raw: Any) -> str | None:
    """The label's word if it is one of the field's vocabulary (trimmed, lower-cased), else None."""
    vocabulary = LABEL_VOCABULARIES.get(field_name)
    if vocabulary is None or not isinstance(raw, str):
        return None
    word = raw.strip().lower()
    return word if word in vocabulary else None


def _entity_raw(raw: Any) -> Any:
    # Entity values are stored bare (14) or as the analyses store them ({"text": ..., "value": 14}).
    return raw.get("value") if isinstance(raw, Mapping) else raw


def party_size_value(raw: Any) -> int | None:
    """A party size: a positive whole number (or its digits), else None."""
    raw = _entity_raw(raw)
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str) and raw.strip().isdecimal() and raw.strip().isascii():
        raw = int(raw.strip())
    if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, int) and 0 < raw <= MAX_PARTY_SIZE:
        return raw
    return None


def event_date_value(raw: Any) -> date | None:
    """An ISO date ("2026-03-08", or the date of an ISO date-time), else None."""
    raw = _entity_raw(raw)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    for parse in (date.fromisoformat, lambda t: datetime.fromisoformat(t).date()):
        try:
            return parse(text)
        except ValueError:
            continue
    return None


ENTITY_PARSERS: dict[str, Callable[[Any], Any]] = {"party_size": party_size_value, "date": event_date_value}


def label_key(label: HumanLabel) -> str | None:
    """Which answer a label is about ("tone", "entity:date"), or None for one this dataset does not use."""
    if label.field in LABEL_VOCABULARIES:
        return label.field
    if label.field == "entity" and label.entity_name in USED_ENTITIES:
        return f"entity:{label.entity_name}"
    return None


def usable_label_value(key: str, raw: Any) -> Any:
    if key.startswith("entity:"):
        return ENTITY_PARSERS[key.removeprefix("entity:")](raw)
    return vocabulary_value(key, raw)


@dataclass(frozen=True)
class MessageLabels:
    resolved: Mapping[str, ResolvedLabel]  # by label_key
    read: int
    rejected: int


def resolve_message_labels(labels: Iterable[HumanLabel]) -> MessageLabels:
    """One message's human labels resolved per answer; unusable values skipped and counted."""
    votes: dict[str, list[Vote]] = {}
    read = rejected = 0
    for label in labels:
        key = label_key(label)
        if key is None:
            continue
        read += 1
        value = usable_label_value(key, label.value)
        if value is None:
            rejected += 1
            continue
        # A label without a labeller is its own voter: nothing says two of them came from one person.
        voter = label.labeller if label.labeller else f"unnamed:{label.event_id}"
        votes.setdefault(key, []).append(Vote(value, voter, label.occurred_at, label.event_id))
    resolved = {key: found for key, key_votes in votes.items() if (found := resolve_votes(key_votes))}
    return MessageLabels(resolved, read, rejected)


# --- Rows -------------------------------------------------------------------------------------------


def clean_text(text: str) -> str:
    """Scrubbed of PII, and valid UTF-8 (a lone surrogate cannot be written as UTF-8)."""
    return scrub_pii(text).encode("utf-8", errors="replace").decode("utf-8")


def model_answer(analysis: ModelAnalysis | None, field_name: str) -> str | None:
    if analysis is None:
        return None
    raw = {"tone": analysis.tone, "intent": analysis.intent, "sentiment": analysis.sentiment}[field_name]
    return vocabulary_value(field_name, raw)


def _finite(number: float | None) -> float | None:
    # NaN is no JSON, and a confidence that is not a number says nothing.
    return number if number is not None and math.isfinite(number) else None


def classification_row(
    message: Message,
    conversation_id: str,
    field_name: ClassifiedField,
    value: str,
    source: LabelSource,
    human: ResolvedLabel | None,
    sentiment: tuple[str, LabelSource] | None,
) -> dict[str, Any]:
    """A corpus row claiming only `field_name`."""
    analysis = message.analysis
    extra: dict[str, Any] = {
        "label_source": source,
        "labellers": human.labellers if human else 0,
        "agreement": human.agreement if human else None,
        "model_path": analysis.path if analysis else None,
        "model_confidence": _finite(analysis.confidence) if analysis else None,
    }
    if sentiment is not None:
        extra["sentiment"], extra["sentiment_source"] = sentiment
    extra["conversation_id"] = conversation_id
    extra["occurred_at"] = iso_utc(message.occurred_at)
    return {
        "id": f"collected-{message.event_id}",
        "source": SOURCE_NAME,
        "split": SPLIT,
        "text": clean_text(message.text),
        "intent": value if field_name == "intent" else None,
        "tone": value if field_name == "tone" else None,
        "entities": dict.fromkeys(ENTITY_SLOTS),
        "annotated": {"intent": field_name == "intent", "tone": field_name == "tone", "entities": []},
        "source_labels": {},
        "extra": extra,
    }


def season_of(day: date) -> str:
    return ("winter", "spring", "summer", "autumn")[(day.month % 12) // 3]


@dataclass
class BuildCounts:
    conversations: int = 0
    customer_messages: int = 0
    human_labels: int = 0
    human_labels_rejected: int = 0
    model_labels_used: int = 0
    outcomes: int = 0
    upsell_rows: int = 0
    tone_rows: int = 0
    intent_rows: int = 0

    def to_json(self) -> dict[str, int]:
        """The manifest's counts (row counts are in its `files`)."""
        return {
            "conversations": self.conversations,
            "customer_messages": self.customer_messages,
            "human_labels": self.human_labels,
            "human_labels_rejected": self.human_labels_rejected,
            "model_labels_used": self.model_labels_used,
            "outcomes": self.outcomes,
            "upsell_rows": self.upsell_rows,
        }


@dataclass
class ConversationRows:
    tone: list[dict[str, Any]] = field(default_factory=list)
    intent: list[dict[str, Any]] = field(default_factory=list)
    upsell: dict[str, Any] | None = None


@dataclass(frozen=True)
class _LabelledMessage:
    message: Message
    labels: MessageLabels


class DatasetBuilder:
    """Turns conversations into rows, one at a time, and counts what went in."""

    def __init__(self, options: BuildOptions) -> None:
        self.options = options
        self.counts = BuildCounts()

    def rows_of(self, conversation: Conversation) -> ConversationRows:
        self.counts.conversations += 1
        rows = ConversationRows()
        labelled = []
        for message in conversation.messages:
            if not message.from_customer:
                continue
            labels = resolve_message_labels(message.labels)
            self.counts.customer_messages += 1
            self.counts.human_labels += labels.read
            self.counts.human_labels_rejected += labels.rejected
            labelled.append(_LabelledMessage(message, labels))
            for field_name in CLASSIFIED_FIELDS:
                row = self._classification_row(conversation.conversation_id, message, labels, field_name)
                if row is not None:
                    getattr(rows, field_name).append(row)
        self.counts.tone_rows += len(rows.tone)
        self.counts.intent_rows += len(rows.intent)
        if conversation.outcome is not None:
            self.counts.outcomes += 1
            rows.upsell = upsell_row(conversation, labelled)
            if rows.upsell is not None:
                self.counts.upsell_rows += 1
        return rows

    def _classification_row(
        self, conversation_id: str, message: Message, labels: MessageLabels, field_name: ClassifiedField
    ) -> dict[str, Any] | None:
        if not message.text.strip():
            return None  # nothing to learn from
        human = labels.resolved.get(field_name)
        sentiment = _sentiment(message, labels)
        if human is not None:
            return classification_row(
                message, conversation_id, field_name, human.value, "human", human, sentiment
            )
        if not self.options.include_model_labels or message.analysis is None:
            return None
        answer = model_answer(message.analysis, field_name)
        confidence = _finite(message.analysis.confidence)
        if answer is None or confidence is None or confidence < self.options.min_model_confidence:
            return None
        self.counts.model_labels_used += 1
        return classification_row(message, conversation_id, field_name, answer, "model", None, sentiment)


def _sentiment(message: Message, labels: MessageLabels) -> tuple[str, LabelSource] | None:
    human = labels.resolved.get("sentiment")
    if human is not None:
        return human.value, "human"
    answer = model_answer(message.analysis, "sentiment")
    return (answer, "model") if answer is not None else None


def _entity(labelled: _LabelledMessage, name: str) -> Any:
    """A message's value for an entity: the human label's, else the analysis's, else None."""
    human = labelled.labels.resolved.get(f"entity:{name}")
    if human is not None:
        return human.value
    analysis = labelled.message.analysis
    if analysis is None or not isinstance(analysis.entities, Mapping):
        return None
    return ENTITY_PARSERS[name](analysis.entities.get(name))


def _latest_entity(messages: Sequence[_LabelledMessage], name: str) -> Any:
    # Customers correct themselves ("actually 14 of us"): the latest mention stands.
    for labelled in reversed(messages):
        value = _entity(labelled, name)
        if value is not None:
            return value
    return None


def upsell_row(
    conversation: Conversation, customer_messages: Sequence[_LabelledMessage]
) -> dict[str, Any] | None:
    """The upsell row of a conversation whose outcome offered upsells, from what was known by then."""
    outcome = conversation.outcome
    if outcome is None or not outcome.offered:
        return None
    known = [
        labelled for labelled in customer_messages if labelled.message.occurred_at <= outcome.occurred_at
    ]
    turns = sum(1 for message in conversation.messages if message.occurred_at <= outcome.occurred_at)
    party_size = _latest_entity(known, "party_size")
    event_date: date | None = _latest_entity(known, "date")
    season_day = event_date or outcome.occurred_at.astimezone(UTC).date()
    has_customer = outcome.customer_id is not None
    return {
        "conversation_id": conversation.conversation_id,
        "customer_id": outcome.customer_id,
        "occurred_at": iso_utc(outcome.occurred_at),
        "booked": outcome.booked,
        "party_size": party_size,
        "event_date": event_date.isoformat() if event_date else None,
        "month": season_day.month,
        "season": season_of(season_day),
        "turns": turns,
        "customer_texts": [clean_text(labelled.message.text) for labelled in known],
        "tones": [model_answer(labelled.message.analysis, "tone") for labelled in known],
        "customer_previous_bookings": outcome.previous_bookings if has_customer else 0,
        "customer_previous_accepted": outcome.previous_accepted if has_customer else 0,
        "booking_value": _finite(outcome.total_value),
        "offered": [clean_text(item) for item in outcome.offered],
        "accepted": [clean_text(item) for item in outcome.accepted],
    }


# --- Files and the manifest ---------------------------------------------------------------------------


def jsonl_line(row: Mapping[str, Any]) -> bytes:
    """One data-file line, newline included, as UTF-8 bytes."""
    text = json.dumps(row, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in _LINE_BREAKS_JSON_ALLOWS.items():
        text = text.replace(raw, escaped)
    return (text + "\n").encode("utf-8")


@dataclass(frozen=True)
class FileResult:
    rows: int
    sha256: str


class _DataFile:
    """One data file being written: each line goes straight to disk and into the file's digest."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.rows = 0
        self.digest = hashlib.sha256()

    def write(self, row: Mapping[str, Any]) -> None:
        line = jsonl_line(row)
        self.handle.write(line)
        self.digest.update(line)
        self.rows += 1


class DatasetFiles:
    """The three data files, open for the build: `write` takes one conversation's rows."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._files: dict[str, _DataFile] = {}

    def __enter__(self) -> DatasetFiles:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            for name in DATA_FILES:
                self._files[name] = _DataFile((self.out_dir / name).open("wb"))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for data_file in self._files.values():
            data_file.handle.close()

    def write(self, rows: ConversationRows) -> None:
        for row in rows.tone:
            self._files[TONE_FILE].write(row)
        for row in rows.intent:
            self._files[INTENT_FILE].write(row)
        if rows.upsell is not None:
            self._files[UPSELL_FILE].write(rows.upsell)

    def results(self) -> dict[str, FileResult]:
        return {name: FileResult(f.rows, f.digest.hexdigest()) for name, f in sorted(self._files.items())}


def build_manifest(
    time_range: TimeRange,
    files: Mapping[str, FileResult],
    sha256: str,
    counts: BuildCounts,
    options: BuildOptions,
    created_at: datetime,
) -> dict[str, Any]:
    return {
        "since": iso_utc(time_range.since),
        "until": iso_utc(time_range.until),
        "source": "db",
        "created_at": iso_utc(created_at),
        "files": {name: {"rows": files[name].rows, "sha256": files[name].sha256} for name in sorted(files)},
        "sha256": sha256,
        "counts": counts.to_json(),
        "options": options.to_json(),
    }


def finish_dataset(
    out_dir: Path,
    time_range: TimeRange,
    files: Mapping[str, FileResult],
    counts: BuildCounts,
    options: BuildOptions,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """Write the manifest, last: only then is the folder a dataset. Returns the manifest."""
    manifest = build_manifest(
        time_range,
        files,
        sha256_of_files(out_dir, DATA_FILES),
        counts,
        options,
        created_at or datetime.now(UTC),
    )
    partial = out_dir / f".{MANIFEST_NAME}.partial"
    partial.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    # A rename, so a reader never finds half a manifest.
    partial.replace(out_dir / MANIFEST_NAME)
    return manifest


# --- Reading a dataset back ---------------------------------------------------------------------------


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Dataset:
    """A dataset whose files were checked against its manifest when it was opened."""

    path: Path
    manifest: Mapping[str, Any]

    def tone_rows(self) -> list[dict[str, Any]]:
        return self._rows(TONE_FILE)

    def intent_rows(self) -> list[dict[str, Any]]:
        return self._rows(INTENT_FILE)

    def upsell_rows(self) -> list[dict[str, Any]]:
        return self._rows(UPSELL_FILE)

    def _rows(self, name: str) -> list[dict[str, Any]]:
        with (self.path / name).open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]


def read_dataset(path: Path) -> Dataset:
    """Open a built dataset; raises DatasetIntegrityError when it is unfinished or a file is not the one
    its manifest describes (changed, truncated, missing)."""
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        raise DatasetIntegrityError(
            f"{path} has no {MANIFEST_NAME}: not a dataset, or a build that did not finish"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        described = {name: manifest["files"][name]["sha256"] for name in DATA_FILES}
        expected_total = manifest["sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise DatasetIntegrityError(f"{manifest_path} is not a dataset manifest: {error!r}") from None
    for name, expected in described.items():
        file_path = path / name
        if not file_path.is_file():
            raise DatasetIntegrityError(f"{file_path} is missing")
        actual = _file_sha256(file_path)
        if actual != expected:
            raise DatasetIntegrityError(
                f"{file_path} does not match its manifest (sha256 {actual}, manifest says {expected}); "
                "the dataset was changed after it was built: rebuild it"
            )
    actual_total = sha256_of_files(path, DATA_FILES)
    if actual_total != expected_total:
        raise DatasetIntegrityError(
            f"{path}: the data files' sha256 {actual_total} is not the manifest's {expected_total}"
        )
    return Dataset(path, manifest)


def collected_rows_by_head(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """(text, label) pairs per head from a built dataset's tone and intent rows (`teppan ml dataset build`):
    each row teaches only what it is annotated for, and sentiment only where a human labelled it."""
    out: dict[str, list[tuple[str, str]]] = {"tone": [], "intent": [], "sentiment": []}
    for row in rows:
        annotated, extra = row.get("annotated") or {}, row.get("extra") or {}
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        if annotated.get("tone") and row.get("tone") in TONES:
            out["tone"].append((text, str(row["tone"])))
        if annotated.get("intent") and row.get("intent") in INTENTS:
            out["intent"].append((text, str(row["intent"])))
        if extra.get("sentiment_source") == "human" and extra.get("sentiment") in SENTIMENTS:
            out["sentiment"].append((text, str(extra["sentiment"])))
    return out
