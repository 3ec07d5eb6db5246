"""The wire contract front ends rely on, and the events' validation rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.events import EVENT_MODELS, INPUT_EVENT_ADAPTER, MAX_TEXT_CHARS, ChatMessage
from services.asyncapi import export_schemas

WIRE_EXAMPLE = {
    "event_id": "6f1c2a0e-8d2b-4c1e-9a57-3f7b0f6d9e11",
    "event_type": "chat.message",
    "schema_version": 1,
    "occurred_at": "2026-11-22T14:00:00Z",
    "conversation_id": "0b7e3c7a-5b8f-4d33-8a6b-1c2d3e4f5a6b",
    "customer_id": 42,
    "role": "customer",
    "text": "Hey! I wanna book for 30 people",
    "channel": "web",
}


def test_the_documented_wire_form_parses() -> None:
    message = ChatMessage.model_validate_json(json.dumps(WIRE_EXAMPLE))
    assert message.role == "customer"
    assert message.occurred_at.tzinfo == UTC
    assert str(message.conversation_id) == WIRE_EXAMPLE["conversation_id"]


def test_customer_id_and_channel_are_optional() -> None:
    minimal = {k: v for k, v in WIRE_EXAMPLE.items() if k not in ("customer_id", "channel")}
    assert ChatMessage.model_validate(minimal).customer_id is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"role": "robot"}, "role"),
        ({"surprise": 1}, "surprise"),
        ({"schema_version": 2}, "schema_version"),
        ({"text": "x" * (MAX_TEXT_CHARS + 1)}, "text"),
        ({"conversation_id": "not-a-uuid"}, "conversation_id"),
    ],
)
def test_invalid_messages_are_rejected(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        ChatMessage.model_validate({**WIRE_EXAMPLE, **change})
    assert field in str(error.value)


OUTCOME_EXAMPLE = {
    "event_type": "booking.outcome",
    "conversation_id": WIRE_EXAMPLE["conversation_id"],
    "occurred_at": WIRE_EXAMPLE["occurred_at"],
    "booked": True,
}


@pytest.mark.parametrize(
    ("event", "field"),
    [
        # Each of these once passed validation and then failed in the database on every retry.
        ({**WIRE_EXAMPLE, "customer_id": 2**31}, "customer_id"),
        ({**WIRE_EXAMPLE, "customer_id": -1}, "customer_id"),
        ({**WIRE_EXAMPLE, "tokens_in": 2**31}, "tokens_in"),
        ({**WIRE_EXAMPLE, "latency_ms": float("inf")}, "latency_ms"),
        ({**WIRE_EXAMPLE, "latency_ms": float("nan")}, "latency_ms"),
        ({**OUTCOME_EXAMPLE, "total_value": 10_000_000_000.0}, "total_value"),
        ({**OUTCOME_EXAMPLE, "total_value": float("inf")}, "total_value"),
        ({**WIRE_EXAMPLE, "occurred_at": "9999-12-31T23:59:59-12:00"}, "occurred_at"),
        ({**WIRE_EXAMPLE, "occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at"),
        ({**WIRE_EXAMPLE, "occurred_at": "2100-01-01T00:00:00Z"}, "occurred_at"),
        ({**WIRE_EXAMPLE, "occurred_at": "1969-12-31T23:59:59Z"}, "occurred_at"),
        ({**WIRE_EXAMPLE, "source": "s" * 201}, "source"),
    ],
)
def test_values_no_column_can_hold_are_validation_errors(event: dict[str, object], field: str) -> None:
    # A ValidationError, not an OverflowError: only the former becomes a 422 or a dead letter.
    with pytest.raises(ValidationError) as error:
        INPUT_EVENT_ADAPTER.validate_python(event)
    assert field in str(error.value)


def test_the_largest_values_the_columns_hold_are_accepted() -> None:
    message = ChatMessage.model_validate(
        {**WIRE_EXAMPLE, "customer_id": 2**31 - 1, "occurred_at": "2099-12-31T11:59:59-12:00"}
    )
    assert message.customer_id == 2**31 - 1
    assert message.occurred_at == datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_nul_characters_are_removed() -> None:
    assert ChatMessage.model_validate({**WIRE_EXAMPLE, "text": "a\x00b"}).text == "ab"


def test_events_are_frozen() -> None:
    message = ChatMessage.model_validate(WIRE_EXAMPLE)
    with pytest.raises(ValidationError):
        message.text = "changed"  # type: ignore[misc]


def test_input_union_dispatches_on_event_type() -> None:
    outcome = INPUT_EVENT_ADAPTER.validate_python(
        {
            **{k: WIRE_EXAMPLE[k] for k in ("conversation_id", "occurred_at")},
            "event_type": "booking.outcome",
            "booked": True,
        }
    )
    assert type(outcome).__name__ == "BookingOutcome"
    with pytest.raises(ValidationError):
        INPUT_EVENT_ADAPTER.validate_python({**WIRE_EXAMPLE, "event_type": "chat.telepathy"})


def test_export_writes_a_schema_per_event_and_asyncapi(tmp_path) -> None:  # type: ignore[no-untyped-def]
    written = {path.name for path in export_schemas(tmp_path)}
    assert {f"{model.__name__}.schema.json" for model in EVENT_MODELS} <= written
    asyncapi = json.loads((tmp_path / "asyncapi.json").read_text())
    assert asyncapi["asyncapi"].startswith("3.")
    channels = " ".join(asyncapi["channels"])
    for topic in ("chat.messages.v1", "chat.turns.v1", "ingest.dlq.v1"):
        assert topic in channels
    schema = json.loads((tmp_path / "ChatMessage.schema.json").read_text())
    assert schema["properties"]["role"]["enum"] == ["customer", "ai", "human_agent"]
