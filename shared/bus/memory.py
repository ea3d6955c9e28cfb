"""In-memory adapter: Kafka's semantics inside one process, for the embedded mode and tests.

Partitions, per-key ordering, consumer groups with rebalancing, committed offsets and
redelivery of whatever a member fetched but did not commit before it left.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Mapping, Sequence
from itertools import count

from shared.bus.groups import InProcessMember, assign_round_robin
from shared.bus.port import BusConsumer, CommitFailed, Outgoing, Record, TopicPartition


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition of a keyed message; every embedded adapter places keys the same way."""
    return zlib.crc32(key) % partitions


class InMemoryBus:
    """A broker held in this process; every topic has `partitions` partitions."""

    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self._logs: dict[str, list[list[Record]]] = {}
        self._committed: dict[tuple[str, str, int], int] = {}
        self._members: dict[str, list[_MemoryConsumer]] = {}
        self._changed = asyncio.Condition()
        self._round_robin = count()

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Nothing to flush."""

    async def ping(self) -> None:
        """Always reachable."""

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create missing topics."""
        for topic in topics:
            self._log(topic)

    async def publish_many(self, messages: Sequence[Outgoing]) -> None:
        """Append each message to its key's partition and wake waiting consumers."""
        now_ms = int(time.time() * 1000)
        for message in messages:
            partitions = self._log(message.topic)
            index = self._partition_for(message.key, len(partitions))
            log = partitions[index]
            log.append(
                Record(
                    topic=message.topic,
                    partition=index,
                    offset=len(log),
                    key=message.key,
                    value=message.value,
                    headers=tuple(message.headers),
                    timestamp_ms=now_ms,
                )
            )
        async with self._changed:
            self._changed.notify_all()

    def consumer(self, topics: Sequence[str], group: str) -> BusConsumer:
        """A new member of `group` reading `topics`."""
        return _MemoryConsumer(self, tuple(topics), group)

    def records(self, topic: str) -> list[Record]:
        """Every record of a topic, partition by partition (for tests and tools)."""
        return [record for log in self._log(topic) for record in log]

    def committed(self, group: str, topic: str, partition: int) -> int:
        """The next offset `group` will read from a partition."""
        return self._committed.get((group, topic, partition), 0)

    # group coordination -------------------------------------------------

    def _log(self, topic: str) -> list[list[Record]]:
        if topic not in self._logs:
            self._logs[topic] = [[] for _ in range(self.partitions)]
        return self._logs[topic]

    def _partition_for(self, key: bytes | None, partitions: int) -> int:
        if key is None:
            return next(self._round_robin) % partitions
        return partition_for_key(key, partitions)

    def _join(self, member: _MemoryConsumer) -> None:
        self._members.setdefault(member.group, []).append(member)
        self._rebalance(member.group)

    def _leave(self, member: _MemoryConsumer) -> None:
        members = self._members.get(member.group, [])
        if member in members:
            members.remove(member)
            self._rebalance(member.group)

    def _rebalance(self, group: str) -> None:
        for member, assigned in assign_round_robin(
            self._members.get(group, []), lambda topic: len(self._log(topic))
        ):
            member._assign(assigned)

    def _committed_offset(self, group: str, topic_partition: TopicPartition) -> int:
        return self._committed.get((group, *topic_partition), 0)

    def _commit(self, member: _MemoryConsumer, offsets: Mapping[TopicPartition, int]) -> None:
        foreign = [tp for tp in offsets if tp not in member._positions]
        if foreign:
            raise CommitFailed(f"partitions not assigned to this member: {foreign}")
        for (topic, partition), offset in offsets.items():
            self._committed[(member.group, topic, partition)] = offset


class _MemoryConsumer(InProcessMember):
    def __init__(self, bus: InMemoryBus, topics: tuple[str, ...], group: str) -> None:
        super().__init__(topics, group, bus._committed_offset)
        self._bus = bus

    async def start(self) -> None:
        if not self._started:
            self._started = True
            self._bus._join(self)

    async def stop(self) -> None:
        if self._started:
            self._started = False
            self._bus._leave(self)

    async def fetch(self, max_records: int, timeout: float) -> list[Record]:
        batch = self._take(max_records)
        if batch or timeout <= 0:
            return batch
        condition = self._bus._changed
        try:
            async with condition:
                await asyncio.wait_for(
                    condition.wait_for(lambda: self._available() > 0), timeout=timeout
                )
        except TimeoutError:
            return []
        return self._take(max_records)

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._bus._commit(self, offsets)

    def lag(self) -> dict[TopicPartition, int]:
        return {
            (topic, partition): len(self._bus._log(topic)[partition]) - position
            for (topic, partition), position in self._positions.items()
        }

    def _available(self) -> int:
        return sum(self.lag().values())

    def _take(self, max_records: int) -> list[Record]:
        taken: list[Record] = []
        for (topic, partition), position in sorted(self._positions.items()):
            log = self._bus._log(topic)[partition]
            chunk = log[position : position + max_records - len(taken)]
            if chunk:
                taken.extend(chunk)
                self._positions[(topic, partition)] = position + len(chunk)
            if len(taken) >= max_records:
                break
        return taken
