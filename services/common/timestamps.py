"""The optional `occurred_at` of a JSONL record (predict input, gold files), read leniently."""

from __future__ import annotations

from datetime import datetime


def parse_occurred_at(value: str | None) -> datetime | None:
    """An ISO 8601 time ("Z" accepted), or None when it is missing or unreadable: the caller picks a default."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
