"""Consumer runtime: fetch a batch, handle it, dead-letter poison, commit after handling.

A batch is first handled as one unit (one database transaction in the processors
shared/db builds). When that fails, each event is retried alone with backoff so one
poison event cannot hold the stream back; after the last attempt it goes to the
dead-letter topic `<topic>.<group>.dlq` with headers saying why. Offsets are
committed only once every record of the batch is either handled or dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

from shared.bus.port import Bus, BusConsumer, CommitFailed, Outgoing, Record, TopicPartition
from shared.events.envelope import Envelope, EnvelopeError
from shared.events.topics import dlq_topic
from shared.observability.metrics import CONSUMER_LAG, CONSUMER_MESSAGES_TOTAL

log = logging.getLogger(__name__)

# Headers a dead letter carries besides the original ones.
DLQ_ERROR_TYPE = "hearth_error_type"
DLQ_ERROR_MESSAGE = "hearth_error_message"
DLQ_ATTEMPTS = "hearth_attempts"
DLQ_TOPIC = "hearth_original_topic"
DLQ_PARTITION = "hearth_original_partition"
DLQ_OFFSET = "hearth_original_offset"
DLQ_GROUP = "hearth_consumer_group"


@dataclass(frozen=True)
class Delivery:
    """A decoded event with where it came from."""

    record: Record
    envelope: Envelope


Processor = Callable[[Sequence[Delivery]], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one failing event is retried before dead-lettering."""

    attempts: int = 3
    backoff_initial: float = 0.05
    backoff_max: float = 2.0


class ConsumerRuntime:
    """Runs one consumer-group member until cancelled."""

    def __init__(
        self,
        bus: Bus,
        topics: Sequence[str],
        group: str,
        process: Processor,
        *,
        retry: RetryPolicy | None = None,
        batch_size: int = 500,
        fetch_timeout: float = 0.5,
    ) -> None:
        self.bus = bus
        self.topics = tuple(topics)
        self.group = group
        self.process = process
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.fetch_timeout = fetch_timeout
        self.started = asyncio.Event()

    async def run(self) -> None:
        """Consume until cancelled; leave the group without committing on the way out."""
        consumer = self.bus.consumer(self.topics, self.group)
        await consumer.start()
        self.started.set()
        try:
            while True:
                await self.run_once(consumer)
        finally:
            await consumer.stop()

    async def run_once(self, consumer: BusConsumer) -> int:
        """Fetch and handle one batch; return how many records it held."""
        records = await consumer.fetch(self.batch_size, self.fetch_timeout)
        self._report_lag(consumer)
        if not records:
            return 0
        deliveries = []
        for record in records:
            try:
                envelope = Envelope.from_kafka(record.key, record.value, record.headers)
            except EnvelopeError as exc:
                await self._dead_letter(record, exc, attempts=0, outcome="invalid")
                continue
            deliveries.append(Delivery(record, envelope))
        if deliveries:
            await self._handle(deliveries)
        await self._commit(consumer, records)
        return len(records)

    async def _handle(self, deliveries: list[Delivery]) -> None:
        try:
            await self.process(deliveries)
        except Exception as exc:  # one bad event must not stop the stream: isolate it below
            if len(deliveries) == 1:
                log.warning("event failed, retrying: %s", exc)
            else:
                log.warning("batch of %d failed, handling one by one: %s", len(deliveries), exc)
            for delivery in deliveries:
                await self._handle_one(delivery)
            return
        self._count(deliveries, "handled")

    async def _handle_one(self, delivery: Delivery) -> None:
        policy = self.retry
        attempt = 0
        try:
            async for attempt_state in AsyncRetrying(
                stop=stop_after_attempt(policy.attempts),
                wait=wait_exponential(multiplier=policy.backoff_initial, max=policy.backoff_max),
                reraise=True,
            ):
                with attempt_state:
                    attempt = attempt_state.retry_state.attempt_number
                    await self.process([delivery])
        except Exception as exc:  # retries exhausted: park it with the reason
            await self._dead_letter(delivery.record, exc, attempts=attempt, outcome="dead_lettered")
            return
        self._count([delivery], "handled" if attempt == 1 else "retried")

    async def _dead_letter(
        self, record: Record, error: BaseException, *, attempts: int, outcome: str
    ) -> None:
        headers = (
            *record.headers,
            (DLQ_ERROR_TYPE, type(error).__name__.encode()),
            (DLQ_ERROR_MESSAGE, str(error)[:1000].encode()),
            (DLQ_ATTEMPTS, str(attempts).encode()),
            (DLQ_TOPIC, record.topic.encode()),
            (DLQ_PARTITION, str(record.partition).encode()),
            (DLQ_OFFSET, str(record.offset).encode()),
            (DLQ_GROUP, self.group.encode()),
        )
        target = dlq_topic(record.topic, self.group)
        await self.bus.publish_many(
            [Outgoing(topic=target, value=record.value, key=record.key, headers=headers)]
        )
        log.error(
            "dead-lettered %s[%d]@%d to %s after %d attempts: %s: %s",
            record.topic,
            record.partition,
            record.offset,
            target,
            attempts,
            type(error).__name__,
            error,
        )
        CONSUMER_MESSAGES_TOTAL.labels(group=self.group, topic=record.topic, outcome=outcome).inc()

    async def _commit(self, consumer: BusConsumer, records: Sequence[Record]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            offsets[(record.topic, record.partition)] = record.offset + 1
        try:
            await consumer.commit(offsets)
        except CommitFailed as exc:
            # The partitions moved to another member, which re-reads from the last commit;
            # processors are idempotent by event id, so the redelivery changes nothing.
            log.warning("offset commit refused, records will be redelivered: %s", exc)

    def _count(self, deliveries: Sequence[Delivery], outcome: str) -> None:
        per_topic = Counter(delivery.record.topic for delivery in deliveries)
        for topic, count in per_topic.items():
            CONSUMER_MESSAGES_TOTAL.labels(group=self.group, topic=topic, outcome=outcome).inc(
                count
            )

    def _report_lag(self, consumer: BusConsumer) -> None:
        for (topic, partition), lag in consumer.lag().items():
            CONSUMER_LAG.labels(group=self.group, topic=topic, partition=str(partition)).set(lag)


async def wait_started(runtimes: Sequence[ConsumerRuntime], timeout: float = 30) -> None:
    """Wait until every runtime has joined its group."""
    deadline = time.monotonic() + timeout
    for runtime in runtimes:
        await asyncio.wait_for(runtime.started.wait(), max(deadline - time.monotonic(), 0.01))
