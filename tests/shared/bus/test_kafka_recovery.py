"""A broker restart under a steady stream of publishes is survived without a human.

Runs its own single-node Kafka (tests/stack.py) so stopping it disturbs nobody else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ulid import ULID

from shared.bus.kafka import KafkaBus
from shared.bus.port import BusUnavailable, Outgoing
from shared.observability.logging import RateLimitFilter
from tests.stack import Broker, own_broker

PUBLISHERS = 3
OUTAGE_SECONDS = 10


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with own_broker(tmp_path / "stack") as own:
        yield own


class CountingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += 1


@dataclass
class Stream:
    """Publishers that keep publishing, recording what Kafka acknowledged."""

    bus: KafkaBus
    topic: str
    acknowledged: list[bytes] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)  # seconds each failed publish took
    running: bool = True

    async def publish(self, publisher: int) -> None:
        sequence = 0
        while self.running:
            value = f"{publisher}-{sequence}".encode()
            started = time.monotonic()
            try:
                await self.bus.publish_many(
                    [Outgoing(self.topic, value, key=f"key-{sequence % 7}".encode())]
                )
            except BusUnavailable:
                self.failures.append(time.monotonic() - started)
                await asyncio.sleep(0.1)
            else:
                self.acknowledged.append(value)
            sequence += 1
            await asyncio.sleep(0.01)

    async def wait_for(self, more: int, *, timeout: float) -> None:
        target = len(self.acknowledged) + more
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < target:
            assert time.monotonic() < deadline, (
                f"only {len(self.acknowledged)} of {target} publishes acknowledged "
                f"within {timeout:g}s; {len(self.failures)} failed"
            )
            await asyncio.sleep(0.1)


async def read_all(bus: KafkaBus, topic: str, expected: set[bytes]) -> set[bytes]:
    consumer = bus.consumer([topic], f"reader-{ULID()}".lower())
    await consumer.start()
    seen: set[bytes] = set()
    deadline = time.monotonic() + 60
    try:
        while not expected <= seen and time.monotonic() < deadline:
            seen.update(record.value for record in await consumer.fetch(5000, 0.5))
    finally:
        await consumer.stop()
    return seen


async def ping_ok(bus: KafkaBus) -> bool:
    try:
        await bus.ping()
    except BusUnavailable:
        return False
    return True


@pytest.mark.integration
async def test_publishing_recovers_by_itself_after_the_broker_restarts(broker: Broker) -> None:
    bus = KafkaBus(broker.bootstrap, client_id=f"recovery-{ULID()}".lower())
    topic = f"recovery-{ULID()}".lower()
    aiokafka = logging.getLogger("aiokafka")
    raw, kept = CountingHandler(), CountingHandler()
    kept.addFilter(RateLimitFilter())
    saved_level = aiokafka.level
    aiokafka.setLevel(logging.INFO)
    aiokafka.addHandler(raw)
    aiokafka.addHandler(kept)
    await bus.start()
    stream = Stream(bus, topic)
    publishers: list[asyncio.Task[None]] = []
    try:
        await bus.ensure_topics([topic])
        publishers = [asyncio.create_task(stream.publish(n)) for n in range(PUBLISHERS)]
        await stream.wait_for(50, timeout=30)
        assert await ping_ok(bus)

        raw.lines = kept.lines = 0
        await asyncio.to_thread(broker.stop)
        failed_before = len(stream.failures)
        ping_failed = False
        down_until = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < down_until:
            ping_failed = ping_failed or not await ping_ok(bus)
            await asyncio.sleep(0.5)
        during = stream.failures[failed_before:]
        print(
            f"outage {OUTAGE_SECONDS}s: {len(during)} publishes failed, slowest "
            f"{max(during, default=0):.2f}s (bound {bus.delivery_timeout:g}s); aiokafka wrote "
            f"{raw.lines} lines, {kept.lines} after the rate limit"
        )
        assert ping_failed, "ping must fail while the broker is down"
        assert during, "publishes must fail while the broker is down"
        assert max(during) < bus.delivery_timeout + 2.0, "a failed publish answers in bound"
        assert kept.lines < 100, "the log must not storm"

        restarted = time.monotonic()
        await asyncio.to_thread(broker.start)
        await stream.wait_for(100, timeout=120)
        print(f"publishing again {time.monotonic() - restarted:.1f}s after `stack start`")
        deadline = time.monotonic() + 30
        while not await ping_ok(bus):
            assert time.monotonic() < deadline, "ping must succeed again after recovery"
            await asyncio.sleep(0.5)
    finally:
        stream.running = False
        await asyncio.gather(*publishers, return_exceptions=True)
        aiokafka.removeHandler(raw)
        aiokafka.removeHandler(kept)
        aiokafka.setLevel(saved_level)

    try:
        acknowledged = set(stream.acknowledged)
        seen = await read_all(bus, topic, acknowledged)
        lost = acknowledged - seen
        print(f"{len(acknowledged)} acknowledged, {len(seen)} read back, {len(lost)} lost")
        assert not lost, f"{len(lost)} acknowledged messages were lost, e.g. {sorted(lost)[:3]}"
    finally:
        await bus.stop()
