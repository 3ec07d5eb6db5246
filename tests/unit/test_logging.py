"""JSON log lines: PII in free text is scrubbed; ids, offsets, timestamps and uuids pass through as they are."""

from __future__ import annotations

import json
import logging

from shared.logging import JsonFormatter


def formatted(message: str, **extra: object) -> dict[str, object]:
    record = logging.makeLogRecord({"name": "test", "levelname": "ERROR", "msg": message, **extra})
    return json.loads(JsonFormatter().format(record))


def test_identifiers_that_look_like_phone_numbers_are_kept() -> None:
    identifiers = {
        "message_id": "140-140-1764681234567",
        "event_id": "6f1c2a0e-8d2b-4c1e-9a57-3f7b0f6d9e11",
        "conversation_id": "00000000-0000-4000-8000-000123456789",
        "offset": 123456789012,
        "offsets": "1000000000-1000000999",
        "ts_ms": "1764681234567",
        "occurred_at": "2026-12-02T13:45:28.123456+00:00",
        "topic": "chat.messages.v1",
    }
    line = formatted("dead-lettering a record", **identifiers)
    for key, value in identifiers.items():
        assert line[key] == value, key


def test_phones_and_emails_in_free_text_are_scrubbed() -> None:
    line = formatted(
        "customer wrote jo@example.com",
        error="invalid input 'call me at +1 (555) 123-4567'",
        text="my email is dana.lee@example.org",
    )
    assert line["msg"] == "customer wrote [email]"
    assert "555" not in str(line["error"]) and "[phone]" in str(line["error"])
    assert line["text"] == "my email is [email]"
