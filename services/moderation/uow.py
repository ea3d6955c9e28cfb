"""The moderation service's unit of work: its repositories and its outbox in one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.moderation.repository import (
    Appeals,
    AuditLog,
    ConflictAlerts,
    Decisions,
    RecentMessages,
    Reports,
    ReviewQueue,
    Rulesets,
    SanctionRecords,
    Strikes,
)
from shared.api.uow import transaction
from shared.db.consuming import UnitOfWork
from shared.db.outbox import Outbox


class ModerationUoW(UnitOfWork):
    """What moderation handlers and routes touch: `uow.rulesets`, `uow.decisions`, `uow.queue`,
    `uow.strikes`, `uow.sanctions`, `uow.audit`, `uow.appeals`, `uow.reports`, `uow.recent`,
    `uow.conflicts`, `uow.outbox`."""

    def __init__(
        self, session: AsyncSession, outbox: Outbox, *, context: Any = None, group: str = ""
    ) -> None:
        super().__init__(session, outbox, context=context, group=group)
        self.rulesets = Rulesets(session)
        self.decisions = Decisions(session)
        self.queue = ReviewQueue(session)
        self.strikes = Strikes(session)
        self.sanctions = SanctionRecords(session)
        self.audit = AuditLog(session)
        self.appeals = Appeals(session)
        self.reports = Reports(session)
        self.recent = RecentMessages(session)
        self.conflicts = ConflictAlerts(session)


TransactionDep = transaction("moderation")
"""A route's `uow: Annotated[ModerationUoW, TransactionDep]`: one transaction per request."""
