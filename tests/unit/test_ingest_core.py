"""Ingest's pure core: topic/event-type checks and turn building, without Kafka or Redis."""

from __future__ import annotations

import uuid

import pytest

from schemas import topics
from schemas.events import ChatMessage
from services.ingest.core import ConversationPosition, build_turn, looks_like_correction, model_for_topic
from shared.consumer import UndecodableRecord, decode_json_model


def message(text: str = "hi", role: str = "customer") -> ChatMessage:
    return ChatMessage(conversation_id=uuid.uuid4(), role=role, text=text)  # type: ignore[arg-type]


def test_each_input_topic_takes_only_its_event_type() -> None:
    assert model_for_topic(topics.CHAT_MESSAGES, {"event_type": "chat.message"}) is ChatMessage
    with pytest.raises(UndecodableRecord, match="belongs on chat.outcomes.v1"):
        model_for_topic(topics.CHAT_MESSAGES, {"event_type": "booking.outcome"})
    with pytest.raises(UndecodableRecord, match="unknown event_type"):
        model_for_topic(topics.CHAT_MESSAGES, {"event_type": "nope"})


def test_decoder_reasons_are_specific_and_never_echo_the_input() -> None:
    decode = decode_json_model(model_for_topic)
    with pytest.raises(UndecodableRecord, match="not UTF-8 JSON"):
        decode(topics.CHAT_MESSAGES, b"\xff\xfe")
    secret = "call me at 555-123-4567"
    with pytest.raises(UndecodableRecord) as error:
        decode(topics.CHAT_MESSAGES, f'{{"event_type": "chat.message", "text": "{secret}"}}'.encode())
    assert "conversation_id" in str(error.value) and secret not in str(error.value)


def test_build_turn_keeps_the_event_id_and_adds_context() -> None:
    original = message("for 20 people")
    turn = build_turn(
        original, ConversationPosition(3, 1, ["people"]), experiments={"reply_style": "control"}
    )
    assert turn.event_id == original.event_id and turn.event_type == "chat.turn"
    assert turn.turn_index == 3
    assert turn.context.requested_slots == ["people"] and turn.context.corrections == 1
    assert turn.experiments == {"reply_style": "control"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("actually make it 25", True),
        ("sorry, I meant Saturday", True),
        ("change it to 7pm", True),
        ("we are 25 people", False),
        ("make sure there is gyoza", False),
    ],
)
def test_correction_detection(text: str, expected: bool) -> None:
    assert looks_like_correction(message(text)) is expected
