"""The transactional outbox on both backends: nothing from a rollback, nothing lost on a crash."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shared.bus.memory import InMemoryBus
from shared.bus.port import Record
from shared.bus.runtime import Delivery
from shared.db.consuming import UnitOfWork, idempotent_processor
from shared.db.outbox import Outbox, OutboxRelay
from shared.db.tables import outbox_table, processed_table, service_metadata
from shared.events.envelope import Envelope
from tests.shared.bus.test_conformance import read_all
from tests.shared.conftest import Backend, create_all

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
