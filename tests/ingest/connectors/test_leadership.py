"""Only one ingest process runs the connectors: a bot allows one poller or gateway."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text
from ulid import ULID

from services.ingest import connectors
from services.ingest.connectors import connector_loops
from services.ingest.connectors.fleet import Fleet
from services.ingest.context import IngestContext
from services.ingest.secrets import SecretBox
from services.ingest.settings import Settings
from shared.bus.memory import InMemoryBus
from shared.db.engine import Database
from shared.db.leadership import LeaseTiming, leader_pid
from tests.shared.conftest import drop_schema

pytestmark = pytest.mark.integration

Event = tuple[str, str, str, float]
"""(start | stop, platform, process, monotonic instant)"""


class Processes:
    """Two ingest processes' connector loops over one database, and what their fleets did."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.events: list[Event] = []
        self.running: dict[str, set[str]] = {"telegram": set(), "discord": set()}
        self.most_at_once = 0
        self._names: dict[int, str] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str) -> None:
        settings = Settings(secrets_key=SecretBox.new_key())
        context = IngestContext(settings, self.db, InMemoryBus(), SecretBox(SecretBox.new_key()))
        self._names[id(context)] = name
        for loop in connector_loops(context, reload_seconds=0.05):
            self._tasks.append(asyncio.ensure_future(loop()))

    async def fleet_run(self, fleet: Fleet, every: float) -> None:
        """Stands in for Fleet.run: records when a process's fleet runs and stops."""
        platform, who = fleet.platform.value, self._names[id(fleet._load.args[0])]  # type: ignore[attr-defined]
        self.running[platform].add(who)
        self.most_at_once = max(self.most_at_once, len(self.running[platform]))
        self.events.append(("start", platform, who, time.monotonic()))
        try:
            await asyncio.Event().wait()
        finally:
            self.running[platform].discard(who)
            self.events.append(("stop", platform, who, time.monotonic()))

    def starts(self, platform: str) -> int:
        return sum(1 for kind, _ in self.of(platform) if kind == "start")

    def of(self, platform: str) -> list[tuple[str, str]]:
        return [(kind, who) for kind, p, who, _ in self.events if p == platform]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def processes(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Processes]:
    db = Database(postgres_url, schema=f"lead_{str(ULID()).lower()}", pool_size=6)
    both = Processes(db)

    async def fleet_run(self: Fleet, every: float) -> None:
        await both.fleet_run(self, every)

    monkeypatch.setattr(Fleet, "run", fleet_run)
    # The leader checks its lock less often than a standby tries to take it.
    monkeypatch.setattr(
        connectors, "LEADERSHIP", LeaseTiming(check_every=0.2, lease=1.5, stop_within=1.0)
    )
    yield both
    await both.stop()
    await drop_schema(db)
    await db.dispose()


async def eventually(check: Callable[[], bool], *, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_second_process_waits_until_the_first_lets_go(processes: Processes) -> None:
    processes.start("first")
    await eventually(lambda: len(processes.events) == 2)
    processes.start("second")
    first = processes._tasks[:2]
    for task in first:
        task.cancel()
    await eventually(lambda: processes.running == {"telegram": {"second"}, "discord": {"second"}})
    for platform in ("telegram", "discord"):
        assert processes.of(platform) == [
            ("start", "first"),
            ("stop", "first"),
            ("start", "second"),
        ]
    assert processes.most_at_once == 1


async def test_a_leader_that_loses_its_lock_connection_stops_before_another_starts(
    processes: Processes,
) -> None:
    processes.start("first")
    await eventually(lambda: len(processes.events) == 2)
    processes.start("second")
    pids = [
        await leader_pid(processes.db, f"ingest-connectors:{p}") for p in ("telegram", "discord")
    ]
    assert all(pids), "the first process holds both connector locks"
    async with processes.db.engine.connect() as admin:  # as PostgreSQL would on a restart
        for pid in pids:
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    # Whichever process leads next (the first one may win the lock back), it starts
    # only after the old leader's connector stopped.
    await eventually(lambda: all(processes.starts(p) >= 2 for p in ("telegram", "discord")))
    for platform in ("telegram", "discord"):
        events = [e for e in processes.events if e[1] == platform]
        assert [(kind, who) for kind, _, who, _ in events[:2]] == [
            ("start", "first"),
            ("stop", "first"),
        ], "the old leader must stop before any other start"
        assert events[2][0] == "start"
        assert events[1][3] < events[2][3], "the old poller stopped before the new one started"
    assert processes.most_at_once == 1, "two processes ran a bot's connector at once"
