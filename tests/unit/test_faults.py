"""The consumer loop's fault isolation, without Kafka: whose fault a failure is, and what happens to it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import redis.exceptions
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import topics
from services.ingest.core import INPUT_TOPIC_MODELS, model_for_topic
from shared.consumer import UndecodableRecord, decode_json_model, decode_records
from shared.faults import FaultIsolator, RetryPolicy, is_world_fault

FAST = RetryPolicy(record_retries=2, record_retry_pause_s=0, world_backoff_initial_s=0, world_backoff_max_s=0)


async def no_sleep(_: float) -> None:
    return None


class Poison(Exception):
    pass


@dataclass
class RecordingHandler:
    """Fails for every batch holding a poison item, or for the first `outage_calls` calls (the world's fault)."""

    poison: set[int]
    error: type[BaseException] = Poison
    outage_calls: int = 0
    calls: int = 0

    def __post_init__(self) -> None:
        self.handled: list[int] = []

    async def __call__(self, batch: list[int]) -> None:
        self.calls += 1
        if self.calls <= self.outage_calls:
            raise ConnectionRefusedError("database is down")
        if self.poison & set(batch):
            raise self.error("bad record")
        self.handled.extend(batch)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError("refused"),
        TimeoutError(),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.InterfaceError("connection is closed"),
        redis.exceptions.ConnectionError("Connection reset by peer"),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
        redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
        KafkaConnectionError("no broker"),
    ],
)
def test_outages_are_the_worlds_fault(error: BaseException) -> None:
    assert is_world_fault(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad"),
        KeyError("x"),
        RecursionError(),
        OverflowError("value out of int32 range"),
        asyncpg.exceptions.DataError("invalid input"),
        asyncpg.exceptions.UniqueViolationError("duplicate"),
        MessageSizeTooLargeError(),
    ],
)
def test_everything_else_is_the_records_fault(error: BaseException) -> None:
    assert not is_world_fault(error)


def test_a_world_fault_wrapped_in_another_exception_is_still_the_worlds() -> None:
    try:
        try:
            raise ConnectionResetError("reset")
        except ConnectionResetError as cause:
            raise RuntimeError("flush failed") from cause
    except RuntimeError as wrapped:
        assert is_world_fault(wrapped)


async def test_one_poison_record_is_isolated_and_every_other_record_handled_once() -> None:
    handler = RecordingHandler(poison={37})
    report = await FaultIsolator(handler, policy=FAST, sleep=no_sleep).run(list(range(100)))
    assert [culprit.item for culprit in report.culprits] == [37]
    assert "Poison: bad record" in report.culprits[0].error
    assert "Traceback" in report.culprits[0].error
    assert sorted(handler.handled) == [n for n in range(100) if n != 37]
    assert len(handler.handled) == len(set(handler.handled)), "a good record was handled twice"
    # 3 tries of the whole batch, then about two calls per halving (log2 100 ≈ 7), then a retry of the culprit.
    assert report.handler_calls <= 3 + 2 * 7 + 2
    assert report.records_rehandled > 0


@pytest.mark.parametrize("error", [RecursionError, OverflowError, KeyError, AttributeError])
async def test_any_exception_type_a_handler_raises_is_isolated(error: type[BaseException]) -> None:
    handler = RecordingHandler(poison={3, 8}, error=error)
    report = await FaultIsolator(handler, policy=FAST, sleep=no_sleep).run(list(range(10)))
    assert sorted(culprit.item for culprit in report.culprits) == [3, 8]
    assert {culprit.exception_type for culprit in report.culprits} == {error.__name__}
    assert sorted(handler.handled) == [0, 1, 2, 4, 5, 6, 7, 9]


async def test_an_outage_is_waited_out_and_nothing_is_dead_lettered() -> None:
    pauses: list[float] = []

    async def record_sleep(seconds: float) -> None:
        pauses.append(seconds)

    policy = RetryPolicy(world_backoff_initial_s=0.1, world_backoff_max_s=2.0)
    handler = RecordingHandler(poison=set(), outage_calls=12)
    report = await FaultIsolator(handler, policy=policy, sleep=record_sleep).run(list(range(50)))
    assert report.culprits == []
    assert report.world_retries == 12
    assert sorted(handler.handled) == list(range(50))
    # Exponential, capped, jittered: each pause lies in [ceiling/2, ceiling].
    for attempt, pause in enumerate(pauses):
        ceiling = min(2.0, 0.1 * 2**attempt)
        assert ceiling / 2 <= pause <= ceiling
    assert max(pauses) <= 2.0


async def test_a_record_retried_through_a_short_glitch_is_not_dead_lettered() -> None:
    failures = iter([True, True])

    async def flaky(batch: list[int]) -> None:
        if next(failures, False):
            raise ValueError("transient")

    report = await FaultIsolator(flaky, policy=FAST, sleep=no_sleep).run([1, 2, 3])
    assert report.culprits == []
    assert report.handler_calls == 3


def _record(value: bytes, *, key: bytes | None = None, offset: int = 0) -> Any:
    from aiokafka.structs import ConsumerRecord

    return ConsumerRecord(
        topic=topics.CHAT_MESSAGES, partition=0, offset=offset, timestamp=0, timestamp_type=0,
        key=key, value=value, checksum=None, serialized_key_size=0, serialized_value_size=len(value), headers=(),
    )  # fmt: skip


VALID = {
    "event_type": "chat.message",
    "conversation_id": "0b7e3c7a-5b8f-4d33-8a6b-1c2d3e4f5a6b",
    "role": "customer",
    "text": "hi",
}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"[" * 5000 + b"]" * 5000, "nested deeper"),
        (b'{"customer_id": ' + b"7" * 5000 + b"}", "4300 digits"),
        (json.dumps({**VALID, "occurred_at": "9999-12-31T23:59:59-12:00"}).encode(), "occurred_at"),
        (json.dumps({**VALID, "customer_id": 2**40}).encode(), "customer_id"),
        (b'{"event_type": "chat.message", "latency_ms": NaN}', "NaN"),
        (b"\xff\xfe", "UTF-8"),
        (json.dumps({**VALID, "event_type": []}).encode(), "unknown event_type"),
    ],
)
@pytest.mark.parametrize("one_step", [False, True], ids=["careful-path", "one-step-path"])
def test_records_that_once_escaped_the_dead_letter_step_are_dead_letters(
    value: bytes, reason: str, one_step: bool
) -> None:
    decode = decode_json_model(model_for_topic, INPUT_TOPIC_MODELS if one_step else None)
    decoded, dead = decode_records([_record(value)], decode, stage="ingest")
    assert decoded == []
    assert len(dead) == 1 and reason in dead[0].error


def test_a_record_keyed_by_another_conversation_is_a_dead_letter() -> None:
    decode = decode_json_model(model_for_topic)
    value = json.dumps(VALID).encode()
    own_key = VALID["conversation_id"].encode()
    decoded, dead = decode_records(
        [_record(value, key=own_key), _record(value, key=None, offset=1), _record(value, key=b"other", offset=2)],
        decode,
        stage="ingest",
    )
    assert [item.offset for item in decoded] == [0, 1]
    assert [letter.offset for letter in dead] == [2]
    assert "key" in dead[0].error


def test_a_decoder_that_raises_anything_yields_a_dead_letter_not_an_exception() -> None:
    def explode(topic: str, value: bytes | None) -> Any:
        raise OverflowError("date value out of range")

    decoded, dead = decode_records([_record(b"{}")], explode, stage="nlp")
    assert decoded == [] and "OverflowError" in dead[0].error


# Fixed id and time, so the defaults (a fresh uuid, now) do not differ between the two decodes.
COMPLETE = {**VALID, "event_id": "5b0c0f3e-3f43-4d1e-9a57-1f0c5d2b7a10", "occurred_at": "2026-12-02T10:00:00Z"}


def _outcome(decode: Any, value: bytes) -> tuple[str, Any]:
    try:
        return "event", decode(topics.CHAT_MESSAGES, value).model_dump()
    except UndecodableRecord as error:
        return "rejected", str(error)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    ["event_type", "conversation_id", "role", "text", "customer_id", "occurred_at", "latency_ms", "tokens_in",
     "experiments", "channel", "source", "event_id", "schema_version", "unknown"]
)  # fmt: skip


# Dropping the id or the time would let each decode draw its own default.
DROPPABLE = FIELDS.filter(lambda name: name not in {"event_id", "occurred_at"})


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(FIELDS, JSON_VALUES, max_size=4), drop=st.sets(DROPPABLE, max_size=2))
def test_the_one_step_path_decides_exactly_as_the_careful_path(changes: dict[str, Any], drop: set[str]) -> None:
    """pydantic's JSON parser is a shortcut, not a second opinion: same event or same rejection reason."""
    payload = {key: value for key, value in {**COMPLETE, **changes}.items() if key not in drop}
    try:
        value = json.dumps(payload).encode()
    except ValueError:
        return
    careful = decode_json_model(model_for_topic)
    one_step = decode_json_model(model_for_topic, INPUT_TOPIC_MODELS)
    assert _outcome(one_step, value) == _outcome(careful, value)


@pytest.mark.parametrize(
    "value",
    [
        json.dumps({**COMPLETE, "text": "\ud800 lone surrogate"}).encode(),
        json.dumps({**COMPLETE, "text": "emoji \U0001f600 escaped"}).encode(),
        json.dumps({**COMPLETE, "text": "Infinity war night"}).encode(),
        json.dumps({**COMPLETE, "event_type": "booking.outcome"}).encode(),
        json.dumps({**COMPLETE, "text": "x" * 5000}).encode(),
        b'{"event_type": "chat.message", "text": "hi", "text": "second"}',
    ],
    ids=["lone-surrogate", "escaped-emoji", "infinity-in-text", "wrong-event-type", "long", "duplicate-key"],
)
def test_the_one_step_path_agrees_on_inputs_json_parsers_differ_on(value: bytes) -> None:
    careful = decode_json_model(model_for_topic)
    one_step = decode_json_model(model_for_topic, INPUT_TOPIC_MODELS)
    assert _outcome(one_step, value) == _outcome(careful, value)
