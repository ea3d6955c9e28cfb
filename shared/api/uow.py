"""One transaction per request: the HTTP edge's unit of work.

A route that changes state takes the service's unit of work as a dependency; the
transaction commits when the route returns and before the response is sent, so a
failed commit is never answered 2xx, and events queued in `uow.outbox` are published
by the service's relay after the commit, exactly as a consumer's are.

    TransactionDep = Annotated[GamificationUoW, transaction("gamification")]

    @router.post("/...")
    async def grant(body: Grant, uow: TransactionDep) -> Granted:
        await uow.ledger.append(...)       # no commit here
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Depends, Request

from shared.db.consuming import UnitOfWork
from shared.db.outbox import Outbox
from shared.db.tables import outbox_table


def transaction(service: str) -> Any:
    """A FastAPI dependency yielding `service`'s unit of work inside one transaction."""

    async def open_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
        hosted = request.app.state.host.hosted(service)
        async with hosted.db.transaction() as session:
            outbox = Outbox(session, outbox_table(hosted.spec.metadata))
            yield hosted.spec.unit_of_work(session, outbox, context=hosted.context)
        wake: Callable[[], None] | None = getattr(hosted.relay, "wake", None)
        if wake is not None:
            wake()

    # scope="function": commit before the response is sent, not after.
    return Depends(open_unit_of_work, scope="function")
