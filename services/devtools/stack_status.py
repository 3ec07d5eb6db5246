"""Reads the pipeline's vital signs: topic end offsets, consumer-group lag and rows in PostgreSQL.

Lag is the high watermark minus the group's committed offset. The high watermark is taken from a fetch
response, not from ListOffsets: Tansu answers ListOffsets with the last batch's first offset + 1, which
under-counts by up to a whole batch (100 records acknowledged, 93 reported). Where the two disagree the
status says so, so a reader knows the broker's own tools would show less.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import topics
from schemas.workers import WORKER_KINDS, consumer_group
from shared.kafka import bootstrap
from shared.settings import Settings

# How long `high_watermarks` fetches for a partition's true end before it keeps the reported one.
HIGH_WATERMARK_WAIT_S = 2.0
DLQ_TOPICS = tuple(name for name in topics.ALL_TOPICS if name.endswith(".dlq.v1"))


@dataclass(frozen=True)
class StackStatus:
    messages_in: int = 0
    turns_published: int = 0
    rows_logged: int = 0
    conversations_logged: int = 0
    dead_letters: int = 0
    consumer_lag: dict[str, int] = field(default_factory=dict)
    # Partitions where the broker's ListOffsets answer was below the fetch high watermark.
    under_reported_partitions: int = 0


class StatusReader:
    """`since`: count only rows logged from then on (a run's own), as the broker's counts are a run's own."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, *, since: datetime | None = None) -> None:
        self._settings = settings
        self._pool = pool
        self._since = since
        self._consumer: AIOKafkaConsumer | None = None
        # Assigned to whatever partitions are read for high watermarks; kept apart from `_consumer`, whose
        # metadata would otherwise shrink to the assigned topics and lose every other topic's partitions.
        self._fetcher: AIOKafkaConsumer | None = None
        self._group_probes: dict[str, AIOKafkaConsumer] = {}

    async def _clients(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                bootstrap_servers=bootstrap(self._settings), enable_auto_commit=False
            )
            await self._consumer.start()
            # Loads metadata for every topic, so partitions_for_topic knows them.
            await self._consumer.topics()
        return self._consumer

    async def reported_end_offsets(self, topic_names: tuple[str, ...]) -> dict[TopicPartition, int]:
        """What the broker answers to ListOffsets(latest); on Tansu, possibly short of the truth."""
        consumer = await self._clients()
        if any(consumer.partitions_for_topic(name) is None for name in topic_names):
            # A topic created since this client loaded its metadata: a new client loads it afresh.
            await consumer.stop()
            self._consumer = None
            consumer = await self._clients()
        partitions = [
            TopicPartition(name, partition)
            for name in topic_names
            for partition in sorted(consumer.partitions_for_topic(name) or ())
        ]
        return await consumer.end_offsets(partitions) if partitions else {}

    async def end_offsets(self, topic_names: tuple[str, ...]) -> dict[TopicPartition, int]:
        return await self.high_watermarks(await self.reported_end_offsets(topic_names))

    async def high_watermarks(self, reported: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """The high watermark of every partition, from a fetch at the reported end.

        A fetch starting at the last reported offset returns the rest of the last batch and the true
        high watermark; on a broker whose ListOffsets is right it returns at most one record.
        """
        non_empty = {tp: end for tp, end in reported.items() if end > 0}
        if not non_empty:
            return reported
        if self._fetcher is None:
            self._fetcher = AIOKafkaConsumer(
                bootstrap_servers=bootstrap(self._settings), enable_auto_commit=False
            )
            await self._fetcher.start()
        consumer = self._fetcher
        consumer.assign(list(non_empty))
        for tp, end in non_empty.items():
            consumer.seek(tp, end - 1)
        # getmany returns as soon as one partition has records, and a partition whose fetch answer has not
        # come yet has no high watermark: it would keep its under-reported end. Fetch until each has one.
        deadline = time.monotonic() + HIGH_WATERMARK_WAIT_S
        while True:
            await consumer.getmany(timeout_ms=200, max_records=len(non_empty) * 1000)
            if all(consumer.highwater(tp) is not None for tp in non_empty) or time.monotonic() > deadline:
                break
        return {
            tp: max(end, (consumer.highwater(tp) or 0) if tp in non_empty else 0)
            for tp, end in reported.items()
        }

    async def group_lag(self, group: str, ends: dict[TopicPartition, int], *, strict: bool = False) -> int:
        """Records not yet committed by `group`, over the partitions it has committed on (with `strict`,
        over every partition in `ends`: one it never committed on lags by all its records).

        A group-bound consumer that never subscribes reads committed offsets without joining the group;
        aiokafka's admin OffsetFetch uses a protocol version Tansu answers in a form aiokafka cannot parse.
        """
        probe = self._group_probes.get(group)
        if probe is None:
            probe = AIOKafkaConsumer(
                bootstrap_servers=bootstrap(self._settings), group_id=group, enable_auto_commit=False
            )
            await probe.start()
            self._group_probes[group] = probe
        lag = 0
        for partition, end in ends.items():
            committed = await probe.committed(partition)
            if committed is not None:
                lag += max(0, end - committed)
            elif strict:
                lag += end
        return lag

    async def read(self) -> StackStatus:
        # The database first: every row it counts then came in before the offsets are read, so "logged"
        # can trail "in" while traffic flows, never run ahead of it.
        async with self._pool.acquire() as connection:
            rows = await connection.fetchval(
                "SELECT count(*) FROM messages WHERE $1::timestamptz IS NULL OR logged_at >= $1", self._since
            )
            conversations = await connection.fetchval("SELECT count(*) FROM conversation_logs")
        await self._clients()
        reported = await self.reported_end_offsets(topics.ALL_TOPICS)
        ends = await self.high_watermarks(reported)

        def total(*names: str) -> int:
            return sum(offset for tp, offset in ends.items() if tp.topic in names)

        lag = {}
        for kind in WORKER_KINDS:
            group = consumer_group(kind)
            with contextlib.suppress(Exception):
                lag[group] = await self.group_lag(group, ends)
        return StackStatus(
            messages_in=total(topics.CHAT_MESSAGES),
            turns_published=total(topics.CHAT_TURNS),
            rows_logged=rows,
            conversations_logged=conversations,
            dead_letters=total(*DLQ_TOPICS),
            consumer_lag=lag,
            under_reported_partitions=sum(1 for tp, end in ends.items() if reported.get(tp, 0) < end),
        )

    async def close(self) -> None:
        for client in (self._consumer, self._fetcher):
            if client is not None:
                await client.stop()
        for probe in self._group_probes.values():
            await probe.stop()
