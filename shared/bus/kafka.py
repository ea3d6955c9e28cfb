"""Kafka adapter (aiokafka) with the settings our guarantees need.

aiokafka's defaults (acks=1, auto-commit, auto_offset_reset=latest) can lose or skip
events; here the producer waits for every in-sync replica with idempotence on, and the
consumer never commits on its own and starts a new group at the earliest offset. A publish
answers within `delivery_timeout_ms` (BusUnavailable when Kafka did not acknowledge), and
the producer is rebuilt by itself after a broker restart (shared/bus/kafka_producer.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    TopicAlreadyExistsError,
)
from aiokafka.structs import TopicPartition as KafkaTopicPartition

from shared.bus.kafka_producer import RecoveringProducer
from shared.bus.port import (
    BusConsumer,
    BusUnavailable,
    CommitFailed,
    Outgoing,
    Record,
    TopicPartition,
)
from shared.observability.metrics import BUS_PUBLISHED_TOTAL

log = logging.getLogger(__name__)

# Slack gives a webhook 3 s; a publish that waits longer has failed its caller anyway.
DEFAULT_DELIVERY_TIMEOUT_MS = 2_500


class KafkaBus:
    """Bus on Apache Kafka; one idempotent producer shared by the process."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "hearth",
        partitions: int = 3,
        replication_factor: int = 1,
        linger_ms: int = 5,
        request_timeout_ms: int = 15_000,
        session_timeout_ms: int = 10_000,
        delivery_timeout_ms: int = DEFAULT_DELIVERY_TIMEOUT_MS,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self.partitions = partitions
        self.replication_factor = replication_factor
        self._linger_ms = linger_ms
        self._request_timeout_ms = request_timeout_ms
        self._session_timeout_ms = session_timeout_ms
        self._producer = RecoveringProducer(
            self._new_producer,
            delivery_timeout=delivery_timeout_ms / 1000,
            connect_timeout=request_timeout_ms / 1000,
        )

    @property
    def delivery_timeout(self) -> float:
        """Seconds a publish waits for Kafka's acknowledgement before BusUnavailable."""
        return self._producer.delivery_timeout

    async def start(self) -> None:
        """Start the producer; BusUnavailable when no broker answers."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush pending sends (bounded) and close."""
        await self._producer.stop()

    async def publish_many(self, messages: Sequence[Outgoing]) -> None:
        """Send all, then wait for every acknowledgement (acks=all), within the delivery bound."""
        await self._producer.send_all(messages)
        for topic, count in Counter(message.topic for message in messages).items():
            BUS_PUBLISHED_TOTAL.labels(topic=topic).inc(count)

    def consumer(self, topics: Sequence[str], group: str) -> BusConsumer:
        """A new member of `group`: manual commits, earliest offset for a new group."""
        return _KafkaConsumer(self, tuple(topics), group)

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create missing topics with this bus's partition count."""
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, client_id=f"{self.client_id}-admin"
        )
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [topic for topic in topics if topic not in existing]
            if missing:
                new = [
                    NewTopic(topic, self.partitions, self.replication_factor) for topic in missing
                ]
                try:
                    await admin.create_topics(new)
                except TopicAlreadyExistsError:
                    log.debug("topics created concurrently: %s", missing)
        except KafkaError as exc:
            raise BusUnavailable(f"could not create topics {list(topics)}: {exc}") from exc
        finally:
            await admin.close()

    async def ping(self) -> None:
        """BusUnavailable while publishing fails or the producer is being rebuilt; else a
        real metadata request, which must list a broker."""
        if self._producer.failure is not None:
            raise BusUnavailable(f"publishing to Kafka fails: {self._producer.failure}")
        producer = self._producer.current
        if producer is None:
            raise BusUnavailable("the Kafka producer is not connected")
        try:
            ok = await asyncio.wait_for(producer.client.force_metadata_update(), timeout=3)
        except (KafkaError, TimeoutError) as exc:
            raise BusUnavailable(f"Kafka metadata request failed: {exc}") from exc
        if not ok or not producer.client.cluster.brokers():
            raise BusUnavailable("Kafka metadata request returned no brokers")

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self._linger_ms,
            request_timeout_ms=self._request_timeout_ms,
        )

    def _new_consumer(self, topics: tuple[str, ...], group: str) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *topics,
            bootstrap_servers=self.bootstrap_servers,
            client_id=f"{self.client_id}-{group}",
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(self._session_timeout_ms // 3, 500),
            metadata_max_age_ms=30_000,
            request_timeout_ms=max(self._request_timeout_ms, self._session_timeout_ms + 5_000),
        )


class _KafkaConsumer:
    def __init__(self, bus: KafkaBus, topics: tuple[str, ...], group: str) -> None:
        self._bus = bus
        self._topics = topics
        self._group = group
        self._consumer: AIOKafkaConsumer | None = None
        self._fetched: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        if self._consumer is not None:
            return
        consumer = self._bus._new_consumer(self._topics, self._group)
        try:
            await consumer.start()
        except KafkaError as exc:
            await consumer.stop()
            raise BusUnavailable(f"consumer group {self._group} could not start: {exc}") from exc
        self._consumer = consumer

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def fetch(self, max_records: int, timeout: float) -> list[Record]:
        consumer = self._require()
        batches = await consumer.getmany(timeout_ms=int(timeout * 1000), max_records=max_records)
        records: list[Record] = []
        for tp, messages in batches.items():
            for message in messages:
                records.append(
                    Record(
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=message.offset,
                        key=message.key,
                        value=message.value or b"",
                        headers=tuple(message.headers or ()),
                        timestamp_ms=message.timestamp,
                    )
                )
            if messages:
                self._fetched[(tp.topic, tp.partition)] = messages[-1].offset + 1
        return records

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        consumer = self._require()
        try:
            await consumer.commit(
                {
                    KafkaTopicPartition(topic, part): offset
                    for (topic, part), offset in offsets.items()
                }
            )
        except (CommitFailedError, IllegalStateError) as exc:
            raise CommitFailed(str(exc)) from exc
        except KafkaError as exc:
            raise CommitFailed(f"commit failed: {exc}") from exc

    async def idle(self, seconds: float) -> None:
        """Keep the group membership (poll timer, heartbeats) while delivering nothing.

        The runtime calls this while it waits out an outage with a batch in hand: the
        partitions are paused, and a partition assigned meanwhile is rewound to where
        it was, so nothing is skipped.
        """
        consumer = self._require()
        consumer.pause(*consumer.assignment())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:
            while (remaining := deadline - loop.time()) > 0:
                batches = await consumer.getmany(
                    timeout_ms=max(int(min(remaining, 1.0) * 1000), 1), max_records=1
                )
                for tp, messages in batches.items():
                    if messages:
                        consumer.seek(tp, messages[0].offset)
                    consumer.pause(tp)
        finally:
            paused = consumer.paused()
            if paused:
                consumer.resume(*paused)

    def lag(self) -> dict[TopicPartition, int]:
        if self._consumer is None:
            return {}
        lags: dict[TopicPartition, int] = {}
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            position = self._fetched.get((tp.topic, tp.partition), 0)
            lags[(tp.topic, tp.partition)] = max(highwater - position, 0)
        return lags

    def _require(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("consumer not started")
        return self._consumer
