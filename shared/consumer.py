"""The one consumer loop every worker uses: a faststream batch subscriber with dead letters.

A batch of raw records is decoded one by one. A record that cannot be decoded or validated, for any
reason (bad UTF-8, nesting, huge numbers, a key that is not its conversation), is published to the
stage's DLQ as a DeadLetter (original bytes, topic, partition, offset, error), and the rest of the
batch is handed to the worker's handler through a `FaultIsolator`: an outage of the database, Redis or
the broker is waited out with backoff, and a record whose handling keeps failing is isolated and
dead-lettered with its traceback, so no record can stall a partition. Offsets are committed only after
the handler and every dead-letter publish have finished.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import BaseModel, ValidationError

from schemas.events import DeadLetter
from shared.faults import FaultIsolator, RetryPolicy, describe_exception
from shared.json_input import InvalidJson, is_plainly_bounded, loads_bounded
from shared.kafka import Broker
from shared.logging import record_position

log = logging.getLogger(__name__)

EventT = TypeVar("EventT", bound=BaseModel)
# A dead letter must fit in one Kafka message; past this its copy of the original is cut (the original
# itself stays at its topic, partition and offset).
MAX_DEAD_LETTER_ORIGINAL_BYTES = 4 * 1024 * 1024
# How long a fetch waits for records. Tansu answers a fetch when its wait expires, so the wait is paid on
# every hop of the latency path: short for the workers on it (ingest, nlp, escalation, logger), and a setting
# (TEPPAN_KAFKA_FETCH_WAIT_MS), carried by a broker from `shared.kafka.create_broker`. The workers off it
# (metrics windows, edge cases, alert rules, paging) wait longer: each of their fetches then brings a larger
# batch, and the broker and PostgreSQL answer far fewer small ones, which leaves the two cores to the latency
# path at low rates and to throughput at high ones.
LATENCY_PATH_FETCH_WAIT_MS = 20
BACKGROUND_FETCH_WAIT_MS = 250
# aiokafka's own default, for a broker not made by `shared.kafka.create_broker`.
DEFAULT_SESSION_TIMEOUT_MS = 10_000


class UndecodableRecord(ValueError):
    """A record that no retry can fix: it belongs in the dead-letter queue."""


@dataclass(frozen=True)
class Consumed(Generic[EventT]):
    """A decoded event with the position it was read from."""

    event: EventT
    topic: str
    partition: int
    offset: int


BatchHandler = Callable[[list[Consumed[Any]]], Awaitable[None]]
Decoder = Callable[[str, bytes | None], BaseModel]


def describe_validation_error(error: ValidationError) -> str:
    """A short, human-readable reason; never echoes the input back (it may be 2 MB or hold PII)."""
    parts = []
    for detail in error.errors(include_input=False, include_url=False)[:10]:
        location = ".".join(str(part) for part in detail["loc"]) or "(root)"
        parts.append(f"{location}: {detail['msg']}")
    return "; ".join(parts)


def models_by_topic(
    models: Mapping[str, type[BaseModel]], stage: str
) -> Callable[[str, Any], type[BaseModel]]:
    """The model each consumed topic validates as; a record from any other topic is undecodable."""

    def model_for_topic(topic: str, payload: Any) -> type[BaseModel]:
        model = models.get(topic)
        if model is None:
            raise UndecodableRecord(f"the {stage} worker does not consume topic {topic!r}")
        return model

    return model_for_topic


def decode_json_model(
    model_for_topic: Callable[[str, Any], type[BaseModel]],
    models: Mapping[str, type[BaseModel]] | None = None,
) -> Decoder:
    """A decoder that parses UTF-8 JSON and validates it into the model the topic expects.

    With `models` (topic → model), a short, plainly bounded record is parsed and validated in one step
    by pydantic's JSON parser, about 2.5 times cheaper than parsing and then validating; whenever that
    fails, or the record does not name the model's own `event_type`, the careful path below decides, so every
    rejection still gets its precise reason.
    """

    own_event_types = {model: _own_event_type(model) for model in (models or {}).values()}

    def decode(topic: str, value: bytes | None) -> BaseModel:
        if value is None:
            raise UndecodableRecord("empty record (tombstone)")
        fast_model = models.get(topic) if models is not None else None
        if fast_model is not None and is_plainly_bounded(value):
            try:
                event = fast_model.model_validate_json(value)
            except ValidationError:
                pass
            else:
                # A missing event_type would be filled by the default, which the careful path refuses.
                if "event_type" in event.model_fields_set and getattr(event, "event_type", None) == own_event_types[fast_model]:
                    return event
        try:
            payload = loads_bounded(value)
        except InvalidJson as error:
            raise UndecodableRecord(f"not UTF-8 JSON Teppan accepts: {error}") from None
        if not isinstance(payload, dict):
            raise UndecodableRecord(f"expected a JSON object, got {type(payload).__name__}")
        model = model_for_topic(topic, payload)
        try:
            return model.model_validate(payload)
        except ValidationError as error:
            raise UndecodableRecord(f"invalid {model.__name__}: {describe_validation_error(error)}") from None

    return decode


def _own_event_type(model: type[BaseModel]) -> object:
    field = model.model_fields.get("event_type")
    return field.default if field is not None else None


def check_key(record: ConsumerRecord[Any, Any], event: BaseModel) -> None:
    """Every topic is keyed by conversation id; a record keyed otherwise breaks per-conversation order.

    A record with no key is accepted (its producer chose round-robin partitioning; what Teppan publishes
    from it is keyed by the conversation), but one whose key names another conversation is a dead letter.
    """
    conversation_id = getattr(event, "conversation_id", None)
    if conversation_id is None or record.key is None:
        return
    if record.key != str(conversation_id).encode():
        raise UndecodableRecord("the record's key is not its conversation_id")


def dead_letter_for(record: ConsumerRecord[Any, Any], *, stage: str, error: str) -> DeadLetter:
    original = record.value or b""
    if len(original) > MAX_DEAD_LETTER_ORIGINAL_BYTES:
        error += (
            f"\n(original of {len(original)} bytes cut to {MAX_DEAD_LETTER_ORIGINAL_BYTES}; the whole record"
            " stays at its topic, partition and offset)"
        )
        original = original[:MAX_DEAD_LETTER_ORIGINAL_BYTES]
    return DeadLetter(
        stage=stage,
        source="teppan-" + stage,
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key_b64=base64.b64encode(record.key).decode() if record.key is not None else None,
        original_b64=base64.b64encode(original).decode(),
        error=error,
    )


def decode_records(
    records: Sequence[ConsumerRecord[Any, Any]], decode: Decoder, *, stage: str
) -> tuple[list[Consumed[Any]], list[DeadLetter]]:
    """Decode every record; whatever fails, for whatever reason, is a dead letter and never an exception.

    Decoding is pure, so a record that fails once fails always: there is nothing to retry.
    """
    decoded: list[Consumed[Any]] = []
    dead: list[DeadLetter] = []
    for record in records:
        try:
            event = decode(record.topic, record.value)
            check_key(record, event)
        except UndecodableRecord as error:
            reason = str(error)
        except Exception as error:  # RecursionError, OverflowError, anything a decoder can raise
            reason = f"undecodable: {describe_exception(error, limit=1000)}"
        else:
            decoded.append(Consumed(event, record.topic, record.partition, record.offset))
            continue
        log.error(
            "dead-lettering a record",
            extra={**record_position(record.topic, record.partition, record.offset), "error": reason},
        )
        dead.append(dead_letter_for(record, stage=stage, error=reason))
    return decoded, dead


def batch_position(batch: Sequence[Consumed[Any]]) -> dict[str, Any]:
    """Where a batch starts, for log lines about it."""
    if not batch:
        return {}
    return record_position(batch[0].topic, batch[0].partition, batch[0].offset)


def _dead_letter_key(letter: DeadLetter) -> bytes | None:
    return base64.b64decode(letter.key_b64) if letter.key_b64 else None


async def publish_events(
    broker: KafkaBroker, topic: str, events: Sequence[BaseModel], key_of: Callable[[Any], bytes | None]
) -> None:
    """Publish many events concurrently and return only when the broker has acknowledged all of them."""
    futures = [
        await broker.publish(
            event.model_dump_json().encode(), topic=topic, key=key_of(event), no_confirm=True
        )
        for event in events
    ]
    if futures:
        await asyncio.gather(*futures)


def subscribe_batch(
    broker: KafkaBroker,
    *,
    models: Mapping[str, type[BaseModel]],
    group_id: str,
    stage: str,
    dlq_topic: str,
    handle: BatchHandler,
    decode: Decoder | None = None,
    outputs: Mapping[str, type[BaseModel]] | None = None,
    max_records: int = 1000,
    title: str | None = None,
    description: str | None = None,
    retry_policy: RetryPolicy | None = None,
    fetch_wait_ms: int | None = None,
) -> None:
    """Register `handle` as a committed-after-processing batch consumer of `models`' topics, with dead letters.

    Each record must be UTF-8 JSON valid for its topic's model, unless `decode` says otherwise.
    `outputs` names the topics the handler publishes to, so the AsyncAPI document shows them with
    their payload schemas.
    """
    decode = decode or decode_json_model(models_by_topic(models, stage), models)
    # A broker from `shared.kafka.create_broker` carries the configured timeout; aiokafka's default otherwise.
    session_timeout_ms = broker.session_timeout_ms if isinstance(broker, Broker) else DEFAULT_SESSION_TIMEOUT_MS
    if fetch_wait_ms is None:  # the latency path's
        fetch_wait_ms = broker.fetch_wait_ms if isinstance(broker, Broker) else LATENCY_PATH_FETCH_WAIT_MS
    for topic, model in {**(outputs or {}), dlq_topic: DeadLetter}.items():
        broker.publisher(topic, schema=model, title=f"{stage} -> {topic}", description=model.__doc__)

    async def raw_records(message: Any) -> tuple[ConsumerRecord[Any, Any], ...]:
        raw = message.raw_message
        return raw if isinstance(raw, tuple) else (raw,)

    isolator: FaultIsolator[Consumed[Any]] = FaultIsolator(
        handle, policy=retry_policy, describe_position=batch_position
    )
    publisher: FaultIsolator[DeadLetter] = FaultIsolator(
        lambda letters: publish_events(broker, dlq_topic, letters, key_of=_dead_letter_key),
        policy=retry_policy,
    )

    @broker.subscriber(
        *models,
        batch=True,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        max_records=max_records,
        batch_timeout_ms=fetch_wait_ms,
        fetch_max_wait_ms=fetch_wait_ms,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=session_timeout_ms // 3,
        decoder=raw_records,
        title=title,
        description=description,
    )
    async def consume(records: list[Any], message: KafkaMessage) -> None:
        decoded, dead = decode_records(records, decode, stage=stage)
        report = await isolator.run(decoded)
        if report.culprits:
            by_position = {(r.topic, r.partition, r.offset): r for r in records}
            for culprit in report.culprits:
                item = culprit.item
                log.error(
                    "dead-lettering a record its handler keeps failing on",
                    extra={
                        **record_position(item.topic, item.partition, item.offset),
                        "error_type": culprit.exception_type,
                        "records_rehandled": report.records_rehandled,
                    },
                )
                record = by_position[(item.topic, item.partition, item.offset)]
                dead.append(dead_letter_for(record, stage=stage, error=f"handler failed: {culprit.error}"))
        if dead:
            # A dead letter the broker refuses for good would be lost; better to stop here and be seen.
            undeliverable = (await publisher.run(dead)).culprits
            if undeliverable:
                raise RuntimeError(f"{len(undeliverable)} dead letters could not be published to {dlq_topic}")
