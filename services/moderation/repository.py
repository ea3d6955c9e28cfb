"""All SQL of the moderation service: rulesets and decisions.

Repositories are objects on the unit of work's session; they never commit (the
consumer loop or the request dependency does). Reads made for an API caller start
from `_readable(caller)`: the caller's tenant, and the key's communities.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Insert, Table, and_, func, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.moderation.tables import (
    audit_log,
    decisions,
    review_items,
    rulesets,
    sanctions,
    strikes,
)
from shared.api.auth import Principal as Caller
from shared.events.community import CommunityEventType
from shared.events.envelope import utcnow


@dataclass(frozen=True)
class StoredRuleset:
    """One version of a community's rules, as uploaded."""

    community_id: str
    version: int
    source: str
    created_at: datetime | None


def _readable(table: Table, caller: Caller) -> ColumnElement[bool]:
    """Rows of the caller's tenant, in the communities its key covers."""
    in_communities = (
        true() if caller.community_ids is None else table.c.community_id.in_(caller.community_ids)
    )
    return and_(table.c.tenant_id == caller.tenant_id, in_communities)


def _insert_ignoring_conflicts(session: AsyncSession, table: Table) -> Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


class Rulesets:
    """Every version of each community's rules; the newest is active."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active(self, caller: Caller, community_id: str) -> StoredRuleset | None:
        """The newest version of the community's rules the caller may read, or None."""
        row = (
            await self.session.execute(
                select(
                    rulesets.c.community_id,
                    rulesets.c.version,
                    rulesets.c.source,
                    rulesets.c.created_at,
                )
                .where(_readable(rulesets, caller), rulesets.c.community_id == community_id)
                .order_by(rulesets.c.version.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else StoredRuleset(*row)

    async def add(self, caller: Caller, community_id: str, source: str) -> int:
        """Store a new version of the community's rules; returns its version (1, 2, ...)."""
        latest = await self.session.scalar(
            select(func.max(rulesets.c.version)).where(
                rulesets.c.tenant_id == caller.tenant_id, rulesets.c.community_id == community_id
            )
        )
        version = (latest or 0) + 1
        await self.session.execute(
            rulesets.insert().values(
                tenant_id=caller.tenant_id,
                community_id=community_id,
                version=version,
                source=source,
                created_by=caller.key_id,
            )
        )
        return version


class Decisions:
    """One stored decision per judged event."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **values: Any) -> int | None:
        """Store a decision and answer its id; None when this event was already decided
        (nothing changes)."""
        result = await self.session.execute(
            _insert_ignoring_conflicts(self.session, decisions)
            .values(**values)
            .returning(decisions.c.id)
        )
        return result.scalar_one_or_none()

    async def recent_messages(
        self, tenant_id: str, community_id: str, author: str, *, before: datetime, seconds: int
    ) -> int:
        """Live messages the author created in the community in `seconds` up to `before`."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(decisions)
            .where(
                decisions.c.tenant_id == tenant_id,
                decisions.c.community_id == community_id,
                decisions.c.author == author,
                decisions.c.event_type == CommunityEventType.MESSAGE_CREATED.value,
                decisions.c.backfilled.is_(False),
                decisions.c.occurred_at > before - timedelta(seconds=seconds),
                decisions.c.occurred_at <= before,
            )
        )
        return int(count or 0)

    async def of_event(self, caller: Caller, subject_event_id: str) -> dict[str, Any] | None:
        """The decision on one event, if the caller may read it."""
        row = (
            (
                await self.session.execute(
                    select(decisions).where(
                        _readable(decisions, caller),
                        decisions.c.subject_event_id == subject_event_id,
                    )
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else dict(row)


PENDING = ("open", "claimed")
"""Review statuses still waiting for a moderator's decision."""


class ReviewQueue:
    """Flagged and hidden decisions waiting for a moderator, and what the moderator decided."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **values: Any) -> bool:
        """Queue a decision for review; False when it is already queued."""
        result = await self.session.execute(
            _insert_ignoring_conflicts(self.session, review_items).values(status="open", **values)
        )
        return bool(getattr(result, "rowcount", 0))

    async def page(
        self,
        caller: Caller,
        *,
        pending: bool,
        community_id: str | None,
        reason: str | None,
        queued_before: datetime | None,
        queued_after: datetime | None,
        after_id: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """One page of the caller's queue, oldest first, after the item `after_id`."""
        query = select(review_items).where(_readable(review_items, caller))
        statuses = PENDING if pending else ("decided",)
        query = query.where(review_items.c.status.in_(statuses))
        if community_id is not None:
            query = query.where(review_items.c.community_id == community_id)
        if reason is not None:
            query = query.where(
                or_(review_items.c.reason == reason, review_items.c.rule_id == reason)
            )
        if queued_before is not None:
            query = query.where(review_items.c.created_at <= queued_before)
        if queued_after is not None:
            query = query.where(review_items.c.created_at >= queued_after)
        if after_id is not None:
            query = query.where(review_items.c.id > after_id)
        rows = await self.session.execute(query.order_by(review_items.c.id).limit(limit))
        return [dict(row) for row in rows.mappings()]

    async def get(self, caller: Caller, decision_id: int) -> dict[str, Any] | None:
        """The queued item of one decision, if the caller may read it."""
        row = (
            (
                await self.session.execute(
                    select(review_items).where(
                        _readable(review_items, caller), review_items.c.decision_id == decision_id
                    )
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else dict(row)

    async def claim(self, caller: Caller, decision_id: int, at: datetime) -> bool:
        """Claim an open item (or re-claim one's own); False when someone else holds it or
        it is decided."""
        result = await self.session.execute(
            update(review_items)
            .where(
                _readable(review_items, caller),
                review_items.c.decision_id == decision_id,
                or_(
                    review_items.c.status == "open",
                    and_(
                        review_items.c.status == "claimed",
                        review_items.c.claimed_by == caller.key_id,
                    ),
                ),
            )
            .values(status="claimed", claimed_by=caller.key_id, claimed_at=at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def decide(
        self,
        caller: Caller,
        decision_id: int,
        *,
        verdict: str,
        note: str | None,
        overturned: bool,
        at: datetime,
    ) -> bool:
        """Record a moderator's verdict on a pending item that is open or claimed by the
        caller; False when it is decided already or claimed by someone else."""
        result = await self.session.execute(
            update(review_items)
            .where(
                _readable(review_items, caller),
                review_items.c.decision_id == decision_id,
                review_items.c.status.in_(PENDING),
                or_(
                    review_items.c.claimed_by.is_(None),
                    review_items.c.claimed_by == caller.key_id,
                ),
            )
            .values(
                status="decided",
                final_verdict=verdict,
                decided_by=caller.key_id,
                decided_at=at,
                note=note,
                overturned=overturned,
            )
        )
        return bool(getattr(result, "rowcount", 0))


class Strikes:
    """One strike per removed message, per member and community."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **values: Any) -> bool:
        """Give a strike; False when this message already gave one."""
        result = await self.session.execute(
            _insert_ignoring_conflicts(self.session, strikes).values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

    async def times(
        self, tenant_id: str, community_id: str, author: str, *, since: datetime
    ) -> list[datetime]:
        """When the member's strikes in the community since `since` were earned."""
        rows = await self.session.scalars(
            select(strikes.c.occurred_at).where(
                strikes.c.tenant_id == tenant_id,
                strikes.c.community_id == community_id,
                strikes.c.author == author,
                strikes.c.occurred_at > since,
            )
        )
        return list(rows)


class SanctionRecords:
    """Sanctions sent to the platforms, one per strike at most."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **values: Any) -> bool:
        """Record a sanction; False when this strike already earned one."""
        result = await self.session.execute(
            _insert_ignoring_conflicts(self.session, sanctions).values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

    async def of_member(
        self, caller: Caller, community_id: str, author: str
    ) -> list[dict[str, Any]]:
        """The member's sanctions in a community, oldest first."""
        rows = await self.session.execute(
            select(sanctions)
            .where(
                _readable(sanctions, caller),
                sanctions.c.community_id == community_id,
                sanctions.c.author == author,
            )
            .order_by(sanctions.c.id)
        )
        return [dict(row) for row in rows.mappings()]


class AuditLog:
    """Append-only: every claim, review decision, strike and sanction. Never updated."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, **values: Any) -> None:
        """Add one entry, dated now."""
        await self.session.execute(audit_log.insert().values(created_at=utcnow(), **values))

    async def page(
        self,
        caller: Caller,
        *,
        community_id: str | None,
        decision_id: int | None,
        after_id: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """One page of the entries the caller may read, oldest first, after `after_id`."""
        query = select(audit_log).where(_readable(audit_log, caller))
        if community_id is not None:
            query = query.where(audit_log.c.community_id == community_id)
        if decision_id is not None:
            query = query.where(audit_log.c.decision_id == decision_id)
        if after_id is not None:
            query = query.where(audit_log.c.id > after_id)
        rows = await self.session.execute(query.order_by(audit_log.c.id).limit(limit))
        return [dict(row) for row in rows.mappings()]
