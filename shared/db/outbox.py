"""Transactional outbox: events are written with the state change, published after commit.

The relay claims pending rows (FOR UPDATE SKIP LOCKED on PostgreSQL so several relays
share the work), publishes them durably, then marks them. A relay that dies between
publishing and marking publishes those rows again: consumers dedupe by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import RowMapping, Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bus.port import Bus, BusUnavailable, Outgoing, envelope_message
from shared.db.engine import Database
from shared.events.envelope import Envelope, utcnow
from shared.observability.metrics import OUTBOX_PENDING, OUTBOX_PUBLISHED_TOTAL

log = logging.getLogger(__name__)


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
        retention: timedelta = timedelta(days=1),
        after_publish: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.table = table
        self.service = service
        self.batch_size = batch_size
        self.interval = interval
        self.retention = retention
        self._after_publish = after_publish
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Ask the relay to look for rows now instead of at its next tick."""
        self._wake.set()

    async def run(self) -> None:
        """Publish until cancelled; a broker outage only delays, never drops, rows."""
        ticks = 0
        while True:
            try:
                while await self.publish_pending() == self.batch_size:
                    pass
                ticks += 1
                if ticks % 1000 == 0:
                    await self.purge_published(utcnow() - self.retention)
            except BusUnavailable as exc:
                log.warning("outbox relay of %s waiting for the bus: %s", self.service, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; return how many were published."""
        async with self.db.transaction() as session:
            query = (
                select(self.table)
                .where(self.table.c.published_at.is_(None))
                .order_by(self.table.c.id)
                .limit(self.batch_size)
            )
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            rows = (await session.execute(query)).mappings().all()
            if not rows:
                OUTBOX_PENDING.labels(service=self.service).set(0)
                return 0
            await self.bus.publish_many([_outgoing(row) for row in rows])
            if self._after_publish is not None:
                await self._after_publish()
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

    async def purge_published(self, before: datetime) -> int:
        """Delete rows published before `before`; return how many."""
        async with self.db.transaction() as session:
            result = await session.execute(
                delete(self.table).where(self.table.c.published_at < before)
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def _report_pending(self) -> None:
        OUTBOX_PENDING.labels(service=self.service).set(await self.pending())


def _outgoing(row: RowMapping) -> Outgoing:
    return Outgoing(
        topic=row["topic"],
        value=bytes(row["value"]),
        key=bytes(row["key"]) if row["key"] is not None else None,
        headers=tuple((name, value.encode()) for name, value in row["headers"]),
    )
