"""Idempotent, transactional event processing: where a consumer meets the database.

A handler declares what it takes, and the kit does the rest:

    async def award(event: CommunityEvent, uow: GamificationUoW) -> None: ...

The payload model is read from the first parameter's annotation (an `Envelope` there
gets the raw envelope); a handler that also wants the envelope names a keyword
parameter `envelope`. Payloads are validated once, before the transaction: one that
does not parse is handed back to the runtime as a rejection and dead-lettered.

A batch is handled in one transaction: events already recorded in processed_events
for this consumer group are skipped, the rest go to their handler, and their ids are
recorded in the same transaction, so a redelivered event has its effects exactly
once. The unit of work carries the service's repositories and its outbox; handlers
and repositories never commit: the edge (this processor, or the HTTP dependency in
shared/api/uow.py) does.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bus.runtime import Delivery, Processor, Rejection
from shared.db.engine import Database
from shared.db.outbox import Outbox
from shared.events.envelope import Envelope
from shared.observability.logging import bind_event
from shared.observability.metrics import CONSUMER_HANDLER_SECONDS, CONSUMER_MESSAGES_TOTAL
from shared.observability.tracing import trace_id_of


class UnitOfWork:
    """What a handler or a route may touch inside one transaction.

    Services subclass it to add their repositories (objects built on `session`, e.g.
    `self.ledger = Ledger(session)`), so handlers call `uow.ledger.append(...)` and
    never see SQL. Nothing here commits.
    """

    def __init__(
        self, session: AsyncSession, outbox: Outbox, *, context: Any = None, group: str = ""
    ) -> None:
        self.session = session
        self.outbox = outbox
        self.context = context
        """The service's context (settings, clients) built by its ServiceSpec.setup."""
        self.group = group
        """The consumer group handling the event (empty in an HTTP request)."""

    async def prepare(self, payloads: Sequence[object]) -> None:
        """Look at a whole batch before its handlers run (e.g. embed every text at once).

        Called once per batch with the fresh (not yet processed) payloads, in order,
        inside the transaction; the default does nothing.
        """


UnitOfWorkFactory = Callable[..., UnitOfWork]

Handler = Callable[..., Awaitable[None]]
"""`async def handler(payload: Model | Envelope, uow: UoW[, *, envelope: Envelope])`."""


@dataclass(frozen=True)
class BoundHandler:
    """A handler with what it takes, read once from its signature."""

    event_type: str
    function: Handler
    payload: type[BaseModel] | None
    """The model its first parameter is validated into; None means the raw Envelope."""
    wants_envelope: bool

    def parse(self, envelope: Envelope) -> BaseModel | Envelope:
        """The handler's first argument for `envelope`; ValidationError when it does not fit."""
        if self.payload is None:
            return envelope
        return self.payload.model_validate(envelope.data)

    async def __call__(self, envelope: Envelope, payload: object, uow: UnitOfWork) -> None:
        if self.wants_envelope:
            await self.function(payload, uow, envelope=envelope)
        else:
            await self.function(payload, uow)


def bind_handlers(handlers: Mapping[str, Handler]) -> dict[str, BoundHandler]:
    """Read each handler's payload model from its signature; fail early on a bad one."""
    return {event_type: bind(event_type, fn) for event_type, fn in handlers.items()}


def bind(event_type: str, function: Handler) -> BoundHandler:
    """One handler's binding (see the module docstring for the accepted signatures)."""
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if len(parameters) < 2:
        raise TypeError(f"handler {function.__qualname__} must take (payload, uow)")
    try:
        hints = typing.get_type_hints(function)
    except NameError:  # annotations naming what the module cannot see: take the envelope
        hints = {}
    first = hints.get(parameters[0].name, Envelope)
    payload: type[BaseModel] | None
    if first is Envelope:
        payload = None
    elif isinstance(first, type) and issubclass(first, BaseModel):
        payload = first
    else:
        raise TypeError(
            f"handler {function.__qualname__}: first parameter must be an Envelope or a "
            f"pydantic model, not {first!r}"
        )
    wants_envelope = "envelope" in signature.parameters and parameters[0].name != "envelope"
    return BoundHandler(event_type, function, payload, wants_envelope)


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
    unit_of_work: UnitOfWorkFactory = UnitOfWork,
) -> Processor:
    """A Processor that dispatches on event type inside one deduplicated transaction."""
    bound = bind_handlers(handlers)

    async def process(deliveries: Sequence[Delivery]) -> list[Rejection]:
        rejected: list[Rejection] = []
        parsed: list[tuple[Delivery, BoundHandler, object]] = []
        for delivery in deliveries:
            handler = bound.get(delivery.envelope.type)
            if handler is None:
                # Nothing to do, so nothing to remember: no processed row either.
                _count(group, delivery, "ignored")
                continue
            try:
                parsed.append((delivery, handler, handler.parse(delivery.envelope)))
            except ValidationError as exc:
                rejected.append(Rejection(delivery, exc))
        if not parsed:
            return rejected
        fresh: list[tuple[Delivery, BoundHandler, object]] = []
        async with db.transaction() as session:
            seen = await already_processed(
                session, processed, group, [item[0].envelope.id for item in parsed]
            )
            for item in parsed:
                envelope = item[0].envelope
                if envelope.id in seen:
                    _count(group, item[0], "duplicate")
                    continue
                seen.add(envelope.id)
                fresh.append(item)
            uow = unit_of_work(session, Outbox(session, outbox), context=context, group=group)
            await uow.prepare([payload for _, _, payload in fresh])
            for delivery, handler, payload in fresh:
                envelope = delivery.envelope
                with (
                    bind_event(envelope.id, trace_id_of(envelope.traceparent)),
                    CONSUMER_HANDLER_SECONDS.labels(group=group, event_type=envelope.type).time(),
                ):
                    await handler(envelope, payload, uow)
            if fresh:
                await session.execute(
                    processed.insert(),
                    [{"consumer_group": group, "event_id": d.envelope.id} for d, _, _ in fresh],
                )
        if on_commit is not None and fresh:
            on_commit()
        return rejected

    return process


def _count(group: str, delivery: Delivery, outcome: str) -> None:
    CONSUMER_MESSAGES_TOTAL.labels(group=group, topic=delivery.record.topic, outcome=outcome).inc()
