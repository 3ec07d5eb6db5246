"""Replay from Kafka: every partition of each topic, one after another, straight into its data file.

Where a partition's reading starts is the broker's answer to `offsets_for_times(since)` (ListOffsets by
timestamp). That answer is used as a place to start, not as the range's first record: the records read
are still judged by their own timestamps (`PartitionWindow`), so records before `since` are skipped. On
Apache Kafka, whose time index answers exactly, nothing is skipped. Tansu (0.6, the embedded broker)
answers every such query with the partition's first offset and the wall-clock time of the query, whatever
timestamp was asked, so there the replay reads the partition from its beginning; correct, only slower.

Where it stops is found by reading as well: at the first record at or after `until` (the same offset
`offsets_for_times(until)` names on Kafka), and never past the partition's end offset taken when the
replay began, so records produced while it runs are not half-included. That end is the larger of the
broker's ListOffsets(latest) answer and the high watermark its fetch responses report: Tansu's ListOffsets
answer can lag the records it already holds, and a replay that trusted it alone lost the newest records.

Memory stays bounded: one partition is assigned at a time, fetches are capped in bytes, records come in
batches of at most `MAX_RECORDS_PER_BATCH`, and each is written out before the next batch is asked for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError, UnsupportedVersionError

from services.ml.replay.core import (
    DataFile,
    PartitionProgress,
    PartitionResult,
    PartitionWindow,
    ReplayError,
    ReplayInputError,
    ReplayProgress,
    TimeRange,
    record_line,
    timestamp_from_ms,
)
from shared.kafka import MAX_MESSAGE_BYTES, bootstrap
from shared.settings import Settings

log = logging.getLogger(__name__)

MAX_RECORDS_PER_BATCH = 500
# A fetch holds at most this many bytes; room for the largest message the producers may send, twice.
FETCH_MAX_BYTES = 2 * MAX_MESSAGE_BYTES
FETCH_WAIT_MS = 1000
# A partition that yields nothing for this long, short of its end offset, fails the replay rather than hangs.
STALL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class PartitionPlan:
    partition: TopicPartition
    # Where reading begins: at or before the range's first record.
    first_offset: int
    # The partition's end when the replay began.
    end_offset: int


async def replay_from_kafka(
    settings: Settings,
    topics: Sequence[str],
    time_range: TimeRange,
    out_dir: Path,
    progress: ReplayProgress,
) -> list[PartitionResult]:
    """Write each partition's records in the range to `out_dir`; what each partition gave, in order."""
    try:
        servers = bootstrap(settings)
    except RuntimeError as error:
        raise ReplayError(str(error)) from None
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers,
        group_id=None,
        enable_auto_commit=False,
        # Records deleted under the reader (retention) must fail the replay, not be skipped silently.
        auto_offset_reset="none",
        max_partition_fetch_bytes=FETCH_MAX_BYTES,
        fetch_max_bytes=FETCH_MAX_BYTES,
        fetch_max_wait_ms=FETCH_WAIT_MS,
    )
    try:
        await consumer.start()
    except KafkaError as error:
        await consumer.stop()
        raise ReplayError(f"cannot reach Kafka at {servers}: {error}") from None
    try:
        partitions = await partitions_of(consumer, topics)
        plans = await plan_partitions(consumer, partitions, time_range)
        return [await replay_partition(consumer, plan, time_range, out_dir, progress) for plan in plans]
    except KafkaError as error:
        raise ReplayError(f"Kafka at {servers} failed the replay: {error!r}") from None
    finally:
        await consumer.stop()


async def partitions_of(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of the topics, in the order the topics were named; unknown topics are refused."""
    known = await consumer.topics()
    unknown = [topic for topic in topics if topic not in known]
    if unknown:
        raise ReplayInputError(f"no such topic on the broker: {', '.join(unknown)}")
    return [
        TopicPartition(topic, partition)
        for topic in topics
        for partition in sorted(consumer.partitions_for_topic(topic) or ())
    ]


async def plan_partitions(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], time_range: TimeRange
) -> list[PartitionPlan]:
    beginnings = await consumer.beginning_offsets(partitions)
    ends = await high_watermarks(consumer, await consumer.end_offsets(partitions))
    try:
        found = await consumer.offsets_for_times({tp: time_range.since_ms for tp in partitions})
    except UnsupportedVersionError:
        # A broker without a time index: every partition is read from its beginning.
        log.info("the broker cannot look offsets up by time; reading each partition from its beginning")
        found = {}
    plans = []
    for tp in partitions:
        if tp not in found:
            first = beginnings[tp]
        elif (answer := found[tp]) is None:
            # The broker knows no record at or after `since`: nothing to read.
            first = ends[tp]
        else:
            first = answer.offset
        plans.append(PartitionPlan(tp, min(max(first, beginnings[tp]), ends[tp]), ends[tp]))
    return plans


async def high_watermarks(
    consumer: AIOKafkaConsumer, listed: dict[TopicPartition, int], *, timeout_s: float = 30.0
) -> dict[TopicPartition, int]:
    """Each partition's end: the larger of the ListOffsets answer (`listed`) and the high watermark of a fetch
    from there. The records that fetch returns are dropped; the replay reads them again in order."""
    consumer.assign(list(listed))
    for tp, offset in listed.items():
        consumer.seek(tp, offset)
    deadline = time.monotonic() + timeout_s
    while any(consumer.highwater(tp) is None for tp in listed) and time.monotonic() < deadline:
        await consumer.getmany(timeout_ms=FETCH_WAIT_MS, max_records=1)
    ends = {tp: max(offset, consumer.highwater(tp) or 0) for tp, offset in listed.items()}
    consumer.unsubscribe()
    return ends


async def replay_partition(
    consumer: AIOKafkaConsumer,
    plan: PartitionPlan,
    time_range: TimeRange,
    out_dir: Path,
    progress: ReplayProgress,
) -> PartitionResult:
    tp = plan.partition
    window = PartitionWindow(time_range, plan.end_offset)
    bar = progress.partition(f"{tp.topic}/{tp.partition}", plan.end_offset - plan.first_offset)
    with DataFile(out_dir, tp.topic, tp.partition) as data_file:
        if not window.reached(plan.first_offset):
            consumer.assign([tp])
            consumer.seek(tp, plan.first_offset)
            await _read_to_the_end(consumer, plan, window, data_file, bar)
    bar.update(scanned=plan.end_offset - plan.first_offset, written=data_file.records)
    if window.skipped:
        # On Apache Kafka this stays 0; a broker whose time index is inexact (Tansu) makes the reader scan.
        log.info(
            "%s/%d: skipped %d records before --since from offset %d (the broker's time lookup is inexact)",
            tp.topic,
            tp.partition,
            window.skipped,
            plan.first_offset,
        )
    start, end = window.offsets
    return PartitionResult.of(data_file, start, end)


async def _read_to_the_end(
    consumer: AIOKafkaConsumer,
    plan: PartitionPlan,
    window: PartitionWindow,
    data_file: DataFile,
    bar: PartitionProgress,
) -> None:
    tp = plan.partition
    position = plan.first_offset
    last_moved = time.monotonic()
    while True:
        try:
            batches = await consumer.getmany(tp, timeout_ms=FETCH_WAIT_MS, max_records=MAX_RECORDS_PER_BATCH)
        except OffsetOutOfRangeError:
            raise ReplayError(
                f"{tp.topic}/{tp.partition}: records from offset {position} were deleted while replaying "
                "(retention); replay a later range or use --source db"
            ) from None
        for record in batches.get(tp, ()):
            decision = window.decide(record.offset, record.timestamp)
            if decision == "stop":
                break
            if decision == "keep":
                data_file.write(
                    record_line(
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=record.offset,
                        timestamp=timestamp_from_ms(record.timestamp),
                        key=record.key,
                        value=record.value,
                    )
                )
        now_at = await consumer.position(tp)
        if window.reached(now_at):
            return
        if now_at > position:
            position, last_moved = now_at, time.monotonic()
        elif time.monotonic() - last_moved > STALL_TIMEOUT_S:
            raise ReplayError(
                f"{tp.topic}/{tp.partition}: no records after offset {position} for {STALL_TIMEOUT_S:.0f}s, "
                f"though the partition ends at {plan.end_offset}"
            )
        bar.update(scanned=position - plan.first_offset, written=window.kept)
