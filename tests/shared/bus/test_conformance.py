"""One conformance suite for both bus adapters: Kafka (real broker) and in-memory.

Effects are rows in a table written in the handler's transaction, so "exactly once"
is checked where a user would see it: in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import pytest
from sqlalchemy import Column, Integer, String, Table, func, select

from shared.bus.port import Outgoing, Record, publish
from shared.bus.runtime import (
    DLQ_ATTEMPTS,
    DLQ_ERROR_MESSAGE,
    DLQ_ERROR_TYPE,
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_TOPIC,
    ConsumerRuntime,
    Delivery,
    RetryPolicy,
)
from shared.db.consuming import UnitOfWork, idempotent_processor
from shared.db.tables import Id, outbox_table, processed_table, service_metadata
from shared.events.envelope import Envelope, header_map
from tests.shared.conftest import Backend, create_all

metadata = service_metadata()
effects = Table(
    "effects",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("key", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
)


def make_event(key: str, seq: int) -> Envelope:
    return Envelope(
        source="/tests", type="test.thing.happened", partitionkey=key, data={"key": key, "seq": seq}
    )


async def record_effect(envelope: Envelope, uow: UnitOfWork) -> None:
    if envelope.data.get("poison"):
        raise ValueError(f"cannot digest {envelope.id}")
    await uow.session.execute(
        effects.insert().values(
            event_id=envelope.id, key=envelope.data["key"], seq=envelope.data["seq"]
        )
    )


HANDLERS = {"test.thing.happened": record_effect}


def processor(backend: Backend, group: str):
    return idempotent_processor(
        backend.db,
        group=group,
        handlers=HANDLERS,
        processed=processed_table(metadata),
        outbox=outbox_table(metadata),
    )


async def publish_events(backend: Backend, topic: str, events: Sequence[Envelope]) -> None:
    messages = []
    for envelope in events:
        key, value, headers = envelope.to_kafka()
        messages.append(Outgoing(topic, value, key, tuple(headers)))
    for start in range(0, len(messages), 1000):
        await backend.bus.publish_many(messages[start : start + 1000])


async def count(backend: Backend, table: Table) -> int:
    async with backend.db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def wait_for(predicate, timeout: float = 120, interval: float = 0.1) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)


async def read_all(
    backend: Backend, topic: str, expected: int, timeout: float = 60
) -> list[Record]:
    consumer = backend.bus.consumer([topic], backend.unique("reader"))
    await consumer.start()
    records: list[Record] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            records.extend(await consumer.fetch(500, 0.5))
    finally:
        await consumer.stop()
    return records


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_envelope_round_trip_keeps_attributes_and_payload(backend: Backend) -> None:
    topic = backend.unique("roundtrip")
    await backend.bus.ensure_topics([topic])
    sent = Envelope(
        source="/tests",
        type="test.thing.happened",
        subject="channel-1",
        tenantid="acme",
        partitionkey="c1:m1",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        data={"text": "привет, мир", "n": 1},
    )
    await publish(backend.bus, topic, sent)
    [record] = await read_all(backend, topic, expected=1)
    assert record.key == b"c1:m1"
    assert header_map(record.headers)["ce_type"] == "test.thing.happened"
    assert Envelope.from_kafka(record.key, record.value, record.headers) == sent


async def test_group_members_share_partitions_and_keep_order_per_key(backend: Backend) -> None:
    await create_all(backend.db, metadata)
    topic, group = backend.unique("order"), backend.unique("group")
    await backend.bus.ensure_topics([topic])
    events = [make_event(f"k{seq % 13}", seq) for seq in range(600)]
    await publish_events(backend, topic, events)
    members = [
        ConsumerRuntime(backend.bus, [topic], group, processor(backend, group)) for _ in "ab"
    ]
    tasks = [asyncio.create_task(member.run()) for member in members]
    try:
        await wait_for(lambda: _reached(backend, 600))
    finally:
        for task in tasks:
            await stop(task)
    await assert_exactly_once_in_order(backend, events)


async def _reached(backend: Backend, total: int) -> bool:
    return await count(backend, effects) >= total


async def assert_exactly_once_in_order(backend: Backend, events: Sequence[Envelope]) -> None:
    async with backend.db.sessions() as session:
        rows = (await session.execute(select(effects).order_by(effects.c.id))).mappings().all()
        processed = (
            await session.execute(select(func.count()).select_from(processed_table(metadata)))
        ).scalar_one()
    assert sorted(row["event_id"] for row in rows) == sorted(e.id for e in events)
    assert processed == len(events)
    by_key: dict[str, list[int]] = {}
    for row in rows:
        by_key.setdefault(row["key"], []).append(row["seq"])
    for key, seqs in by_key.items():
        assert seqs == sorted(seqs), f"events of {key} applied out of order"


async def test_consumer_killed_midway_restarts_with_effects_exactly_once(backend: Backend) -> None:
    """10,000 events; the consumer dies after a database commit but before its offset commit."""
    await create_all(backend.db, metadata)
    topic, group = backend.unique("crash"), backend.unique("group")
    await backend.bus.ensure_topics([topic])
    events = [make_event(f"member-{seq % 50}", seq) for seq in range(10_000)]
    await publish_events(backend, topic, events)

    inner = processor(backend, group)
    delivered = 0
    first: asyncio.Task | None = None

    async def dying(batch: Sequence[Delivery]) -> None:
        nonlocal delivered
        await inner(batch)
        delivered += len(batch)
        if first is not None and not first.done() and delivered >= 5_000:
            first.cancel()  # killed after the database commit, before the offset commit
            await asyncio.sleep(0)

    first = asyncio.create_task(ConsumerRuntime(backend.bus, [topic], group, dying).run())
    with contextlib.suppress(asyncio.CancelledError):
        await first
    applied_before_restart = await count(backend, effects)
    assert 5_000 <= applied_before_restart < 10_000

    redelivered = 0

    async def counting(batch: Sequence[Delivery]) -> None:
        nonlocal redelivered
        redelivered += sum(1 for d in batch if d.envelope.id in applied_ids)
        await inner(batch)

    async with backend.db.sessions() as session:
        applied_ids = set((await session.execute(select(effects.c.event_id))).scalars())
    second = asyncio.create_task(ConsumerRuntime(backend.bus, [topic], group, counting).run())
    try:
        await wait_for(lambda: _reached(backend, 10_000))
    finally:
        await stop(second)
    assert redelivered > 0, "the restart should have seen the uncommitted batch again"
    await assert_exactly_once_in_order(backend, events)


async def test_poison_event_is_dead_lettered_and_the_stream_goes_on(backend: Backend) -> None:
    await create_all(backend.db, metadata)
    topic, group = backend.unique("poison"), backend.unique("group")
    dlq = f"{topic}.{group}.dlq"
    await backend.bus.ensure_topics([topic, dlq])
    events = [make_event(f"k{seq % 5}", seq) for seq in range(50)]
    poison = Envelope(
        source="/tests",
        type="test.thing.happened",
        partitionkey="k1",
        data={"key": "k1", "seq": 999, "poison": True},
    )
    events.insert(20, poison)
    await publish_events(backend, topic, events)
    retry = RetryPolicy(attempts=3, backoff_initial=0.01, backoff_max=0.05)
    runtime = ConsumerRuntime(backend.bus, [topic], group, processor(backend, group), retry=retry)
    task = asyncio.create_task(runtime.run())
    try:
        await wait_for(lambda: _reached(backend, 50))
        [dead] = await read_all(backend, dlq, expected=1)
    finally:
        await stop(task)
    headers = header_map(dead.headers)
    assert headers[DLQ_ERROR_TYPE] == "ValueError"
    assert poison.id in headers[DLQ_ERROR_MESSAGE]
    assert headers[DLQ_ATTEMPTS] == "3"
    assert headers[DLQ_TOPIC] == topic
    assert int(headers[DLQ_PARTITION]) >= 0 and int(headers[DLQ_OFFSET]) >= 0
    assert Envelope.from_kafka(dead.key, dead.value, dead.headers).id == poison.id
    await assert_exactly_once_in_order(backend, [e for e in events if e is not poison])


async def test_record_that_is_not_a_cloudevent_is_dead_lettered(backend: Backend) -> None:
    await create_all(backend.db, metadata)
    topic, group = backend.unique("garbage"), backend.unique("group")
    dlq = f"{topic}.{group}.dlq"
    await backend.bus.ensure_topics([topic, dlq])
    good = make_event("k", 1)
    await backend.bus.publish_many([Outgoing(topic, b"not json", b"k")])
    await publish_events(backend, topic, [good])
    runtime = ConsumerRuntime(backend.bus, [topic], group, processor(backend, group))
    task = asyncio.create_task(runtime.run())
    try:
        await wait_for(lambda: _reached(backend, 1))
        [dead] = await read_all(backend, dlq, expected=1)
    finally:
        await stop(task)
    assert dead.value == b"not json"
    assert header_map(dead.headers)[DLQ_ERROR_TYPE] == "EnvelopeError"


@pytest.mark.parametrize("backend", ["memory", "sqlite"], indirect=True)
async def test_embedded_bus_redelivers_what_a_departed_member_did_not_commit(
    backend: Backend,
) -> None:
    topic, group = backend.unique("redeliver"), backend.unique("group")
    await publish_events(backend, topic, [make_event("k", n) for n in range(10)])
    first = backend.bus.consumer([topic], group)
    await first.start()
    fetched = await first.fetch(100, 0.1)
    assert len(fetched) == 10
    await first.commit({(fetched[0].topic, fetched[0].partition): fetched[4].offset + 1})
    await first.stop()
    second = backend.bus.consumer([topic], group)
    await second.start()
    again = await second.fetch(100, 0.1)
    await second.stop()
    assert [r.offset for r in again] == [r.offset for r in fetched[5:]]
