"""The prediction log of the ML improvements summary: one PII-scrubbed JSON line per prediction, one file per UTC day.

`prediction_record` shapes a record (pure); `PredictionLog` is the JSONL adapter that appends it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from services.analytics.paging.core import FILTERED, scrub
from shared.pii import scrub_pii
from shared.settings import Settings

# Slots that hold a person's identity or contact details; their values never reach the log.
PII_SLOTS: frozenset[str] = frozenset({"name", "customer_name", "contact_name", "phone", "email", "address"})


def _scrub_slots(slots: Mapping[str, Any]) -> dict[str, Any]:
    return {key: FILTERED if key.lower() in PII_SLOTS else scrub(value) for key, value in slots.items()}


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def prediction_record(
    *,
    conversation_id: str,
    timestamp: datetime,
    model_name: str,
    provider: str,
    prompt_version: str | None,
    user_text: str,
    state: str | None,
    slots: Mapping[str, Any],
    response: str | None,
    extracted_slots: Mapping[str, Any],
    confidence: float | None,
    next_state: str | None,
    latency_ms: float | None,
    tokens_in: int | None,
    tokens_out: int | None,
    cost: float | None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A record in the ML improvements summary's format, with phones, emails and identity slots scrubbed.

    `cost` is None when the model is not in the price table. `event_id`, when given, is added at the
    top level so readers can drop lines that a redelivery wrote twice.
    """
    record: dict[str, Any] = {
        "conversation_id": conversation_id,
        "timestamp": _utc(timestamp).isoformat(),
        "model": {"name": model_name, "provider": provider, "prompt_version": prompt_version},
        "input": {"user_text": scrub_pii(user_text), "state": state, "slots": _scrub_slots(slots)},
        "output": {
            "response": None if response is None else scrub_pii(response),
            "extracted_slots": _scrub_slots(extracted_slots),
            "confidence": confidence,
            "next_state": next_state,
        },
        "metadata": {
            "latency_ms": latency_ms,
            "tokens": {"input": tokens_in, "output": tokens_out},
            "cost": cost,
        },
    }
    if event_id is not None:
        record["event_id"] = event_id
    return record


def _json_default(value: Any) -> Any:
    # Slot values are often normalised dates and times.
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def prediction_log_dir(settings: Settings) -> Path:
    return settings.data_dir / "predictions"


class PredictionLogWriter(Protocol):
    """Where prediction records go, in the order given."""

    def append_all(self, records: Iterable[Mapping[str, Any]]) -> object: ...


class PredictionLog:
    """Appends records to `<directory>/<prefix>-YYYY-MM-DD.jsonl`, the date being the record's UTC date.

    Rotating by the record's own timestamp (not the clock) keeps replays writing to the right day.
    """

    def __init__(self, directory: str | Path, prefix: str = "predictions") -> None:
        self.directory = Path(directory)
        self.prefix = prefix

    def path_for(self, day: date) -> Path:
        return self.directory / f"{self.prefix}-{day.isoformat()}.jsonl"

    def append(self, record: Mapping[str, Any]) -> Path:
        """Appends one record as one line; returns the file written."""
        return self.append_all([record])[0]

    def append_all(self, records: Iterable[Mapping[str, Any]]) -> list[Path]:
        """Appends each record as one line, opening each day's file once per call; returns the files written."""
        lines_by_path: dict[Path, list[bytes]] = {}
        for record in records:
            day = _utc(datetime.fromisoformat(record["timestamp"])).date()
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_json_default) + "\n"
            lines_by_path.setdefault(self.path_for(day), []).append(line.encode("utf-8"))
        if lines_by_path:
            self.directory.mkdir(parents=True, exist_ok=True)
        for path, lines in lines_by_path.items():
            # Unbuffered, one write call per line in append mode: concurrent writers never interleave within
            # a line, and the file is opened once per batch rather than once per line.
            with open(path, "ab", buffering=0) as handle:
                for encoded in lines:
                    handle.write(encoded)
        return list(lines_by_path)
