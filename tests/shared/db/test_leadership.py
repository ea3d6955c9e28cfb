"""Leadership on real PostgreSQL: one runner at a time, even when the lock's session is killed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

import pytest
from sqlalchemy import text
from ulid import ULID

from shared.db.engine import Database
from shared.db.leadership import (
    Leadership,
    LeaseTiming,
    leader_pid,
    lock_key,
    release_advisory_lock,
    try_advisory_lock,
)
from tests.shared.conftest import drop_schema

pytestmark = pytest.mark.integration

# A standby tries five times as often as the leader checks: the fence must not rely on
# the leader noticing first.
FAST = LeaseTiming(acquire_every=0.05, check_every=0.2, lease=1.5, stop_within=1.0)


@dataclass
class Timeline:
    """Start and stop instants of every contender's job, and how many ran at once."""

    events: list[tuple[str, str, float]] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    most_at_once: int = 0

    def job(self, who: str) -> Callable[[], Awaitable[None]]:
        async def work() -> None:
            self.running.add(who)
            self.most_at_once = max(self.most_at_once, len(self.running))
            self.events.append(("start", who, time.monotonic()))
            try:
                await asyncio.Event().wait()
            finally:
                self.running.discard(who)
                self.events.append(("stop", who, time.monotonic()))

        return work

    def started(self) -> list[str]:
        return [who for kind, who, _ in self.events if kind == "start"]


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url, schema=f"lead_{str(ULID()).lower()}", pool_size=4)
    yield database
    await drop_schema(database)
    await database.dispose()


async def eventually(check: Callable[[], bool], *, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def stop(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_leader_whose_session_is_terminated_stops_before_the_next_one_starts(
    db: Database,
) -> None:
    timeline = Timeline()
    # The old leader waits an acquisition period after a loss: a long one lets `second` win.
    first = Leadership(db, "job", timing=replace(FAST, acquire_every=30))
    second = Leadership(db, "job", timing=FAST)
    tasks = [asyncio.create_task(first.run(timeline.job("first")))]
    await eventually(lambda: timeline.started() == ["first"])
    tasks.append(asyncio.create_task(second.run(timeline.job("second"))))
    pid = first.backend_pid
    assert pid is not None and await leader_pid(db, "job") == pid
    try:
        async with db.engine.connect() as admin:
            terminated = await admin.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}
            )
            assert terminated.scalar_one() is True
        await eventually(lambda: timeline.started() == ["first", "second"])
        assert [(kind, who) for kind, who, _ in timeline.events] == [
            ("start", "first"),
            ("stop", "first"),
            ("start", "second"),
        ]
        stopped_first = timeline.events[1][2]
        started_second = timeline.events[2][2]
        assert stopped_first < started_second
        assert timeline.most_at_once == 1, "both jobs ran at the same moment"
        assert await leader_pid(db, "job") == second.backend_pid != pid
    finally:
        await stop(*tasks)


async def test_a_leader_that_stops_lets_the_standby_take_over(db: Database) -> None:
    timeline = Timeline()
    first = asyncio.create_task(Leadership(db, "job", timing=FAST).run(timeline.job("first")))
    await eventually(lambda: timeline.started() == ["first"])
    second = asyncio.create_task(Leadership(db, "job", timing=FAST).run(timeline.job("second")))
    try:
        await stop(first)
        await eventually(lambda: timeline.started() == ["first", "second"])
        assert timeline.most_at_once == 1
    finally:
        await stop(second)
    assert await leader_pid(db, "job") is None, "the lock went back with the last leader"


async def test_the_lock_helpers_leave_the_callers_transaction_alone(db: Database) -> None:
    key = lock_key(f"helpers-{ULID()}")
    async with db.engine.connect() as connection:
        await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"'))
        await connection.execute(text("CREATE TABLE t (n int)"))
        await connection.commit()
        await connection.execute(text("INSERT INTO t VALUES (1)"))
        assert await try_advisory_lock(connection, key)
        assert await release_advisory_lock(connection, key)
        assert connection.in_transaction(), "the helpers must not end the caller's transaction"
        await connection.rollback()
        rows = await connection.execute(text("SELECT count(*) FROM t"))
        assert rows.scalar_one() == 0, "the caller rolled back: nothing was committed for it"
