"""Produce→consume throughput and latency: our Kafka adapter beside raw aiokafka, one run.

Both sides move the same CloudEvent-encoded payloads through a real broker with the
same guarantees (acks=all, idempotence, manual commits, earliest offset); ours adds
envelope decoding, the consumer runtime and its metrics. The ratio is the figure we
track. Needs KAFKA_BOOTSTRAP_SERVERS (`make bench` starts a broker).

    python bench/bus.py [--events 20000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from ulid import ULID

from shared.bus.kafka import KafkaBus
from shared.bus.port import Outgoing
from shared.bus.runtime import ConsumerRuntime, Delivery
from shared.events.envelope import Envelope


@dataclass
class Result:
    """What one side measured."""

    name: str
    events: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)]

    def line(self) -> str:
        return (
            f"{self.name:<18} {self.rate:>10,.0f} events/s   p50 {self.percentile(0.5):7.1f} ms"
            f"   p99 {self.percentile(0.99):7.1f} ms   ({self.events} events, {self.seconds:.2f}s)"
        )


def payloads(count: int) -> list[Outgoing]:
    """CloudEvents shaped like community messages, spread over 200 member keys."""
    messages = []
    for n in range(count):
        envelope = Envelope(
            source="/bench",
            type="community.message.created",
            partitionkey=f"c1:m{n % 200}",
            data={"n": n, "text": "hello community " * 4, "sent_ns": 0},
        )
        key, value, headers = envelope.to_kafka()
        messages.append(Outgoing("", value, key, tuple(headers)))
    return messages


def stamp(value: bytes) -> bytes:
    """Rewrite the send time into the body just before sending."""
    return value.replace(b'"sent_ns":0', b'"sent_ns":%d' % time.time_ns(), 1)


def latency_ms(value: bytes) -> float:
    sent = int(value.split(b'"sent_ns":', 1)[1].split(b"}", 1)[0])
    return (time.time_ns() - sent) / 1e6


async def run_ours(bootstrap: str, messages: Sequence[Outgoing], batch: int) -> Result:
    topic, group = f"bench-ours-{ULID()}".lower(), f"bench-{ULID()}".lower()
    bus = KafkaBus(bootstrap, client_id="bench-ours")
    await bus.start()
    await bus.ensure_topics([topic])
    latencies: list[float] = []
    done = asyncio.Event()

    async def process(deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            latencies.append(latency_ms(delivery.record.value))
        if len(latencies) >= len(messages):
            done.set()

    runtime = ConsumerRuntime(bus, [topic], group, process, batch_size=batch, fetch_timeout=0.1)
    consuming = asyncio.create_task(runtime.run())
    await runtime.started.wait()
    await asyncio.sleep(1)  # let the group settle so the clock measures the pipeline
    started = time.perf_counter()
    for start in range(0, len(messages), batch):
        chunk = messages[start : start + batch]
        await bus.publish_many([Outgoing(topic, stamp(m.value), m.key, m.headers) for m in chunk])
    await done.wait()
    elapsed = time.perf_counter() - started
    consuming.cancel()
    await asyncio.gather(consuming, return_exceptions=True)
    await bus.stop()
    return Result("hearth KafkaBus", len(messages), elapsed, latencies)


async def run_raw(bootstrap: str, messages: Sequence[Outgoing], batch: int) -> Result:
    topic, group = f"bench-raw-{ULID()}".lower(), f"bench-{ULID()}".lower()
    setup = KafkaBus(bootstrap, client_id="bench-setup")
    await setup.ensure_topics([topic])
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await producer.start()
    await consumer.start()
    latencies: list[float] = []

    async def consume() -> None:
        while len(latencies) < len(messages):
            fetched = await consumer.getmany(timeout_ms=100, max_records=batch)
            for records in fetched.values():
                latencies.extend(latency_ms(record.value) for record in records)
            if fetched:
                await consumer.commit()

    consuming = asyncio.create_task(consume())
    await asyncio.sleep(1)
    started = time.perf_counter()
    for start in range(0, len(messages), batch):
        chunk = messages[start : start + batch]
        futures = [
            await producer.send(topic, stamp(m.value), key=m.key, headers=list(m.headers))
            for m in chunk
        ]
        await asyncio.gather(*futures)
    await consuming
    elapsed = time.perf_counter() - started
    await consumer.stop()
    await producer.stop()
    return Result("raw aiokafka", len(messages), elapsed, latencies)


def median_result(results: Sequence[Result]) -> Result:
    """The run with the median throughput, so one noisy run does not decide the figure."""
    ordered = sorted(results, key=lambda r: r.rate)
    return ordered[len(ordered) // 2]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs per side")
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        raise SystemExit("set KAFKA_BOOTSTRAP_SERVERS or run `make bench`")
    messages = payloads(args.events)
    raws, ours = [], []
    for _ in range(args.repeat):
        raws.append(await run_raw(bootstrap, messages, args.batch))
        ours.append(await run_ours(bootstrap, messages, args.batch))
    raw, mine = median_result(raws), median_result(ours)
    print(
        f"produce→consume through Kafka at {bootstrap}, batches of {args.batch}, "
        f"median of {args.repeat} alternating runs"
    )
    print(raw.line())
    print(mine.line())
    print(
        f"ratio hearth/raw: throughput {mine.rate / raw.rate:.2f}x, "
        f"p50 latency {mine.percentile(0.5) / raw.percentile(0.5):.2f}x, "
        f"p99 latency {mine.percentile(0.99) / raw.percentile(0.99):.2f}x"
    )


if __name__ == "__main__":
    asyncio.run(main())
