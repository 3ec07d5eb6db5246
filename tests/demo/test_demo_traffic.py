"""Tests for the seeded demo-traffic generator: determinism, wire format, ordering, variety and rate."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.vocabulary import FRUSTRATED_REPLY_TONE, INTENTS, REPLY_TONES, TONES, load_upsell_menu
from services.devtools.demo_traffic import (
    CUSTOMER_TONE_WEIGHTS,
    MINIMUM_ORDER,
    UPSELL_NAMES,
    UPSELL_PRICES,
    DemoConversation,
    generate_conversations,
    iter_events,
)

START = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
TOPIC_TYPES = {
    "chat.messages.v1": "chat.message",
    "chat.outcomes.v1": "booking.outcome",
    "chat.surveys.v1": "survey.response",
    "chat.service-calls.v1": "service.call",
}
SLOTS = {"people", "date", "time", "first_name", "last_name"}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture(scope="module")
def convs() -> list[DemoConversation]:
    return list(generate_conversations(seed=42, start=START, count=200))


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _check_event(topic: str, ev: dict[str, Any]) -> None:
    assert ev["event_type"] == TOPIC_TYPES[topic]
    assert uuid.UUID(ev["event_id"]).version == 4
    uuid.UUID(ev["conversation_id"])
    assert ev["schema_version"] == 1
    assert ISO_Z.match(ev["occurred_at"]), ev["occurred_at"]
    assert ev["source"] == "demo"
    assert ev["customer_id"] is None or (type(ev["customer_id"]) is int and ev["customer_id"] > 0)
    kind = ev["event_type"]
    if kind == "chat.message":
        assert ev["role"] in ("customer", "ai", "human_agent")
        assert isinstance(ev["text"], str) and ev["text"].strip()
        assert ev["channel"] in ("web", "sms", "phone")
        if ev["role"] == "ai":
            assert isinstance(ev["tone_used"], str)
            assert isinstance(ev["suggested_upsells"], list)
            assert set(ev["suggested_upsells"]) <= set(UPSELL_PRICES)
            assert set(ev["requested_slots"]) <= SLOTS
            assert (ev["provider"], ev["model"]) in {
                ("openai", "gpt-4o-mini"),
                ("groq", "llama-3.1-8b-instant"),
                ("ollama", "llama3.2"),
            }
            assert ev["prompt_version"] in ("v1.0", "v2.0")
            assert type(ev["tokens_in"]) is int and type(ev["tokens_out"]) is int
            assert isinstance(ev["latency_ms"], float) and ev["latency_ms"] > 0
        else:
            assert "tone_used" not in ev and "model" not in ev
    elif kind == "booking.outcome":
        assert isinstance(ev["booked"], bool)
        assert isinstance(ev["total_value"], float)
        assert all(isinstance(u, str) for u in ev["offered_upsells"] + ev["accepted_upsells"])
        assert set(ev["accepted_upsells"]) <= set(ev["offered_upsells"])
        if ev["booked"]:
            assert isinstance(ev["booking_id"], str)
            assert ev["total_value"] >= MINIMUM_ORDER
        else:
            assert ev["booking_id"] is None
    elif kind == "survey.response":
        assert type(ev["rating"]) is int and 1 <= ev["rating"] <= 5
        assert ev["understood"] is None or isinstance(ev["understood"], bool)
        assert ev["tone_appropriate"] is None or isinstance(ev["tone_appropriate"], bool)
        assert ev["free_text"] is None or isinstance(ev["free_text"], str)
    else:
        assert ev["service"] in ("stt", "llm", "tts")
        assert isinstance(ev["provider"], str) and isinstance(ev["model"], str)
        assert isinstance(ev["ok"], bool)
        assert (ev["error"] is None) == ev["ok"]
        assert isinstance(ev["latency_ms"], float)
        for k in ("tokens_in", "tokens_out"):
            assert ev[k] is None or type(ev[k]) is int


def test_same_seed_same_output() -> None:
    a = [(c.conversation_id, c.events) for c in generate_conversations(seed=7, start=START, count=30)]
    b = [(c.conversation_id, c.events) for c in generate_conversations(seed=7, start=START, count=30)]
    assert a == b
    ea = list(iter_events(seed=7, start=START, rate_per_s=10, duration_s=30))
    eb = list(iter_events(seed=7, start=START, rate_per_s=10, duration_s=30))
    assert ea == eb


def test_different_seed_different_output() -> None:
    a = [c.events for c in generate_conversations(seed=1, start=START, count=10)]
    b = [c.events for c in generate_conversations(seed=2, start=START, count=10)]
    assert a != b
    ids_a = {e["event_id"] for c in a for _, e in c}
    ids_b = {e["event_id"] for c in b for _, e in c}
    assert not ids_a & ids_b


def test_every_event_is_well_formed(convs: list[DemoConversation]) -> None:
    ids = set()
    for conv in convs:
        times = []
        for topic, ev in conv.events:
            _check_event(topic, ev)
            assert ev["conversation_id"] == conv.conversation_id
            assert ev["customer_id"] == conv.customer_id
            ids.add(ev["event_id"])
            times.append(_parse(ev["occurred_at"]))
        assert times == sorted(times)
        assert times[0] >= START
    assert len(ids) == sum(len(c.events) for c in convs)


def test_iter_events_well_formed_and_time_ordered() -> None:
    duration = 120.0
    events = list(iter_events(seed=3, start=START, rate_per_s=4, duration_s=duration))
    offsets = [off for off, _, _ in events]
    assert offsets == sorted(offsets)
    assert 0.0 <= offsets[0] and offsets[-1] < duration
    for off, topic, ev in events:
        _check_event(topic, ev)
        # occurred_at is start + offset, to the millisecond
        assert abs((_parse(ev["occurred_at"]) - START) - timedelta(seconds=off)) < timedelta(milliseconds=2)
    assert len({e["event_id"] for _, _, e in events}) == len(events)


def test_iter_events_interleaves_conversations_in_order() -> None:
    events = list(iter_events(seed=5, start=START, rate_per_s=20, duration_s=60))
    chat = [e for _, t, e in events if t == "chat.messages.v1"]
    switches = sum(
        1 for a, b in zip(chat, chat[1:], strict=False) if a["conversation_id"] != b["conversation_id"]
    )
    assert switches > len(chat) // 2
    assert len({e["conversation_id"] for e in chat}) >= 20
    # Within a conversation, iter_events keeps the same message order as generate_conversations.
    by_id = {c.conversation_id: c for c in generate_conversations(seed=5, start=START, count=400)}
    seen: dict[str, list[str]] = {}
    for e in chat:
        seen.setdefault(e["conversation_id"], []).append(e["event_id"])
    for cid, ids in seen.items():
        expected = [ev["event_id"] for t, ev in by_id[cid].events if t == "chat.messages.v1"]
        assert ids == expected[: len(ids)]


@pytest.mark.parametrize(("rate", "duration"), [(0.5, 600.0), (5.0, 120.0), (200.0, 10.0)])
def test_rate_is_roughly_honoured(rate: float, duration: float) -> None:
    events = list(iter_events(seed=9, start=START, rate_per_s=rate, duration_s=duration))
    chat = sum(1 for _, t, _ in events if t == "chat.messages.v1")
    assert abs(chat - rate * duration) <= max(2, 0.05 * rate * duration)
    # and evenly: each half of the window gets about half
    first_half = sum(1 for off, t, _ in events if t == "chat.messages.v1" and off < duration / 2)
    assert abs(first_half - chat / 2) <= max(2, 0.1 * chat)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        next(iter_events(seed=1, start=START, rate_per_s=0, duration_s=10))


def test_variety(convs: list[DemoConversation]) -> None:
    topics = Counter(t for c in convs for t, _ in c.events)
    assert set(topics) == set(TOPIC_TYPES)
    customer_texts = [e["text"].lower() for c in convs for _, e in c.events if e.get("role") == "customer"]
    corpus = "\n".join(customer_texts)
    phrasings = {
        "people": r"\d+ (people|ppl)",
        "party of": r"party of \d+",
        "words": r"\b(twenty|thirty|forty|fifty|sixty|seventy|ten|twelve|fifteen|eighteen)[- a-z]* (guests|people)",
        "kids": r"\d+ adults and \d+ kids",
        "friends": r"me and my \d+ friends",
        "dozen": r"dozen",
    }
    found = {name for name, rx in phrasings.items() if re.search(rx, corpus)}
    assert len(found) >= 5, found
    scenarios = Counter(tag for c in convs for tag in c.scenario)
    for tag in ("correction", "complaint", "abandoned", "human_agent", "frustration"):
        assert scenarios[tag] >= 1, scenarios
    assert re.search(r"actually|from \d+ to \d+|instead|scratch that|i meant", corpus)
    assert re.search(r"late|cold|never showed|refund", corpus)
    intents = Counter(t["intent"] for c in convs for t in c.truth.values())
    assert {
        "booking_inquiry",
        "pricing_question",
        "menu_question",
        "complaint",
        "modification_request",
    } <= set(intents)
    roles = Counter(e["role"] for c in convs for _, e in c.events if e["event_type"] == "chat.message")
    assert roles["human_agent"] > 0
    channels = {e["channel"] for c in convs for _, e in c.events if e["event_type"] == "chat.message"}
    assert channels == {"web", "sms", "phone"}
    accepted = {
        u
        for c in convs
        for _, e in c.events
        if e["event_type"] == "booking.outcome"
        for u in e["accepted_upsells"]
    }
    assert {"gyoza", "third_protein", "lobster", "noodles"} <= accepted
    calls = [e for c in convs for _, e in c.events if e["event_type"] == "service.call"]
    assert any(not e["ok"] for e in calls) and {e["service"] for e in calls} == {"stt", "llm", "tts"}
    customers = Counter(c.customer_id for c in convs if c.customer_id is not None)
    assert customers.most_common(1)[0][1] >= 2  # customers recur
    assert any(c.customer_id is None for c in convs)


def test_the_demo_speaks_the_shared_vocabulary(convs: list[DemoConversation]) -> None:
    assert set(CUSTOMER_TONE_WEIGHTS) == set(TONES)
    assert UPSELL_PRICES == load_upsell_menu().prices() and set(UPSELL_NAMES) <= set(UPSELL_PRICES)
    truths = [t for c in convs for t in c.truth.values()]
    assert {t["tone"] for t in truths} <= set(TONES) and {t["intent"] for t in truths} <= set(INTENTS)
    reply_tones = {
        e["tone_used"]
        for c in convs
        for _, e in c.events
        if e["event_type"] == "chat.message" and e["role"] == "ai"
    }
    assert reply_tones <= {*REPLY_TONES.values(), FRUSTRATED_REPLY_TONE}


def test_booked_totals_match_prices(convs: list[DemoConversation]) -> None:
    for conv in convs:
        for _, ev in conv.events:
            if ev["event_type"] == "booking.outcome" and ev["booked"]:
                assert MINIMUM_ORDER <= ev["total_value"] < 20_000
                assert ev["booking_id"].startswith("BK")


def test_events_validate_against_the_schemas(convs: list[DemoConversation]) -> None:
    from schemas.events import INPUT_EVENT_ADAPTER

    for conv in convs[:50]:
        for _, ev in conv.events:
            model = INPUT_EVENT_ADAPTER.validate_python(ev)
            assert model.event_type == ev["event_type"]


def test_endless_run_is_lazy() -> None:
    # teppan demo --duration 0 runs forever: the generator must yield without looking ahead to an end.
    events = iter_events(seed=1, start=START, rate_per_s=50, duration_s=float("inf"))
    first = [next(events) for _ in range(2000)]
    assert [off for off, _, _ in first] == sorted(off for off, _, _ in first)


def test_a_demo_labeller_labels_a_share_of_customer_messages_with_their_ground_truth() -> None:
    from schemas.events import Label

    plain = list(iter_events(seed=9, start=START, rate_per_s=10, duration_s=900))
    labelled = list(iter_events(seed=9, start=START, rate_per_s=10, duration_s=900, label_share=0.3))
    # Labels are added; every other event stays as it was.
    assert [e for _, t, e in labelled if t != "labels.v1"] == [e for _, _, e in plain]
    assert not any(t == "labels.v1" for _, t, _ in plain)
    messages = {e["event_id"]: (off, e) for off, t, e in labelled if t == "chat.messages.v1"}
    customer = [e for _, e in messages.values() if e["role"] == "customer"]
    truth = {
        event_id: facts
        for conversation in generate_conversations(seed=9, start=START, count=2000)
        for event_id, facts in conversation.truth.items()
    }
    labels = [(off, Label.model_validate(e)) for off, t, e in labelled if t == "labels.v1"]
    by_message: dict[str, dict[str, Any]] = {}
    for off, label in labels:
        message_id = str(label.message_event_id)
        sent_at, message = messages[message_id]
        assert message["role"] == "customer" and str(label.conversation_id) == message["conversation_id"]
        assert off > sent_at  # a human labels what the assistant has already seen
        by_message.setdefault(message_id, {})[label.field] = label.value
    for message_id, fields in by_message.items():
        assert fields == {"tone": truth[message_id]["tone"], "intent": truth[message_id]["intent"]}
    share = len(by_message) / len(customer)
    assert 0.2 < share < 0.4, share
    again = [e for _, t, e in iter_events(seed=9, start=START, rate_per_s=10, duration_s=900, label_share=0.3)]
    assert again == [e for _, _, e in labelled]  # same seed, same labels
    with pytest.raises(ValueError):
        next(iter_events(seed=9, start=START, rate_per_s=10, duration_s=10, label_share=1.5))
