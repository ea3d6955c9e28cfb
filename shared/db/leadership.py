"""One leader per named job across replicas, through a PostgreSQL session advisory lock.

A replica that takes the lock runs the job; the others stand by and try again every
`acquire_every` seconds. The lock lives as long as the database session that took it, so
it goes the moment that session ends: the leader crashed, PostgreSQL terminated the
backend, a network blip cut the connection. The leader learns of it only when it next
uses the connection, so the lock alone cannot keep two replicas from running the job:

- the leader confirms every `check_every` seconds that its session still holds the lock
  and treats an unanswered check as a loss: it never works longer than `lease` seconds
  past the moment it last sent a check that came back "held";
- on a loss it cancels the job and waits for it to end (`stop_within` is the bound the
  job promises to keep);
- a fenced new leader waits `lease + stop_within` seconds after taking the lock before it
  starts, so by then the old leader's job has stopped. Only durations are compared, each
  on its own process's monotonic clock: no clock synchronisation is needed.

The lock connection is the leadership's own and runs in autocommit: nothing here commits,
rolls back or holds a transaction open on behalf of a caller. SQLite (the embedded mode)
is a single process and runs the job directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.engine import Database

log = logging.getLogger(__name__)

LEADING = Gauge(
    "hearth_leadership_leading",
    "1 while this process holds the named leadership lock and runs its job.",
    ["lock"],
)


@dataclass(frozen=True)
class LeaseTiming:
    """How often a standby tries, how often the leader checks, how long a loss may go unseen."""

    acquire_every: float = 5.0
    check_every: float = 2.0
    lease: float = 10.0
    stop_within: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.check_every < self.lease:
            raise ValueError("check_every must be positive and shorter than lease")
        if self.acquire_every <= 0 or self.stop_within < 0:
            raise ValueError("acquire_every must be positive, stop_within not negative")

    @property
    def takeover_delay(self) -> float:
        """How long a fenced new leader waits: the old one's job has stopped by then."""
        return self.lease + self.stop_within


class LeadershipLost(RuntimeError):
    """The lock's session ended or stopped answering while the job ran."""


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key of a leadership name."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_name(db: Database, job: str) -> str:
    """The database-wide name of `job` of one service (advisory locks span schemas)."""
    return f"hearth:{db.schema or 'public'}:{job}"


async def try_advisory_lock(connection: AsyncConnection, key: int) -> bool:
    """Take a session-level advisory lock if free; held until released or the session ends.

    Does not commit: the lock is not transactional, and on an autocommit connection the
    statement runs outside any transaction.
    """
    result = await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
    return bool(result.scalar_one())


async def release_advisory_lock(connection: AsyncConnection, key: int) -> bool:
    """Let go of a lock taken by try_advisory_lock; False if this session did not hold it."""
    result = await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    return bool(result.scalar_one())


async def holds_advisory_lock(connection: AsyncConnection, key: int) -> bool:
    """Whether this connection's session holds the lock (false behind a transaction pooler)."""
    return await _holder(connection, key, own=True) is not None


async def leader_pid(db: Database, job: str) -> int | None:
    """The PostgreSQL backend pid holding `job`'s lock, if any (for operators and tests)."""
    async with db.engine.connect() as connection:
        return await _holder(connection, lock_key(lock_name(db, job)), own=False)


async def _holder(connection: AsyncConnection, key: int, *, own: bool) -> int | None:
    # pg_locks shows a bigint key as two oids: the high half in classid, the low in objid.
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    query = (
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND classid = :high AND objid = :low AND objsubid = 1"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    if own:
        query += " AND pid = pg_backend_pid()"
    result = await connection.execute(
        text(query), {"high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF}
    )
    pid = result.scalar_one_or_none()
    return None if pid is None else int(pid)


class Leadership:
    """Runs a job in one replica at a time and stops it when the lock can't be trusted."""

    def __init__(
        self,
        db: Database,
        job: str,
        *,
        timing: LeaseTiming | None = None,
        fenced: bool = True,
    ) -> None:
        self.db = db
        self.job = job
        self.name = lock_name(db, job)
        self.key = lock_key(self.name)
        self.timing = timing or LeaseTiming()
        self.fenced = fenced
        """False for a job whose overlap is harmless (the outbox relay): no takeover delay."""
        self.backend_pid: int | None = None
        """The PostgreSQL backend holding the lock while this replica leads."""

    async def run(self, job: Callable[[], Awaitable[None]]) -> None:
        """Stand by, lead, run `job` while leading; again after a loss. Returns when it does."""
        if not self.db.is_postgres:
            await job()
            return
        while True:
            connection = await self._acquire()
            try:
                finished = await self._lead(connection, job)
            finally:
                await asyncio.shield(self._let_go(connection))
            if finished:
                return
            # A replica whose connection just failed lets the standbys try first.
            await asyncio.sleep(self.timing.acquire_every)

    async def _acquire(self) -> AsyncConnection:
        """Try the lock every `acquire_every` seconds until this replica holds it."""
        announced = False
        while True:
            try:
                connection = await self._try_once()
            except (SQLAlchemyError, OSError) as exc:
                log.warning(
                    "leadership %s: database unreachable (%s)", self.job, type(exc).__name__
                )
            else:
                if connection is not None:
                    return connection
                if not announced:
                    log.info("leadership %s: another replica leads; standing by", self.job)
                    announced = True
            await asyncio.sleep(self.timing.acquire_every)

    async def _try_once(self) -> AsyncConnection | None:
        connection = await self.db.engine.connect()
        try:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            if await try_advisory_lock(connection, self.key):
                pid = await connection.execute(text("SELECT pg_backend_pid()"))
                self.backend_pid = int(pid.scalar_one())
                return connection
        except BaseException:
            await _discard(connection)
            raise
        await connection.close()
        return None

    async def _lead(self, connection: AsyncConnection, job: Callable[[], Awaitable[None]]) -> bool:
        """Run the job until it ends (True) or the lock is lost (False); stop it either way."""
        watchdog = asyncio.create_task(self._watch(connection), name=f"leadership-{self.job}")
        work: asyncio.Task[None] | None = None
        try:
            if self.fenced:
                log.info(
                    "leadership %s: lock taken; starting in %.1fs, once any former leader "
                    "has stopped",
                    self.job,
                    self.timing.takeover_delay,
                )
                done, _ = await asyncio.wait([watchdog], timeout=self.timing.takeover_delay)
                if done:
                    return False
            log.info("leadership %s: this replica leads", self.job)
            LEADING.labels(lock=self.job).set(1)
            work = asyncio.create_task(_call(job), name=f"led-{self.job}")
            done, _ = await asyncio.wait([work, watchdog], return_when=asyncio.FIRST_COMPLETED)
            if work in done:
                work.result()  # the job's own error propagates
                return True
            log.error("leadership %s: lock lost; stopping the job", self.job)
            return False
        finally:
            watchdog.cancel()
            if work is not None:
                await self._stop(work)
            LEADING.labels(lock=self.job).set(0)
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _stop(self, work: asyncio.Task[None]) -> None:
        if work.done():
            return
        work.cancel()
        done, _ = await asyncio.wait([work], timeout=self.timing.stop_within)
        if not done:
            log.error(
                "leadership %s: the job did not stop within %.1fs; another replica may "
                "start it meanwhile",
                self.job,
                self.timing.stop_within,
            )
            await asyncio.wait([work])

    async def _watch(self, connection: AsyncConnection) -> None:
        """Return as soon as the lock can no longer be vouched for."""
        lease = self.timing.lease
        deadline = time.monotonic() + lease
        while True:
            sent = time.monotonic()
            try:
                async with asyncio.timeout(max(deadline - sent, 0.0)):
                    held = await holds_advisory_lock(connection, self.key)
            except (TimeoutError, SQLAlchemyError, OSError) as exc:
                log.error("leadership %s: lock check failed (%s)", self.job, type(exc).__name__)
                return
            if not held:
                log.error("leadership %s: this session no longer holds the lock", self.job)
                return
            deadline = sent + lease
            await asyncio.sleep(self.timing.check_every)

    async def _let_go(self, connection: AsyncConnection) -> None:
        """Release the lock (the job has stopped), or drop a connection that can't be trusted."""
        self.backend_pid = None
        if connection.closed or connection.invalidated:
            await _discard(connection)
            return
        try:
            async with asyncio.timeout(self.timing.lease):
                await release_advisory_lock(connection, self.key)
        except (TimeoutError, SQLAlchemyError, OSError):
            # Closing the session releases the lock on the server; never pool it held.
            await _discard(connection)
            return
        await connection.close()


async def _call(job: Callable[[], Awaitable[None]]) -> None:
    await job()


async def _discard(connection: AsyncConnection) -> None:
    with contextlib.suppress(SQLAlchemyError, OSError):
        if not connection.invalidated and not connection.closed:
            await connection.invalidate()
    with contextlib.suppress(SQLAlchemyError, OSError):
        await connection.close()
