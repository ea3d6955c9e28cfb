"""SQL of community activity: who was active when, poll answers, questions, moderation.

The third seam of the service's tables (clusters: repository.py; routing:
repository_routing.py). Nothing here commits; reads for an API caller take the caller's
tenant and are checked against its communities by the route.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.insights.tables import (
    core_members,
    member_days,
    members_seen,
    moderation_days,
    poll_answers,
    questions,
    retrospectives,
)


class Activity:
    """Activity, polls, questions and moderation counts, inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _insert(self, table: Table) -> Any:
        dialect = self.session.get_bind().dialect.name
        return (postgresql if dialect == "postgresql" else sqlite).insert(table)

    async def touch(
        self, tenant_id: str, community_id: str, member: str, at: datetime, *, message: bool
    ) -> None:
        """Count one event of a member on its UTC day; keep first and last seen."""
        seen = self._insert(members_seen).values(
            tenant_id=tenant_id, community_id=community_id, member=member, first_at=at, last_at=at
        )
        await self.session.execute(
            seen.on_conflict_do_update(
                index_elements=["tenant_id", "community_id", "member"],
                set_={
                    "first_at": func.min(members_seen.c.first_at, seen.excluded.first_at)
                    if self._sqlite
                    else func.least(members_seen.c.first_at, seen.excluded.first_at),
                    "last_at": func.max(members_seen.c.last_at, seen.excluded.last_at)
                    if self._sqlite
                    else func.greatest(members_seen.c.last_at, seen.excluded.last_at),
                },
            )
        )
        day = self._insert(member_days).values(
            tenant_id=tenant_id,
            community_id=community_id,
            member=member,
            day=at.date(),
            events=1,
            messages=int(message),
        )
        await self.session.execute(
            day.on_conflict_do_update(
                index_elements=["tenant_id", "community_id", "member", "day"],
                set_={
                    "events": member_days.c.events + 1,
                    "messages": member_days.c.messages + int(message),
                },
            )
        )

    @property
    def _sqlite(self) -> bool:
        return self.session.get_bind().dialect.name != "postgresql"

    async def record_answer(self, **values: Any) -> None:
        """Keep a voter's answer unless a later one is recorded (a changed vote replaces)."""
        row = self._insert(poll_answers).values(**values)
        await self.session.execute(
            row.on_conflict_do_update(
                index_elements=["tenant_id", "community_id", "poll_id", "voter"],
                set_={
                    name: row.excluded[name]
                    for name in ("source", "options", "text", "event_id", "answered_at")
                },
                where=poll_answers.c.answered_at <= row.excluded.answered_at,
            )
        )

    async def polls_of(self, tenant_id: str, community_id: str) -> list[RowMapping]:
        """Each poll of the community: id, source, answers, first and last answer."""
        t = poll_answers
        rows = await self.session.execute(
            select(
                t.c.poll_id,
                func.min(t.c.source).label("source"),
                func.count().label("answers"),
                func.min(t.c.answered_at).label("first_at"),
                func.max(t.c.answered_at).label("last_at"),
            )
            .where(t.c.tenant_id == tenant_id, t.c.community_id == community_id)
            .group_by(t.c.poll_id)
            .order_by(func.max(t.c.answered_at).desc(), t.c.poll_id)
        )
        return list(rows.mappings())

    async def answers_of(self, tenant_id: str, community_id: str, poll_id: str) -> list[RowMapping]:
        """Every voter's latest answer to one poll, oldest first."""
        t = poll_answers
        rows = await self.session.execute(
            select(t)
            .where(
                t.c.tenant_id == tenant_id, t.c.community_id == community_id, t.c.poll_id == poll_id
            )
            .order_by(t.c.answered_at, t.c.voter)
        )
        return list(rows.mappings())

    async def first_seen(
        self, tenant_id: str, community_id: str, members: Sequence[str] | None = None
    ) -> dict[str, datetime]:
        """When each member (all, or those named) was first seen in the community."""
        t = members_seen
        statement = select(t.c.member, t.c.first_at).where(
            t.c.tenant_id == tenant_id, t.c.community_id == community_id
        )
        if members is not None:
            statement = statement.where(t.c.member.in_(list(members)))
        return {r.member: r.first_at for r in await self.session.execute(statement)}

    async def add_question(self, **values: Any) -> None:
        """A question, waiting for its first reply (a repeat of it is a no-op)."""
        row = self._insert(questions).values(**values)
        await self.session.execute(row.on_conflict_do_nothing())

    async def answer_question(
        self,
        tenant_id: str,
        community_id: str,
        platform: str,
        parent: str,
        replier: str,
        at: datetime,
    ) -> None:
        """A reply by someone other than the asker answers a question not yet answered."""
        t = questions
        await self.session.execute(
            update(t)
            .where(
                t.c.tenant_id == tenant_id,
                t.c.community_id == community_id,
                t.c.platform == platform,
                t.c.source_event_id == parent,
                t.c.asker != replier,
                t.c.answered_at.is_(None),
                t.c.asked_at <= at,
            )
            .values(answered_at=at)
        )

    async def count_moderation(
        self, tenant_id: str, community_id: str, day: date, outcome: str
    ) -> None:
        """One more moderation outcome on a day."""
        row = self._insert(moderation_days).values(
            tenant_id=tenant_id, community_id=community_id, day=day, outcome=outcome, count=1
        )
        await self.session.execute(
            row.on_conflict_do_update(
                index_elements=["tenant_id", "community_id", "day", "outcome"],
                set_={"count": moderation_days.c.count + 1},
            )
        )

    async def days_between(
        self, tenant_id: str, community_id: str, start: date, end: date
    ) -> list[RowMapping]:
        """Member-days of the community with `start <= day < end`."""
        t = member_days
        rows = await self.session.execute(
            select(t.c.member, t.c.day, t.c.events, t.c.messages).where(
                t.c.tenant_id == tenant_id,
                t.c.community_id == community_id,
                t.c.day >= start,
                t.c.day < end,
            )
        )
        return list(rows.mappings())

    async def questions_between(
        self, tenant_id: str, community_id: str, start: datetime, end: datetime
    ) -> list[RowMapping]:
        """Questions asked in `[start, end)`, with when they were first answered."""
        t = questions
        rows = await self.session.execute(
            select(t.c.asked_at, t.c.answered_at).where(
                t.c.tenant_id == tenant_id,
                t.c.community_id == community_id,
                t.c.asked_at >= start,
                t.c.asked_at < end,
            )
        )
        return list(rows.mappings())

    async def moderation_between(
        self, tenant_id: str, community_id: str, start: date, end: date
    ) -> dict[str, int]:
        """Moderation outcomes counted in `[start, end)`."""
        t = moderation_days
        rows = await self.session.execute(
            select(t.c.outcome, func.sum(t.c.count).label("n"))
            .where(
                t.c.tenant_id == tenant_id,
                t.c.community_id == community_id,
                t.c.day >= start,
                t.c.day < end,
            )
            .group_by(t.c.outcome)
        )
        return {r.outcome: int(r.n) for r in rows}

    async def core_changes_between(
        self, tenant_id: str, community_id: str, start: datetime, end: datetime
    ) -> list[RowMapping]:
        """Members whose latest core change falls in `[start, end)`: joined (core) or left."""
        t = core_members
        rows = await self.session.execute(
            select(t.c.member_id, t.c.core)
            .where(
                t.c.tenant_id == tenant_id,
                t.c.community_id == community_id,
                t.c.changed_at >= start,
                t.c.changed_at < end,
            )
            .order_by(t.c.member_id)
        )
        return list(rows.mappings())

    async def communities_active_between(self, start: date, end: date) -> list[tuple[str, str]]:
        """(tenant, community) pairs with activity in `[start, end)`: Hearth's own work."""
        t = member_days
        rows = await self.session.execute(
            select(t.c.tenant_id, t.c.community_id)
            .where(t.c.day >= start, t.c.day < end)
            .group_by(t.c.tenant_id, t.c.community_id)
            .order_by(t.c.tenant_id, t.c.community_id)
        )
        return [(r.tenant_id, r.community_id) for r in rows]

    async def store_retrospective(
        self, tenant_id: str, community_id: str, period: str, body: dict[str, Any]
    ) -> bool:
        """Keep a published retrospective; False when that month was already published."""
        row = self._insert(retrospectives).values(
            tenant_id=tenant_id, community_id=community_id, period=period, body=body
        )
        done = await self.session.execute(
            row.on_conflict_do_nothing().returning(retrospectives.c.period)
        )
        return done.first() is not None

    async def published_periods(self, tenant_id: str, community_id: str) -> set[str]:
        """Months already published for a community."""
        t = retrospectives
        rows = await self.session.execute(
            select(t.c.period).where(t.c.tenant_id == tenant_id, t.c.community_id == community_id)
        )
        return set(rows.scalars())

    async def retrospectives_of(self, tenant_id: str, community_id: str) -> list[RowMapping]:
        """The community's published retrospectives, newest month first."""
        t = retrospectives
        rows = await self.session.execute(
            select(t)
            .where(t.c.tenant_id == tenant_id, t.c.community_id == community_id)
            .order_by(t.c.period.desc())
        )
        return list(rows.mappings())
