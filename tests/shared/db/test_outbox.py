"""The transactional outbox on both backends: nothing from a rollback, nothing lost on a crash."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from ulid import ULID

from shared.bus.kafka import KafkaBus
from shared.bus.memory import InMemoryBus
from shared.bus.port import Record
from shared.bus.runtime import Delivery
from shared.db.consuming import UnitOfWork, idempotent_processor
from shared.db.engine import Database
from shared.db.outbox import Outbox, OutboxRelay
from shared.db.tables import outbox_table, processed_table, service_metadata
from shared.events.envelope import Envelope
from tests.shared.bus.test_conformance import read_all
from tests.shared.conftest import Backend, create_all, drop_schema
from tests.shared.db.relay_process import BATCH

metadata = service_metadata()
OUTBOX = outbox_table(metadata)


class RelayDied(RuntimeError):
    pass


async def die() -> None:
    raise RelayDied("killed between publishing and marking")


def event(n: int) -> Envelope:
    return Envelope(source="/tests", type="test.outbox.emitted", partitionkey="k", data={"n": n})


async def test_rolled_back_transaction_emits_nothing(backend: Backend) -> None:
    await create_all(backend.db, metadata)
    topic = backend.unique("outbox")
    with pytest.raises(ZeroDivisionError):
        async with backend.db.transaction() as session:
            await Outbox(session, OUTBOX).add(topic, event(1))
            _ = 1 / 0
    relay = OutboxRelay(backend.db, backend.bus, OUTBOX, service="test")
    assert await relay.publish_pending() == 0
    assert await relay.pending() == 0
    if isinstance(backend.bus, InMemoryBus):
        assert backend.bus.records(topic) == []


async def test_committed_event_survives_relay_death_and_is_applied_once(backend: Backend) -> None:
    await create_all(backend.db, metadata)
    topic = backend.unique("outbox")
    await backend.bus.ensure_topics([topic])
    sent = [event(1), event(2)]
    async with backend.db.transaction() as session:
        await Outbox(session, OUTBOX).extend([(topic, e) for e in sent])

    dying = OutboxRelay(backend.db, backend.bus, OUTBOX, service="test", after_publish=die)
    with pytest.raises(RelayDied):
        await dying.publish_pending()
    assert await dying.pending() == 2, "unmarked rows stay pending after the crash"

    relay = OutboxRelay(backend.db, backend.bus, OUTBOX, service="test")
    assert await relay.publish_pending() == 2
    assert await relay.pending() == 0
    records = await read_all(backend, topic, expected=4)
    assert len(records) == 4, "published twice: once before the crash, once after"

    applied: list[int] = []

    async def apply(envelope: Envelope, _uow: UnitOfWork) -> None:
        applied.append(envelope.data["n"])

    process = idempotent_processor(
        backend.db,
        group="consumer",
        handlers={"test.outbox.emitted": apply},
        processed=processed_table(metadata),
        outbox=OUTBOX,
    )
    for record in records:  # one delivery at a time, as separate batches would arrive
        await process([Delivery(record, _decode(record))])
    assert sorted(applied) == [1, 2]
    async with backend.db.sessions() as session:
        processed = (
            await session.execute(select(func.count()).select_from(processed_table(metadata)))
        ).scalar_one()
    assert processed == 2


def _decode(record: Record) -> Envelope:
    return Envelope.from_kafka(record.key, record.value, record.headers)


# several replicas ---------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[3]
MEMBERS, PER_MEMBER = 20, 100


class Replica:
    """A relay in its own process (tests/shared/db/relay_process.py)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, url: str, schema: str, bootstrap: str, *extra: str) -> Replica:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.shared.db.relay_process",
            url,
            schema,
            bootstrap,
            *extra,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        replica = cls(process)
        await replica.said("running")
        return replica

    async def said(self, line: str) -> None:
        assert self.process.stdout is not None
        heard = await asyncio.wait_for(self.process.stdout.readline(), timeout=60)
        assert heard.decode().strip() == line

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


def member_events() -> list[Envelope]:
    """Each member's events numbered 0..PER_MEMBER-1, members interleaved at random."""
    order = [member for member in range(MEMBERS) for _ in range(PER_MEMBER)]
    random.Random(6).shuffle(order)
    next_seq = dict.fromkeys(range(MEMBERS), 0)
    events = []
    for member in order:
        events.append(
            Envelope(
                source="/tests",
                type="test.outbox.ordered",
                partitionkey=f"member-{member}",
                data={"member": member, "seq": next_seq[member]},
            )
        )
        next_seq[member] += 1
    return events


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.mark.integration
async def test_two_relays_keep_each_members_order_when_the_leader_is_killed_midway(
    postgres_url: str, kafka_bootstrap: str
) -> None:
    schema = f"relay_{str(ULID()).lower()}"
    db = Database(postgres_url, schema=schema, pool_size=3)
    bus = KafkaBus(kafka_bootstrap, client_id="hearth-test")
    await bus.start()
    replicas: list[Replica] = []
    try:
        await create_all(db, metadata)
        topic = f"relay-order-{str(ULID()).lower()}"
        await bus.ensure_topics([topic])
        sent = member_events()
        for start in range(0, len(sent), 100):  # many transactions, as requests commit them
            async with db.transaction() as session:
                await Outbox(session, OUTBOX).extend(
                    [(topic, e) for e in sent[start : start + 100]]
                )
        counter = OutboxRelay(db, bus, OUTBOX, service="test")

        halfway = len(sent) // BATCH // 2
        first = await Replica.start(
            postgres_url, schema, kafka_bootstrap, "--pause-at", "1", "--pause-at", str(halfway)
        )
        replicas.append(first)
        await first.said("paused")  # published its first batch, not yet marked
        async with db.transaction() as session:  # waiting for Kafka holds no row lock
            locked = (
                select(OUTBOX.c.id).order_by(OUTBOX.c.id).limit(10).with_for_update(nowait=True)
            )
            assert len((await session.execute(locked)).all()) == 10
        second = await Replica.start(postgres_url, schema, kafka_bootstrap)
        replicas.append(second)
        first.process.send_signal(signal.SIGUSR1)
        await first.said("paused")  # half published, the last batch not yet marked
        await first.kill()  # SIGKILL: no goodbye, its lock goes with its connection
        left_when_killed = await counter.pending()
        assert left_when_killed == len(sent) - (halfway - 1) * BATCH

        async def all_published() -> bool:
            return await counter.pending() == 0

        await eventually(all_published)
        await second.kill()

        records = await read_topic(bus, topic, {e.id for e in sent})
        first_copies: dict[str, Envelope] = {}
        for record in records:
            envelope = _decode(record)
            first_copies.setdefault(envelope.id, envelope)
        assert set(first_copies) == {e.id for e in sent}, "every event was published"
        by_member: dict[int, list[int]] = {member: [] for member in range(MEMBERS)}
        for envelope in first_copies.values():
            by_member[envelope.data["member"]].append(envelope.data["seq"])
        assert by_member == {member: list(range(PER_MEMBER)) for member in range(MEMBERS)}
        duplicates = len(records) - len(first_copies)
        assert duplicates == BATCH, "the batch published but not marked went out again"
    finally:
        for replica in replicas:
            await replica.kill()
        await bus.stop()
        await drop_schema(db)
        await db.dispose()


async def read_topic(bus: KafkaBus, topic: str, wanted: set[str]) -> list[Record]:
    """Every record of `topic`, in partition order, once all `wanted` ids were seen."""
    consumer = bus.consumer([topic], f"reader-{str(ULID()).lower()}")
    await consumer.start()
    records: list[Record] = []
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + 60
        while not wanted <= seen and time.monotonic() < deadline:
            batch = await consumer.fetch(1000, 0.5)
            records.extend(batch)
            seen.update(_decode(record).id for record in batch)
        records.extend(await consumer.fetch(1000, 1.0))  # late duplicates, if any
    finally:
        await consumer.stop()
    return records
