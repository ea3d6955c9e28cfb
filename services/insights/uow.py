"""The insights service's unit of work: its repositories and its outbox in one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.insights.repository import Feedback
from services.insights.repository_activity import Activity
from services.insights.repository_routing import Routing
from shared.api.uow import transaction
from shared.db.consuming import UnitOfWork
from shared.db.outbox import Outbox


class InsightsUoW(UnitOfWork):
    """What handlers and routes touch: feedback, routing, activity and the outbox."""

    def __init__(
        self, session: AsyncSession, outbox: Outbox, *, context: Any = None, group: str = ""
    ) -> None:
        super().__init__(session, outbox, context=context, group=group)
        self.feedback = Feedback(session)
        self.routing = Routing(session)
        self.activity = Activity(session)


TransactionDep = transaction("insights")
"""A route's `uow: Annotated[InsightsUoW, TransactionDep]`: one transaction per request."""
