"""Reads the pipeline's vital signs: topic end offsets, consumer-group lag and rows in PostgreSQL."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import topics
from services.worker_kinds import WORKER_KINDS, consumer_group
from shared.kafka import bootstrap
from shared.settings import Settings

DLQ_TOPICS = tuple(name for name in topics.ALL_TOPICS if name.endswith(".dlq.v1"))


@dataclass(frozen=True)
class StackStatus:
    messages_in: int = 0
    turns_published: int = 0
    rows_logged: int = 0
    conversations_logged: int = 0
    dead_letters: int = 0
    consumer_lag: dict[str, int] = field(default_factory=dict)


class StatusReader:
    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self._settings = settings
        self._pool = pool
        self._consumer: AIOKafkaConsumer | None = None
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

    async def end_offsets(self, topic_names: tuple[str, ...]) -> dict[TopicPartition, int]:
        consumer = await self._clients()
        partitions = [
            TopicPartition(name, partition)
            for name in topic_names
            for partition in sorted(consumer.partitions_for_topic(name) or ())
        ]
        return await consumer.end_offsets(partitions) if partitions else {}

    async def group_lag(self, group: str, ends: dict[TopicPartition, int]) -> int:
        """Records not yet committed by `group`, over the partitions it has committed on.

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
        return lag

    async def read(self) -> StackStatus:
        await self._clients()
        ends = await self.end_offsets(topics.ALL_TOPICS)

        def total(*names: str) -> int:
            return sum(offset for tp, offset in ends.items() if tp.topic in names)

        lag = {}
        for kind in WORKER_KINDS:
            group = consumer_group(kind)
            with contextlib.suppress(Exception):
                lag[group] = await self.group_lag(group, ends)
        async with self._pool.acquire() as connection:
            rows = await connection.fetchval("SELECT count(*) FROM messages")
            conversations = await connection.fetchval("SELECT count(*) FROM conversation_logs")
        return StackStatus(
            messages_in=total(topics.CHAT_MESSAGES),
            turns_published=total(topics.CHAT_TURNS),
            rows_logged=rows,
            conversations_logged=conversations,
            dead_letters=total(*DLQ_TOPICS),
            consumer_lag=lag,
        )

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        for probe in self._group_probes.values():
            await probe.stop()
