"""A database restart in the middle of a stream loses and doubles nothing, and parks nothing.

The consumer runs on the real broker against a PostgreSQL of the test's own
(tests/stack.py), which is stopped and started again while 5,000 events flow. Effects
are rows written in the handler's transaction, counted where a user would see them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import BaseModel
from sqlalchemy import Column, Integer, String, Table, func, select, text
from ulid import ULID

from shared.bus.failures import FailureClass, Rejected, classify
from shared.bus.kafka import KafkaBus
from shared.bus.port import Outgoing
from shared.bus.runtime import (
    DLQ_ERROR_CLASS,
    DLQ_ERROR_MESSAGE,
    ConsumerRuntime,
    ConsumerStalled,
    RetryPolicy,
)
from shared.db.consuming import UnitOfWork, idempotent_processor
from shared.db.engine import Database
from shared.db.errors import classify_database_error
from shared.db.tables import Id, outbox_table, processed_table, service_metadata
from shared.events.envelope import Envelope, header_map
from shared.observability.metrics import CONSUMER_MESSAGES_TOTAL, CONSUMER_RETRIES_TOTAL
from tests.shared.conftest import create_all, drop_schema
from tests.stack import Postgres, own_postgres

metadata = service_metadata()
effects = Table(
    "effects",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("key", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
)
EVENT_TYPE = "test.thing.happened"


class Thing(BaseModel):
    """The typed payload the handler declares."""

    key: str
    seq: int


async def record(thing: Thing, uow: UnitOfWork, *, envelope: Envelope) -> None:
    if thing.seq < 0:
        raise Rejected("negative sequence numbers are refused")
    await uow.session.execute(
        effects.insert().values(event_id=envelope.id, key=thing.key, seq=thing.seq)
    )


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with own_postgres() as instance:
        yield instance


@pytest.fixture
async def bus(kafka_bootstrap: str) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(kafka_bootstrap, client_id="hearth-outage-test", session_timeout_ms=6000)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{str(ULID()).lower()}"


def events(n: int) -> list[Envelope]:
    return [
        Envelope(
            source="/tests",
            type=EVENT_TYPE,
            partitionkey=f"member-{seq % 40}",
            data={"key": f"member-{seq % 40}", "seq": seq},
        )
        for seq in range(n)
    ]


async def publish(bus: KafkaBus, topic: str, sent: list[Envelope]) -> None:
    messages = []
    for envelope in sent:
        key, value, headers = envelope.to_kafka()
        messages.append(Outgoing(topic, value, key, tuple(headers)))
    for start in range(0, len(messages), 1000):
        await bus.publish_many(messages[start : start + 1000])


async def applied(db: Database) -> int:
    """Effects so far; None-safe while the database is down."""
    try:
        async with db.sessions() as session:
            found = await session.execute(select(func.count()).select_from(effects))
            return int(found.scalar_one())
    except Exception:  # the database is restarting: nothing to count yet
        return -1


async def wait_until(predicate, timeout: float = 180) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


def metric(counter, **labels: str) -> float:
    return float(counter.labels(**labels)._value.get())


async def read_topic(bus: KafkaBus, topic: str, *, seconds: float) -> list:
    reader = bus.consumer([topic], unique("reader"))
    await reader.start()
    found = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            found.extend(await reader.fetch(500, 0.5))
    finally:
        await reader.stop()
    return found


def runtime_for(bus: KafkaBus, db: Database, topic: str, group: str) -> ConsumerRuntime:
    process = idempotent_processor(
        db,
        group=group,
        handlers={EVENT_TYPE: record},
        processed=processed_table(metadata),
        outbox=outbox_table(metadata),
    )
    return ConsumerRuntime(
        bus,
        [topic],
        group,
        process,
        batch_size=200,
        retry=RetryPolicy(attempts=3, backoff_initial=0.01, outage_backoff_max=1.0),
        classifiers=(classify_database_error,),
        health_checks=(db.ping,),
    )


async def test_a_database_restart_mid_stream_applies_every_event_once_and_parks_none(
    bus: KafkaBus, postgres: Postgres
) -> None:
    db = Database(postgres.url, schema=f"t_{str(ULID()).lower()}", pool_size=5)
    await create_all(db, metadata)
    topic, group = unique("outage"), unique("group")
    dlq = f"{topic}.{group}.dlq"
    await bus.ensure_topics([topic, dlq])
    sent = events(5_000)
    await publish(bus, topic, sent)
    waits_before = metric(CONSUMER_RETRIES_TOTAL, group=group, reason="infrastructure")

    runtime = runtime_for(bus, db, topic, group)
    task = asyncio.create_task(runtime.run())
    readiness: list[bool] = []

    async def probe() -> None:
        while True:
            try:
                await runtime.check()
                readiness.append(True)
            except ConsumerStalled:
                readiness.append(False)
            await asyncio.sleep(0.05)

    prober = asyncio.create_task(probe())
    try:
        await wait_until(lambda: _at_least(db, 500))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, postgres.stop)
        await asyncio.sleep(1.0)  # the outage: a second without a database
        await loop.run_in_executor(None, postgres.start)
        await wait_until(lambda: _at_least(db, 5_000))
        await runtime.check()  # ready again once the database is back
    finally:
        for running in (prober, task):
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    assert False in readiness, "readiness should fail while the consumer waits"
    async with db.sessions() as session:
        rows = (await session.execute(select(effects).order_by(effects.c.id))).mappings().all()
    assert len(rows) == 5_000, "every event applied exactly once"
    assert sorted(r["event_id"] for r in rows) == sorted(e.id for e in sent)
    by_key: dict[str, list[int]] = {}
    for row in rows:
        by_key.setdefault(row["key"], []).append(row["seq"])
    assert all(seqs == sorted(seqs) for seqs in by_key.values()), "per-key order kept"
    waited = metric(CONSUMER_RETRIES_TOTAL, group=group, reason="infrastructure") - waits_before
    assert waited > 0, "the consumer should have waited for the database"
    assert metric(CONSUMER_MESSAGES_TOTAL, group=group, topic=topic, outcome="dead_lettered") == 0
    assert await read_topic(bus, dlq, seconds=3) == []
    print(
        f"\n5,000 events, 1 PostgreSQL restart: {len(rows)} effects, {waited:.0f} waits, 0 parked"
    )
    await drop_schema(db)
    await db.dispose()


async def _at_least(db: Database, n: int) -> bool:
    return await applied(db) >= n


async def test_an_invalid_payload_or_a_rejection_is_parked_at_once_without_payload_text(
    bus: KafkaBus, postgres_url: str
) -> None:
    db = Database(postgres_url, schema=f"t_{str(ULID()).lower()}", pool_size=2)
    await create_all(db, metadata)
    topic, group = unique("poison"), unique("group")
    dlq = f"{topic}.{group}.dlq"
    await bus.ensure_topics([topic, dlq])
    secret_text = "my-password-is-hunter2"
    good = events(20)
    invalid = Envelope(source="/tests", type=EVENT_TYPE, data={"key": "k", "seq": secret_text})
    refused = Envelope(source="/tests", type=EVENT_TYPE, data={"key": "k", "seq": -1})
    ignored = Envelope(source="/tests", type="test.other.happened", data={"x": secret_text})
    await publish(bus, topic, [*good[:10], invalid, refused, ignored, *good[10:]])
    task = asyncio.create_task(runtime_for(bus, db, topic, group).run())
    try:
        await wait_until(lambda: _at_least(db, 20))
        parked = await _read_n(bus, dlq, 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    by_id = {
        Envelope.from_kafka(r.key, r.value, r.headers).id: header_map(r.headers) for r in parked
    }
    assert set(by_id) == {invalid.id, refused.id}
    assert by_id[invalid.id][DLQ_ERROR_CLASS] == "poison"
    assert "seq" in by_id[invalid.id][DLQ_ERROR_MESSAGE]
    assert secret_text not in by_id[invalid.id][DLQ_ERROR_MESSAGE]
    assert by_id[refused.id][DLQ_ERROR_MESSAGE] == "negative sequence numbers are refused"
    assert by_id[refused.id]["hearth_attempts"] == "1", "a rejection is not retried"
    async with db.sessions() as session:
        processed_ids = set(
            (await session.execute(select(processed_table(metadata).c.event_id))).scalars()
        )
    assert ignored.id not in processed_ids, "no processed row for a type without a handler"
    await drop_schema(db)
    await db.dispose()


async def _read_n(bus: KafkaBus, topic: str, n: int, timeout: float = 60) -> list:
    reader = bus.consumer([topic], unique("reader"))
    await reader.start()
    found: list = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(found) < n and loop.time() < deadline:
            found.extend(await reader.fetch(100, 0.5))
    finally:
        await reader.stop()
    return found


async def test_serialization_failures_and_deadlocks_are_outages_not_poison(
    postgres_url: str,
) -> None:
    db = Database(postgres_url, pool_size=2)
    try:
        for sqlstate in ("40001", "40P01"):
            raise_it = f"DO $$ BEGIN RAISE EXCEPTION 'busy' USING ERRCODE = '{sqlstate}'; END $$"
            async with db.engine.connect() as connection:
                with pytest.raises(Exception) as raised:
                    await connection.execute(text(raise_it))
            assert classify(raised.value, (classify_database_error,)) is FailureClass.INFRASTRUCTURE
        async with db.engine.connect() as connection:
            with pytest.raises(Exception) as raised:
                await connection.execute(text("SELECT * FROM no_such_table"))
        assert classify(raised.value, (classify_database_error,)) is FailureClass.UNKNOWN
    finally:
        await db.dispose()
