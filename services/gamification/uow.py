"""The gamification service's unit of work: its repositories and its outbox in one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.gamification.repository import Ledger, Rulesets
from shared.api.uow import transaction
from shared.db.consuming import UnitOfWork
from shared.db.outbox import Outbox


class GamificationUoW(UnitOfWork):
    """What gamification handlers and routes touch: `uow.ledger`, `uow.rulesets`, `uow.outbox`."""

    def __init__(
        self, session: AsyncSession, outbox: Outbox, *, context: Any = None, group: str = ""
    ) -> None:
        super().__init__(session, outbox, context=context, group=group)
        self.ledger = Ledger(session)
        self.rulesets = Rulesets(session)


TransactionDep = transaction("gamification")
"""A route's `uow: Annotated[GamificationUoW, TransactionDep]`: one transaction per request."""
