"""Idempotent, transactional event processing: where a consumer meets the database.

A batch is handled in one transaction: events already recorded in processed_events
for this consumer group are skipped, the rest go to their handler, and their ids are
recorded in the same transaction, so a redelivered event has its effects exactly once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bus.runtime import Delivery, Processor
from shared.db.engine import Database
from shared.db.outbox import Outbox
from shared.events.envelope import Envelope
from shared.observability.logging import bind_event
from shared.observability.metrics import CONSUMER_HANDLER_SECONDS, CONSUMER_MESSAGES_TOTAL
from shared.observability.tracing import trace_id_of


@dataclass
class UnitOfWork:
    """What a handler may touch: the transaction's session and the outbox."""

    session: AsyncSession
    outbox: Outbox
    context: Any = None
    """The service's context (settings, platform clients) from its ServiceSpec.setup."""
    group: str = ""
    """The consumer group handling the event (names its dead-letter topics)."""


Handler = Callable[[Envelope, UnitOfWork], Awaitable[None]]


async def already_processed(
    session: AsyncSession, table: Table, group: str, event_ids: Sequence[str]
) -> set[str]:
    """The ids among `event_ids` that `group` has handled before."""
    if not event_ids:
        return set()
    query = select(table.c.event_id).where(
        table.c.consumer_group == group, table.c.event_id.in_(list(set(event_ids)))
    )
    return set((await session.execute(query)).scalars())


def idempotent_processor(
    db: Database,
    *,
    group: str,
    handlers: Mapping[str, Handler],
    processed: Table,
    outbox: Table,
    on_commit: Callable[[], None] | None = None,
    context: Any = None,
) -> Processor:
    """A Processor that dispatches on event type inside one deduplicated transaction."""

    async def process(deliveries: Sequence[Delivery]) -> None:
        fresh: list[Envelope] = []
        async with db.transaction() as session:
            seen = await already_processed(
                session, processed, group, [d.envelope.id for d in deliveries]
            )
            for delivery in deliveries:
                envelope = delivery.envelope
                if envelope.id in seen:
                    CONSUMER_MESSAGES_TOTAL.labels(
                        group=group, topic=delivery.record.topic, outcome="duplicate"
                    ).inc()
                    continue
                seen.add(envelope.id)
                fresh.append(envelope)
            uow = UnitOfWork(
                session=session, outbox=Outbox(session, outbox), context=context, group=group
            )
            for envelope in fresh:
                handler = handlers.get(envelope.type)
                if handler is None:
                    continue
                with (
                    bind_event(envelope.id, trace_id_of(envelope.traceparent)),
                    CONSUMER_HANDLER_SECONDS.labels(group=group, event_type=envelope.type).time(),
                ):
                    await handler(envelope, uow)
            if fresh:
                await session.execute(
                    processed.insert(),
                    [{"consumer_group": group, "event_id": e.id} for e in fresh],
                )
        if on_commit is not None and fresh:
            on_commit()

    return process
