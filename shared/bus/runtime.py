"""Consumer runtime: fetch a batch, handle it, tell broken events from broken dependencies.

A batch is first handled as one unit (one database transaction in the processors
shared/db builds). When that fails, what happens depends on the failure's class
(shared/bus/failures.py):

- a dependency is down (database, broker): the same records are retried, without
  committing anything, with backoff and for as long as it takes; the partitions are
  paused meanwhile so the group keeps its members;
- an event is broken (invalid payload, a handler's typed rejection): the batch is
  handled one event at a time and the broken one goes straight to the dead-letter
  topic `<topic>.<group>.dlq`;
- anything else: each event is retried alone a few times; one that still fails while
  every dependency answers its health check is dead-lettered.

Offsets are committed only once every record of the batch is either handled or
dead-lettered. Dead letters carry the error type and a short message that quotes no
payload value; the traceback goes to the log.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from shared.bus.failures import Classifier, FailureClass, classify, describe
from shared.bus.port import Bus, BusConsumer, CommitFailed, Outgoing, Record, TopicPartition
from shared.events.envelope import Envelope, EnvelopeError
from shared.events.topics import dlq_topic
from shared.observability.metrics import (
    CONSUMER_LAG,
    CONSUMER_MESSAGES_TOTAL,
    CONSUMER_RETRIES_TOTAL,
    CONSUMER_WAITING,
    declare_consumer_series,
)

log = logging.getLogger(__name__)

# Headers a dead letter carries besides the original ones.
DLQ_ERROR_TYPE = "hearth_error_type"
DLQ_ERROR_MESSAGE = "hearth_error_message"
DLQ_ERROR_CLASS = "hearth_error_class"
DLQ_ATTEMPTS = "hearth_attempts"
DLQ_TOPIC = "hearth_original_topic"
DLQ_PARTITION = "hearth_original_partition"
DLQ_OFFSET = "hearth_original_offset"
DLQ_GROUP = "hearth_consumer_group"
DLQ_HEADERS = (
    DLQ_ERROR_TYPE,
    DLQ_ERROR_MESSAGE,
    DLQ_ERROR_CLASS,
    DLQ_ATTEMPTS,
    DLQ_TOPIC,
    DLQ_PARTITION,
    DLQ_OFFSET,
    DLQ_GROUP,
)


@dataclass(frozen=True)
class Delivery:
    """A decoded event with where it came from."""

    record: Record
    envelope: Envelope


@dataclass(frozen=True)
class Rejection:
    """A delivery the processor refused before its transaction (e.g. an invalid payload)."""

    delivery: Delivery
    error: BaseException


Processor = Callable[[Sequence[Delivery]], Awaitable[Sequence[Rejection] | None]]
"""Handles deliveries in one transaction; returns those it refused without handling."""

HealthCheck = Callable[[], Awaitable[None]]


@runtime_checkable
class Idling(Protocol):
    """A consumer that can keep its group membership while delivering nothing."""

    async def idle(self, seconds: float) -> None:
        """Stay in the group for `seconds` without delivering records."""


@dataclass(frozen=True)
class RetryPolicy:
    """How patiently failures are retried.

    `attempts` bounds retries of an unknown failure while every dependency is healthy;
    an outage is waited out without bound, between `outage_backoff_initial` and
    `outage_backoff_max` seconds apart.
    """

    attempts: int = 3
    backoff_initial: float = 0.05
    backoff_max: float = 2.0
    outage_backoff_initial: float = 0.2
    outage_backoff_max: float = 10.0
    stall_after: float = 120.0
    """Readiness fails when lag is pending and nothing was handled for this long."""


class ConsumerStalled(RuntimeError):
    """The consumer has records waiting and has not made progress for a while."""


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
        classifiers: Sequence[Classifier] = (),
        health_checks: Sequence[HealthCheck] = (),
    ) -> None:
        self.bus = bus
        self.topics = tuple(topics)
        self.group = group
        self.process = process
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.fetch_timeout = fetch_timeout
        self.classifiers = tuple(classifiers)
        self.health_checks = tuple(health_checks)
        self.started = asyncio.Event()
        self.waiting_since: float | None = None
        """Monotonic time since which the runtime waits for a dependency, else None."""
        self.last_progress = time.monotonic()
        self._lag = 0
        self._outage_logged = 0
        declare_consumer_series(group, self.topics)

    async def run(self) -> None:
        """Consume until cancelled; leave the group without committing on the way out."""
        consumer = self.bus.consumer(self.topics, self.group)
        await consumer.start()
        self.started.set()
        try:
            while True:
                await self.run_once(consumer)
        finally:
            # A member that left (crashed, restarting) is not ready until it joins again.
            self.started.clear()
            await consumer.stop()

    async def run_once(self, consumer: BusConsumer) -> int:
        """Fetch and handle one batch; return how many records it held."""
        records = await consumer.fetch(self.batch_size, self.fetch_timeout)
        self._report_lag(consumer)
        if not records:
            self.last_progress = time.monotonic()
            return 0
        deliveries = []
        for record in records:
            try:
                envelope = Envelope.from_kafka(record.key, record.value, record.headers)
            except EnvelopeError as exc:
                await self._dead_letter(consumer, record, exc, attempts=0, outcome="invalid")
                continue
            deliveries.append(Delivery(record, envelope))
        if deliveries:
            await self._handle(consumer, deliveries)
        await self._commit(consumer, records)
        self.last_progress = time.monotonic()
        return len(records)

    async def check(self) -> None:
        """Readiness: raise while waiting out an outage, or stalled with lag pending."""
        if not self.started.is_set():
            raise ConsumerStalled("not joined its group yet")
        if self.waiting_since is not None:
            waited = time.monotonic() - self.waiting_since
            raise ConsumerStalled(f"waiting for a dependency for {waited:.0f}s")
        idle = time.monotonic() - self.last_progress
        if self._lag > 0 and idle > self.retry.stall_after:
            raise ConsumerStalled(f"{self._lag} records pending, no progress for {idle:.0f}s")

    async def _handle(self, consumer: BusConsumer, deliveries: list[Delivery]) -> None:
        outage = 0
        while True:
            try:
                rejected = await self.process(deliveries)
            except Exception as exc:  # sorted by class below: nothing is swallowed
                kind = await self._class_of(exc)
                if kind is FailureClass.INFRASTRUCTURE:
                    outage += 1
                    await self._wait_out(consumer, exc, outage)
                    continue
                self._recovered()
                if len(deliveries) > 1:
                    log.warning(
                        "batch of %d failed (%s: %s), handling one by one",
                        len(deliveries),
                        type(exc).__name__,
                        describe(exc),
                    )
                for delivery in deliveries:
                    await self._handle_one(consumer, delivery)
                return
            self._recovered()
            await self._park_rejections(consumer, rejected or ())
            refused = {id(r.delivery) for r in rejected or ()}
            handled = [d for d in deliveries if id(d) not in refused]
            self._count(handled, "handled" if outage == 0 else "retried")
            return

    async def _handle_one(self, consumer: BusConsumer, delivery: Delivery) -> None:
        policy = self.retry
        failures = 0
        outage = 0
        while True:
            try:
                rejected = await self.process([delivery])
            except Exception as exc:  # sorted by class below
                kind = await self._class_of(exc)
                if kind is FailureClass.INFRASTRUCTURE:
                    outage += 1
                    await self._wait_out(consumer, exc, outage)
                    continue
                self._recovered()
                failures += 1
                if kind is FailureClass.POISON or failures >= policy.attempts:
                    await self._dead_letter(
                        consumer, delivery.record, exc, attempts=failures, outcome="dead_lettered"
                    )
                    return
                CONSUMER_RETRIES_TOTAL.labels(group=self.group, reason="event").inc()
                await asyncio.sleep(_backoff(failures, policy.backoff_initial, policy.backoff_max))
                continue
            self._recovered()
            await self._park_rejections(consumer, rejected or ())
            if not rejected:
                retried = failures > 0 or outage > 0
                self._count([delivery], "retried" if retried else "handled")
            return

    async def _class_of(self, error: BaseException) -> FailureClass:
        kind = classify(error, self.classifiers)
        if kind is not FailureClass.UNKNOWN:
            return kind
        # An unexplained error while a dependency is down is blamed on the dependency.
        for check in self.health_checks:
            try:
                await asyncio.wait_for(check(), timeout=5)
            except Exception:  # any failing check means "not healthy": wait it out
                return FailureClass.INFRASTRUCTURE
        return FailureClass.UNKNOWN

    async def _wait_out(self, consumer: BusConsumer, error: BaseException, attempt: int) -> None:
        """Back off while a dependency is down, keeping the group membership alive."""
        policy = self.retry
        if self.waiting_since is None:
            self.waiting_since = time.monotonic()
            CONSUMER_WAITING.labels(group=self.group).set(1)
        CONSUMER_RETRIES_TOTAL.labels(group=self.group, reason="infrastructure").inc()
        # First failure, then every 30th: an outage must not flood the log.
        if attempt == 1 or attempt % 30 == 0:
            log.warning(
                "consumer %s waiting for a dependency (attempt %d): %s: %s",
                self.group,
                attempt,
                type(error).__name__,
                describe(error),
            )
        delay = _backoff(attempt, policy.outage_backoff_initial, policy.outage_backoff_max)
        if isinstance(consumer, Idling):
            await consumer.idle(delay)
        else:
            await asyncio.sleep(delay)

    def _recovered(self) -> None:
        if self.waiting_since is not None:
            waited = time.monotonic() - self.waiting_since
            log.warning("consumer %s resumed after waiting %.1fs", self.group, waited)
            self.waiting_since = None
            CONSUMER_WAITING.labels(group=self.group).set(0)

    async def _park_rejections(self, consumer: BusConsumer, rejected: Sequence[Rejection]) -> None:
        for rejection in rejected:
            await self._dead_letter(
                consumer, rejection.delivery.record, rejection.error, attempts=1, outcome="invalid"
            )

    async def _dead_letter(
        self,
        consumer: BusConsumer,
        record: Record,
        error: BaseException,
        *,
        attempts: int,
        outcome: str,
    ) -> None:
        message = describe(error)
        kind = classify(error, self.classifiers)
        headers = (
            *(h for h in record.headers if h[0] not in DLQ_HEADERS),
            (DLQ_ERROR_TYPE, type(error).__name__.encode()),
            (DLQ_ERROR_MESSAGE, message.encode()),
            (DLQ_ERROR_CLASS, kind.value.encode()),
            (DLQ_ATTEMPTS, str(attempts).encode()),
            (DLQ_TOPIC, record.topic.encode()),
            (DLQ_PARTITION, str(record.partition).encode()),
            (DLQ_OFFSET, str(record.offset).encode()),
            (DLQ_GROUP, self.group.encode()),
        )
        target = dlq_topic(record.topic, self.group)
        parked = Outgoing(topic=target, value=record.value, key=record.key, headers=headers)
        outage = 0
        while True:
            try:
                await self.bus.publish_many([parked])
                break
            except Exception as exc:  # the broker is down: the dead letter waits for it
                if classify(exc, self.classifiers) is not FailureClass.INFRASTRUCTURE:
                    raise
                outage += 1
                await self._wait_out(consumer, exc, outage)
        self._recovered()
        # The traceback helps whoever fixes the handler; validation errors have none
        # worth reading, and their text would repeat the payload.
        log.error(
            "dead-lettered %s[%d]@%d to %s after %d attempt(s): %s: %s",
            record.topic,
            record.partition,
            record.offset,
            target,
            attempts,
            type(error).__name__,
            message,
            exc_info=error if kind is FailureClass.UNKNOWN else None,
        )
        CONSUMER_MESSAGES_TOTAL.labels(group=self.group, topic=record.topic, outcome=outcome).inc()

    async def _commit(self, consumer: BusConsumer, records: Sequence[Record]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            offsets[(record.topic, record.partition)] = record.offset + 1
        try:
            await consumer.commit(offsets)
        except CommitFailed as exc:
            # The partitions moved to another member, or the broker is away; the group
            # re-reads from the last commit and processors dedupe by event id.
            log.warning("offset commit refused, records will be redelivered: %s", exc)

    def _count(self, deliveries: Sequence[Delivery], outcome: str) -> None:
        per_topic = Counter(delivery.record.topic for delivery in deliveries)
        for topic, count in per_topic.items():
            CONSUMER_MESSAGES_TOTAL.labels(group=self.group, topic=topic, outcome=outcome).inc(
                count
            )

    def _report_lag(self, consumer: BusConsumer) -> None:
        total = 0
        for (topic, partition), lag in consumer.lag().items():
            CONSUMER_LAG.labels(group=self.group, topic=topic, partition=str(partition)).set(lag)
            total += lag
        self._lag = total


def _backoff(attempt: int, initial: float, cap: float) -> float:
    """Exponential backoff with full jitter on the upper half, so replicas spread out."""
    ceiling = min(cap, initial * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + random.random() * ceiling / 2


async def wait_started(runtimes: Sequence[ConsumerRuntime], timeout: float = 30) -> None:
    """Wait until every runtime has joined its group."""
    deadline = time.monotonic() + timeout
    for runtime in runtimes:
        await asyncio.wait_for(runtime.started.wait(), max(deadline - time.monotonic(), 0.01))
