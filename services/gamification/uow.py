"""The gamification service's unit of work: its repositories and its outbox in one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util import await_

from services.gamification.badging import Badging, Observed
from services.gamification.batch import Batch
from services.gamification.core_members import CoreDetection
from services.gamification.leaderboard import Leaderboards
from services.gamification.repository import (
    Badges,
    CoreMembers,
    Grants,
    Ledger,
    Merges,
    RecentFacts,
    Rulesets,
)
from services.gamification.simulation import FactLog
from shared.api.uow import transaction
from shared.db.consuming import UnitOfWork
from shared.db.outbox import Outbox


class GamificationUoW(UnitOfWork):
    """What gamification handlers and routes touch: `uow.ledger`, `uow.rulesets`,
    `uow.leaderboards`, `uow.outbox`, and `uow.batch`, where handlers queue their events
    to be scored together at commit."""

    def __init__(
        self, session: AsyncSession, outbox: Outbox, *, context: Any = None, group: str = ""
    ) -> None:
        super().__init__(session, outbox, context=context, group=group)
        self.ledger = Ledger(session)
        self.rulesets = Rulesets(session)
        self.badges = Badges(session)
        self.grants = Grants(session)
        self.merges = Merges(session)
        self.core_members = CoreMembers(session)
        self.recent_facts = RecentFacts(session)
        self.facts = FactLog(self.recent_facts)
        self.leaderboards = Leaderboards(session)
        self.store = Observed(session)
        self.batch = Batch(self.store, outbox)
        self.badging = Badging(session, outbox, self.store.tally)
        self.core = CoreDetection(session, outbox, self.store.tally)
        # The kit commits after the last handler of a batch; the queued events are scored
        # and written just before, inside the same transaction, then the badges of the
        # members whose points moved are judged. SQLAlchemy runs session events inside
        # its greenlet, where `await_` may wait on the async flush.
        event.listen(session.sync_session, "before_commit", self._before_commit)
        event.listen(session.sync_session, "after_commit", self._after_commit)
        event.listen(session.sync_session, "after_rollback", self._after_rollback)

    def _before_commit(self, _session: Session) -> None:
        # The session lives for this one transaction; a flush with nothing queued is a no-op.
        await_(self.batch.flush())
        await_(self.facts.flush())
        written = self.store.take()
        await_(self.badging.flush(written))
        await_(self.core.flush(written))

    def _after_commit(self, _session: Session) -> None:
        self.store.tally.publish()

    def _after_rollback(self, _session: Session) -> None:
        self.store.tally.clear()


TransactionDep = transaction("gamification")
"""A route's `uow: Annotated[GamificationUoW, TransactionDep]`: one transaction per request."""
