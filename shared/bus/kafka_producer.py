"""An idempotent Kafka producer that survives a broker restart without a human.

aiokafka's idempotent producer never expires a batch and never resets its producer id.
After a broker restart a batch that failed leaves a gap in its partition's sequence
numbers, and every later write to that partition fails with OutOfOrderSequenceNumber
until the process restarts; while the broker is away its sender loop retries metadata
without pause. So here a publish that fails, or is not acknowledged within the delivery
bound, retires the producer: one background task closes it and builds a new one (a new
producer id), with backoff while no broker answers, and publishers wait for it within
their own bound instead of piling onto a broken producer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    ProducerClosed,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
)

from shared.bus.port import BusUnavailable, Outgoing

log = logging.getLogger(__name__)

# Errors about the message itself: another producer would fail the same way.
MESSAGE_ERRORS: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
)


class RecoveringProducer:
    """One producer at a time; replaced in the background when publishing through it fails."""

    def __init__(
        self,
        factory: Callable[[], AIOKafkaProducer],
        *,
        delivery_timeout: float,
        connect_timeout: float,
        close_timeout: float = 5.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 2.0,
    ) -> None:
        self._factory = factory
        self.delivery_timeout = delivery_timeout
        self._connect_timeout = connect_timeout
        self._close_timeout = close_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._producer: AIOKafkaProducer | None = None
        self._ready = asyncio.Event()
        self._rebuild: asyncio.Task[None] | None = None
        # Why publishing does not work right now; None while it does (or nothing was tried).
        self.failure: str | None = None
        self._next_delay = 0.0
        self._stopped = False

    @property
    def current(self) -> AIOKafkaProducer | None:
        """The producer publishes go through, None while it is being rebuilt."""
        return self._producer if self._ready.is_set() else None

    async def start(self) -> None:
        """Build the first producer; BusUnavailable when no broker answers."""
        self._stopped = False
        if self._producer is not None or self._rebuild is not None:
            return
        self._producer = await self._connect()
        self._ready.set()

    async def stop(self) -> None:
        """Give pending sends up to close_timeout to be acknowledged, then close."""
        self._stopped = True
        rebuild, self._rebuild = self._rebuild, None
        if rebuild is not None:
            rebuild.cancel()
            await asyncio.gather(rebuild, return_exceptions=True)
        producer, self._producer = self._producer, None
        self._ready.clear()
        if producer is not None:
            try:
                await asyncio.wait_for(producer.flush(), self._close_timeout)
            except TimeoutError:
                log.warning(
                    "Kafka did not acknowledge pending messages within %gs of stopping; "
                    "their publishers were told they failed",
                    self._close_timeout,
                )
            await self._discard(producer)

    async def send_all(self, messages: Sequence[Outgoing]) -> None:
        """Return when Kafka acknowledged every message; else BusUnavailable within the bound.

        The work runs in a task the caller stops waiting for at the bound, rather than
        being cancelled in place: aiokafka does not always give up promptly when
        cancelled (metadata waits), and a webhook must be answered in time all the same.
        """
        used: list[AIOKafkaProducer] = []
        work = asyncio.ensure_future(self._send(messages, used))
        try:
            done, _ = await asyncio.wait({work}, timeout=self.delivery_timeout)
        except asyncio.CancelledError:
            work.cancel()
            work.add_done_callback(_consume_exception)
            raise
        if not done:
            work.cancel()
            work.add_done_callback(_consume_exception)
            reason = f"not acknowledged within {self.delivery_timeout:g}s"
            self._retire(used[0] if used else self.current, reason)
            raise BusUnavailable(f"Kafka {reason}")
        work.result()
        self.failure = None
        self._next_delay = 0.0

    async def _send(self, messages: Sequence[Outgoing], used: list[AIOKafkaProducer]) -> None:
        producer: AIOKafkaProducer | None = None
        futures = []
        try:
            producer = await self._usable()
            used.append(producer)
            for message in messages:
                future = await producer.send(
                    message.topic,
                    value=message.value,
                    key=message.key,
                    headers=list(message.headers),
                )
                future.add_done_callback(_consume_exception)
                futures.append(future)
            # wait, not gather: giving up must not cancel what the producer still holds
            if futures:
                await asyncio.wait(futures)
        except KafkaError as exc:
            raise self._failed(producer, exc) from exc
        for future in futures:
            error = ProducerClosed() if future.cancelled() else future.exception()
            if error is not None:
                raise self._failed(producer, error) from error

    async def _usable(self) -> AIOKafkaProducer:
        """The current producer, waiting for a rebuild that is under way."""
        while True:
            if self._stopped:
                raise BusUnavailable("the bus is stopped")
            producer = self.current
            if producer is not None:
                if not _sender_dead(producer):
                    return producer
                self._retire(producer, "its sender task died")
            elif self._rebuild is None or self._rebuild.done():
                self._retire(None, "no producer yet")
            await self._ready.wait()

    def _failed(self, producer: AIOKafkaProducer | None, error: BaseException) -> BusUnavailable:
        name = type(error).__name__
        if not isinstance(error, MESSAGE_ERRORS) and producer is not None:
            self._retire(producer, name)
        return BusUnavailable(f"Kafka did not acknowledge the write: {name}: {error}")

    def _retire(self, producer: AIOKafkaProducer | None, reason: str) -> None:
        """Start replacing `producer`, once; later calls about the same one do nothing."""
        if self._stopped or (self._rebuild is not None and not self._rebuild.done()):
            return
        if producer is not None and producer is not self._producer:
            return  # already replaced
        self.failure = reason
        self._ready.clear()
        old, self._producer = self._producer, None
        if old is not None:
            log.warning("Kafka producer failed (%s); replacing it", reason)
        self._rebuild = asyncio.create_task(self._replace(old), name="kafka-producer-rebuild")

    async def _replace(self, old: AIOKafkaProducer | None) -> None:
        started = time.monotonic()
        if old is not None:
            await self._discard(old)
        attempts = 0
        while not self._stopped:
            # Backoff grows across rebuilds until a publish succeeds, so a broker that
            # keeps failing writes is not hammered with new producers.
            await asyncio.sleep(self._next_delay)
            self._next_delay = min(
                max(self._next_delay * 2, self._backoff_initial), self._backoff_max
            )
            attempts += 1
            try:
                producer = await self._connect()
            except BusUnavailable as exc:
                log.warning(
                    "Kafka producer rebuild attempt %d failed (%s); next in %.1fs",
                    attempts,
                    exc,
                    self._next_delay,
                )
                continue
            self._producer = producer
            self.failure = None
            self._ready.set()
            log.warning(
                "Kafka producer rebuilt after %.1fs (%d attempt(s))",
                time.monotonic() - started,
                attempts,
            )
            return

    async def _connect(self) -> AIOKafkaProducer:
        producer = self._factory()
        try:
            await asyncio.wait_for(producer.start(), self._connect_timeout)
        except (KafkaError, TimeoutError, OSError) as exc:
            await self._discard(producer)
            raise BusUnavailable(f"Kafka unreachable: {type(exc).__name__}: {exc}") from exc
        return producer

    async def _discard(self, producer: AIOKafkaProducer) -> None:
        """Close a producer whose broker may be gone, in bounded time, failing what it held."""
        sender = getattr(producer, "_sender", None)
        task = getattr(sender, "sender_task", None)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=self._close_timeout)
        _fail_undelivered(producer)
        try:
            await asyncio.wait_for(producer.stop(), self._close_timeout)
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning("Kafka producer did not close within %gs: %r", self._close_timeout, exc)


def _fail_undelivered(producer: AIOKafkaProducer) -> None:
    """Resolve the futures of undelivered batches, so closing does not wait for them.

    Reaches into aiokafka 0.14 (pinned): it has no public way to abandon a producer whose
    broker is gone; its own stop() waits for every batch forever.
    """
    accumulator = producer._message_accumulator
    batches = [batch for queue in accumulator._batches.values() for batch in queue]
    # A batch queued again after a failed attempt still has the callback that removes it
    # from the pending set when it completes; keep it there so failing it raises nothing.
    accumulator._pending_batches.update(batches)
    batches += list(accumulator._pending_batches)
    accumulator.fail_all(ProducerClosed())
    for batch in batches:
        # nobody waits on a batch's drain signal once its producer is retired
        waiter = batch._drain_waiter
        if waiter.done() and not waiter.cancelled():
            waiter.exception()


def _sender_dead(producer: AIOKafkaProducer) -> bool:
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    return task is not None and task.done()


def _consume_exception(future: asyncio.Future[Any]) -> None:
    # Futures of a retired producer fail when nobody awaits them any more.
    if not future.cancelled():
        future.exception()
