"""Transactional outbox: events are written with the state change, published after commit.

Per-key order is the order rows were committed in, whatever the number of replicas:

- one relay per service schema publishes, the leader of `outbox-relay:<table>` (a
  PostgreSQL advisory lock on its own connection, shared/db/leadership.py); the other
  replicas' relays stand by and take over within seconds when the leader goes;
- the leader reads a batch of pending rows in id order without locking them, publishes it
  (returning only once every record is acknowledged), then marks it in a short
  transaction: nothing holds a row lock or a transaction while Kafka is slow;
- a relay that dies between publishing and marking publishes those rows again, in the same
  order: consumers dedupe by event id, so the effect is applied once.

Two relays that overlap for a moment (a leader that has not yet noticed that its lock is
gone) only publish some rows twice, each in id order: the first copy of every row still
comes after the first copies of the rows before it, so per-key order after dedup holds.
That is why this leadership is not fenced (no takeover delay). SQLite, the embedded mode,
is one process with one relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bus.port import Bus, BusUnavailable, Outgoing, envelope_message
from shared.db.engine import Database
from shared.db.leadership import Leadership, LeaseTiming
from shared.db.retention import prune
from shared.events.envelope import Envelope, utcnow
from shared.observability.metrics import OUTBOX_PENDING, OUTBOX_PUBLISHED_TOTAL

log = logging.getLogger(__name__)

RELAY_LEADERSHIP = LeaseTiming(acquire_every=1.0, check_every=1.0, lease=3.0, stop_within=5.0)
"""A standby relay tries the lock every second; the leader checks its lock every second."""


@dataclass
class Outbox:
    """Queue events inside the caller's transaction."""

    session: AsyncSession
    table: Table

    async def add(self, topic: str, envelope: Envelope) -> None:
        """Queue one CloudEvent for `topic`; it is published only if the transaction commits."""
        await self.extend([(topic, envelope)])

    async def extend(self, items: Sequence[tuple[str, Envelope]]) -> None:
        """Queue several events in order."""
        await self.add_messages(
            [envelope_message(topic, envelope) for topic, envelope in items],
            [envelope.id for _, envelope in items],
        )

    async def add_messages(self, messages: Sequence[Outgoing], event_ids: Sequence[str]) -> None:
        """Queue prepared records (e.g. a dead letter with its error headers)."""
        if not messages:
            return
        rows = []
        for message, event_id in zip(messages, event_ids, strict=True):
            rows.append(
                {
                    "event_id": event_id,
                    "topic": message.topic,
                    "key": message.key,
                    "value": message.value,
                    "headers": [[name, value.decode()] for name, value in message.headers],
                }
            )
        await self.session.execute(self.table.insert(), rows)


class RelayStalled(RuntimeError):
    """The relay leads but publishes nothing, or crashed and has not recovered."""


class OutboxRelay:
    """Publishes committed outbox rows of one service, oldest first."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        table: Table,
        *,
        service: str,
        batch_size: int = 500,
        interval: float = 0.5,
        after_publish: Callable[[], Awaitable[None]] | None = None,
        leadership: LeaseTiming | None = None,
        stall_after: float = 60.0,
    ) -> None:
        self.db = db
        self.bus = bus
        self.table = table
        self.service = service
        self.batch_size = batch_size
        self.interval = interval
        self._after_publish = after_publish
        self._wake = asyncio.Event()
        self.stall_after = stall_after
        self._leading = False
        self._progress_at = time.monotonic()
        self._failed_at: float | None = None
        self.leadership = Leadership(
            db,
            f"outbox-relay:{table.name}",
            timing=leadership or RELAY_LEADERSHIP,
            fenced=False,
        )

    def wake(self) -> None:
        """Ask the relay to look for rows now instead of at its next tick."""
        self._wake.set()

    async def run(self) -> None:
        """Publish while this replica leads the service's relays, until cancelled."""
        await self.leadership.run(self._publish_forever)

    async def check(self) -> None:
        """Readiness: raise while the leading relay makes no progress or keeps crashing."""
        now = time.monotonic()
        if self._failed_at is not None and self._failed_at > self._progress_at:
            raise RelayStalled(f"crashed {now - self._failed_at:.0f}s ago, not recovered")
        if self._leading and now - self._progress_at > self.stall_after:
            raise RelayStalled(f"no progress for {now - self._progress_at:.0f}s")

    async def _publish_forever(self) -> None:
        """Publish until cancelled; a broker outage only delays, never drops, rows."""
        self._leading = True
        self._progress_at = time.monotonic()
        try:
            await self._publish_loop()
        except asyncio.CancelledError:
            raise
        except Exception:
            self._failed_at = time.monotonic()
            raise
        finally:
            self._leading = False

    async def _publish_loop(self) -> None:
        while True:
            try:
                while await self.publish_pending() == self.batch_size:
                    self._progress_at = time.monotonic()
                self._progress_at = time.monotonic()
            except BusUnavailable as exc:
                log.warning("outbox relay of %s waiting for the bus: %s", self.service, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()

    async def publish_pending(self) -> int:
        """Publish the oldest batch of pending rows, then mark it; return how many."""
        query = (
            select(self.table)
            .where(self.table.c.published_at.is_(None))
            .order_by(self.table.c.id)
            .limit(self.batch_size)
        )
        async with self.db.sessions() as session:  # a read: no lock, ended before publishing
            rows = (await session.execute(query)).mappings().all()
        if not rows:
            OUTBOX_PENDING.labels(service=self.service).set(0)
            return 0
        await self.bus.publish_many([_outgoing(row) for row in rows])
        if self._after_publish is not None:
            await self._after_publish()
        async with self.db.transaction() as session:
            await session.execute(
                update(self.table)
                .where(self.table.c.id.in_([row["id"] for row in rows]))
                .values(published_at=utcnow())
            )
        OUTBOX_PUBLISHED_TOTAL.labels(service=self.service).inc(len(rows))
        await self._report_pending()
        return len(rows)

    async def pending(self) -> int:
        """How many rows wait to be published."""
        async with self.db.sessions() as session:
            query = select(func.count()).where(self.table.c.published_at.is_(None))
            return int((await session.execute(query)).scalar_one())

    async def purge_published(self, before: datetime, *, batch_size: int = 1000) -> int:
        """Delete rows published before `before`, in bounded batches; return how many.

        The host's retention loop does this every hour (shared/db/retention.py).
        """
        return await prune(self.db, self.table, "published_at", before, batch_size=batch_size)

    async def _report_pending(self) -> None:
        OUTBOX_PENDING.labels(service=self.service).set(await self.pending())


def _outgoing(row: RowMapping) -> Outgoing:
    return Outgoing(
        topic=row["topic"],
        value=bytes(row["value"]),
        key=bytes(row["key"]) if row["key"] is not None else None,
        headers=tuple((name, value.encode()) for name, value in row["headers"]),
    )
