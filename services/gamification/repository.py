"""All SQL of the gamification service lives here: the points ledger, totals and rulesets.

Repositories are objects on the unit of work's session; they never commit (the
consumer loop or the request dependency does). Writes take the tenant the event
belongs to; reads for HTTP callers take the Caller and start from a statement
scoped by its tenant and, when the key is bound to some, its communities.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.gamification.tables import (
    communities,
    content_refs,
    ledger,
    member_totals,
    moderated,
    rulesets,
)
from shared.api.auth import Caller


def _insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT, in the dialect of the session."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _hashed(ref: str) -> str:
    return hashlib.sha256(ref.encode()).hexdigest()


@dataclass(frozen=True)
class Award:
    """What one (source event, rule, rule version) earned, and what it nets now."""

    community_id: str
    member_id: str
    rule_id: str
    rule_version: int
    points: int
    net: int
    giver_member_id: str | None
    earned_at: datetime


class Ledger:
    """The append-only ledger, the totals read model and the state of content."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- writes, for the tenant an event belongs to ----------------------------

    async def note_community(self, tenant_id: str, community_id: str) -> None:
        """Remember that the community belongs to the tenant (its first event says so)."""
        statement = _insert(self.session, communities).values(
            tenant_id=tenant_id, community_id=community_id
        )
        await self.session.execute(statement.on_conflict_do_nothing())

    async def append(self, entry: dict[str, Any]) -> bool:
        """Add one entry; False when its (event, source, rule, version) is already there."""
        statement = _insert(self.session, ledger).values(**entry).on_conflict_do_nothing()
        result = await self.session.execute(statement.returning(ledger.c.id))
        return result.first() is not None

    async def decided_rules(self, source_event_id: str) -> set[tuple[str, int]]:
        """(rule id, rule version) pairs already decided for this activity."""
        query = select(ledger.c.rule_id, ledger.c.rule_version).where(
            ledger.c.source_event_id == source_event_id,
            ledger.c.event_id == source_event_id,
        )
        return {(row.rule_id, row.rule_version) for row in await self.session.execute(query)}

    async def window_sum(
        self,
        tenant_id: str,
        community_id: str,
        member_id: str,
        start: datetime,
        end: datetime,
        *,
        rule_id: str | None = None,
        giver_member_id: str | None = None,
    ) -> int:
        """Net points the member earned in [start, end), of one rule or from one giver."""
        query = select(func.coalesce(func.sum(ledger.c.points), 0)).where(
            ledger.c.tenant_id == tenant_id,
            ledger.c.community_id == community_id,
            ledger.c.member_id == member_id,
            ledger.c.earned_at >= start,
            ledger.c.earned_at < end,
        )
        if rule_id is not None:
            query = query.where(ledger.c.rule_id == rule_id)
        if giver_member_id is not None:
            query = query.where(ledger.c.giver_member_id == giver_member_id)
        return int((await self.session.execute(query)).scalar_one())

    async def awarded_between(
        self,
        tenant_id: str,
        community_id: str,
        member_id: str,
        rule_id: str,
        start: datetime,
        end: datetime,
    ) -> bool:
        """Whether the rule gave the member points for an activity strictly inside (start, end)."""
        query = (
            select(ledger.c.id)
            .where(
                ledger.c.tenant_id == tenant_id,
                ledger.c.community_id == community_id,
                ledger.c.member_id == member_id,
                ledger.c.rule_id == rule_id,
                ledger.c.kind == "award",
                ledger.c.points > 0,
                ledger.c.earned_at > start,
                ledger.c.earned_at < end,
            )
            .limit(1)
        )
        return (await self.session.execute(query)).first() is not None

    async def add_to_total(
        self, tenant_id: str, community_id: str, member_id: str, delta: int, level_of: Any
    ) -> tuple[int, int]:
        """Add `delta` to the member's total; (points before, points after)."""
        key = (
            member_totals.c.tenant_id == tenant_id,
            member_totals.c.community_id == community_id,
            member_totals.c.member_id == member_id,
        )
        found = (
            await self.session.execute(select(member_totals.c.points).where(*key))
        ).scalar_one_or_none()
        after = (found or 0) + delta
        if found is None:
            await self.session.execute(
                member_totals.insert().values(
                    tenant_id=tenant_id,
                    community_id=community_id,
                    member_id=member_id,
                    points=after,
                    level=level_of(after),
                )
            )
        else:
            await self.session.execute(
                update(member_totals)
                .where(*key)
                .values(points=after, level=level_of(after), updated_at=func.now())
            )
        return found or 0, after

    async def awards_of(self, tenant_id: str, source_event_id: str) -> list[Award]:
        """Every award an activity earned (points > 0), with what it nets after revocations."""
        award_points = func.sum(case((ledger.c.kind == "award", ledger.c.points), else_=0))
        query = (
            select(
                ledger.c.community_id,
                ledger.c.member_id,
                ledger.c.rule_id,
                ledger.c.rule_version,
                award_points.label("awarded"),
                func.sum(ledger.c.points).label("net"),
                func.max(ledger.c.giver_member_id).label("giver"),
                func.min(ledger.c.earned_at).label("earned_at"),
            )
            .where(ledger.c.tenant_id == tenant_id, ledger.c.source_event_id == source_event_id)
            .group_by(
                ledger.c.community_id, ledger.c.member_id, ledger.c.rule_id, ledger.c.rule_version
            )
        )
        return [
            Award(
                row.community_id,
                row.member_id,
                row.rule_id,
                row.rule_version,
                int(row.awarded),
                int(row.net),
                row.giver,
                row.earned_at,
            )
            for row in await self.session.execute(query)
            if row.awarded > 0
        ]

    async def register_content(
        self, tenant_id: str, community_id: str, ref: str, source_event_id: str, *, replace: bool
    ) -> bool:
        """Name `source_event_id` as the content `ref`; True when that content is deleted.

        A message deleted before its creation arrived stays deleted. A reaction added
        again after its removal (replace) is new content that is not deleted.
        """
        key = {"tenant_id": tenant_id, "community_id": community_id, "ref": _hashed(ref)}
        statement = _insert(self.session, content_refs).values(
            **key, source_event_id=source_event_id, deleted=False
        )
        if replace:
            statement = statement.on_conflict_do_update(
                index_elements=["tenant_id", "community_id", "ref"],
                set_={"source_event_id": source_event_id, "deleted": False},
            )
        else:
            statement = statement.on_conflict_do_update(
                index_elements=["tenant_id", "community_id", "ref"],
                set_={
                    "source_event_id": func.coalesce(
                        content_refs.c.source_event_id, source_event_id
                    )
                },
            )
        await self.session.execute(statement)
        query = select(content_refs.c.deleted).where(
            *(content_refs.c[name] == value for name, value in key.items())
        )
        return bool((await self.session.execute(query)).scalar_one())

    async def mark_deleted(self, tenant_id: str, community_id: str, ref: str) -> str | None:
        """Mark the content `ref` deleted; the activity that created it, when already seen."""
        key = {"tenant_id": tenant_id, "community_id": community_id, "ref": _hashed(ref)}
        statement = _insert(self.session, content_refs).values(
            **key, source_event_id=None, deleted=True
        )
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id", "community_id", "ref"], set_={"deleted": True}
        )
        await self.session.execute(statement)
        query = select(content_refs.c.source_event_id).where(
            *(content_refs.c[name] == value for name, value in key.items())
        )
        found: str | None = (await self.session.execute(query)).scalar_one_or_none()
        return found

    async def set_moderated(self, tenant_id: str, source_event_id: str, *, removed: bool) -> None:
        """Record that moderation removed (or restored) the content of an activity."""
        statement = _insert(self.session, moderated).values(
            tenant_id=tenant_id, source_event_id=source_event_id, removed=removed
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "source_event_id"], set_={"removed": removed}
            )
        )

    async def is_revoked(self, tenant_id: str, source_event_id: str) -> bool:
        """Whether the activity's content is deleted or removed by moderation."""
        removed = select(moderated.c.source_event_id).where(
            moderated.c.tenant_id == tenant_id,
            moderated.c.source_event_id == source_event_id,
            moderated.c.removed.is_(True),
        )
        deleted = select(content_refs.c.source_event_id).where(
            content_refs.c.tenant_id == tenant_id,
            content_refs.c.source_event_id == source_event_id,
            content_refs.c.deleted.is_(True),
        )
        query = removed.union_all(deleted).limit(1)
        return (await self.session.execute(query)).first() is not None

    # --- reads, scoped by the caller ------------------------------------------

    async def community_known(self, caller: Caller, community_id: str) -> bool:
        """Whether the caller's tenant has had activity in this community."""
        if not caller.can_access_community(community_id):
            return False
        query = select(communities.c.community_id).where(
            communities.c.tenant_id == caller.tenant_id,
            communities.c.community_id == community_id,
        )
        return (await self.session.execute(query)).first() is not None

    def _readable_totals(self, caller: Caller) -> Select[Any]:
        query = select(member_totals).where(member_totals.c.tenant_id == caller.tenant_id)
        if caller.community_ids is not None:
            query = query.where(member_totals.c.community_id.in_(sorted(caller.community_ids)))
        return query

    async def totals_of(self, caller: Caller, member_id: str) -> list[Any]:
        """The member's totals in every community the caller may read."""
        query = (
            self._readable_totals(caller)
            .where(member_totals.c.member_id == member_id)
            .order_by(member_totals.c.community_id)
        )
        return list(await self.session.execute(query))

    async def top_all_time(
        self,
        caller: Caller,
        community_id: str,
        *,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[tuple[str, int]]:
        """(member, points) by points then member id, after a (points, member) position."""
        query = self._readable_totals(caller).where(
            member_totals.c.community_id == community_id, member_totals.c.points > 0
        )
        if after is not None:
            points, member = after
            query = query.where(
                or_(
                    member_totals.c.points < points,
                    and_(member_totals.c.points == points, member_totals.c.member_id > member),
                )
            )
        query = query.order_by(member_totals.c.points.desc(), member_totals.c.member_id).limit(
            limit
        )
        return [(row.member_id, int(row.points)) for row in await self.session.execute(query)]

    async def top_in_period(
        self,
        caller: Caller,
        community_id: str,
        start: datetime,
        end: datetime,
        *,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[tuple[str, int]]:
        """(member, points earned in [start, end)), ordered like top_all_time."""
        if not caller.can_access_community(community_id):
            return []
        total = func.sum(ledger.c.points)
        query = (
            select(ledger.c.member_id, total.label("points"))
            .where(
                ledger.c.tenant_id == caller.tenant_id,
                ledger.c.community_id == community_id,
                ledger.c.earned_at >= start,
                ledger.c.earned_at < end,
            )
            .group_by(ledger.c.member_id)
            .having(total > 0)
        )
        if after is not None:
            points, member = after
            query = query.having(
                or_(total < points, and_(total == points, ledger.c.member_id > member))
            )
        query = query.order_by(total.desc(), ledger.c.member_id).limit(limit)
        return [(row.member_id, int(row.points)) for row in await self.session.execute(query)]


@dataclass(frozen=True)
class StoredRuleset:
    """A ruleset as stored: its YAML source, version and when it takes effect."""

    version: int
    source: str
    effective_from: datetime


class Rulesets:
    """Versioned rulesets per community."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def in_force(
        self, tenant_id: str, community_id: str, at: datetime
    ) -> StoredRuleset | None:
        """The latest version effective at `at`; None while only the default applies."""
        query = (
            select(rulesets.c.version, rulesets.c.source, rulesets.c.effective_from)
            .where(
                rulesets.c.tenant_id == tenant_id,
                rulesets.c.community_id == community_id,
                rulesets.c.effective_from <= at,
            )
            .order_by(rulesets.c.version.desc())
            .limit(1)
        )
        row = (await self.session.execute(query)).first()
        return StoredRuleset(row.version, row.source, row.effective_from) if row else None

    async def add(
        self, caller: Caller, community_id: str, source: str, effective_from: datetime
    ) -> int:
        """Store a new version for the caller's community; its number."""
        latest = select(func.coalesce(func.max(rulesets.c.version), 0)).where(
            rulesets.c.tenant_id == caller.tenant_id, rulesets.c.community_id == community_id
        )
        version = int((await self.session.execute(latest)).scalar_one()) + 1
        await self.session.execute(
            rulesets.insert().values(
                tenant_id=caller.tenant_id,
                community_id=community_id,
                version=version,
                source=source,
                effective_from=effective_from,
                created_by=caller.key_id,
            )
        )
        return version

    async def versions(self, caller: Caller, community_id: str) -> Sequence[Any]:
        """Every stored version of the caller's community, newest first."""
        query = (
            select(rulesets.c.version, rulesets.c.effective_from, rulesets.c.created_at)
            .where(
                rulesets.c.tenant_id == caller.tenant_id, rulesets.c.community_id == community_id
            )
            .order_by(rulesets.c.version.desc())
        )
        return list(await self.session.execute(query))
