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
    appeals,
    audit_log,
    conflict_alerts,
    decisions,
    recent_messages,
    reports,
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


def _may_replace(column: Any, outcome: str) -> ColumnElement[bool]:
    """Whether an action's new result replaces the stored one: `done` is final, and
    `no_binding` (an ingest without this community's binding) only fills an empty one."""
    if outcome == "no_binding":
        return column.is_(None)
    return or_(column.is_(None), column != "done")


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

    async def escalate(
        self, tenant_id: str, decision_id: int, *, auto_verdict: str, rule_id: str, reason: str
    ) -> bool:
        """Raise a pending item's automatic verdict (members' reports hid a flagged
        message); False when it is decided already."""
        result = await self.session.execute(
            update(review_items)
            .where(
                review_items.c.tenant_id == tenant_id,
                review_items.c.decision_id == decision_id,
                review_items.c.status.in_(PENDING),
            )
            .values(auto_verdict=auto_verdict, rule_id=rule_id, reason=reason)
        )
        return bool(getattr(result, "rowcount", 0))

    async def depth(self) -> tuple[int, datetime | None]:
        """Items waiting for a moderator in every tenant, and when the oldest was queued
        (for the queue gauges, which carry no tenant or community label)."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(review_items.c.created_at)).where(
                    review_items.c.status.in_(PENDING)
                )
            )
        ).one()
        return int(row[0] or 0), row[1]

    async def reviewed(
        self,
        caller: Caller,
        *,
        community_id: str | None,
        overturned_only: bool,
        after_id: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Decided items with the message's text where the recent window still holds it,
        oldest first: labelled examples for retraining."""
        query = (
            select(review_items, recent_messages.c.text)
            .join(
                recent_messages,
                and_(
                    recent_messages.c.tenant_id == review_items.c.tenant_id,
                    recent_messages.c.subject_event_id == review_items.c.subject_event_id,
                ),
            )
            .where(_readable(review_items, caller), review_items.c.status == "decided")
        )
        if community_id is not None:
            query = query.where(review_items.c.community_id == community_id)
        if overturned_only:
            query = query.where(review_items.c.overturned.is_(True))
        if after_id is not None:
            query = query.where(review_items.c.id > after_id)
        rows = await self.session.execute(query.order_by(review_items.c.id).limit(limit))
        return [dict(row) for row in rows.mappings()]

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

    async def withdraw(self, tenant_id: str, subject_event_id: str) -> bool:
        """Take back the strike a message gave (a reversed appeal); the audit log keeps it."""
        result = await self.session.execute(
            strikes.delete().where(
                strikes.c.tenant_id == tenant_id, strikes.c.subject_event_id == subject_event_id
            )
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

    async def record_result(
        self, tenant_id: str, action_id: str, *, result: str, detail: str, at: datetime
    ) -> bool:
        """Note what the platform did with the sanction's action; False when no sanction
        sent it."""
        outcome = await self.session.execute(
            update(sanctions)
            .where(
                sanctions.c.tenant_id == tenant_id,
                sanctions.c.action_id == action_id,
                _may_replace(sanctions.c.result, result),
            )
            .values(result=result, result_detail=detail[:500], result_at=at)
        )
        return bool(getattr(outcome, "rowcount", 0))

    async def get(self, caller: Caller, sanction_id: int) -> dict[str, Any] | None:
        """One sanction, if the caller may read it."""
        row = (
            (
                await self.session.execute(
                    select(sanctions).where(
                        _readable(sanctions, caller), sanctions.c.id == sanction_id
                    )
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else dict(row)

    async def page(
        self,
        caller: Caller,
        *,
        community_id: str | None,
        author: str | None,
        after_id: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """One page of the sanctions the caller may read, oldest first, after `after_id`."""
        query = select(sanctions).where(_readable(sanctions, caller))
        if community_id is not None:
            query = query.where(sanctions.c.community_id == community_id)
        if author is not None:
            query = query.where(sanctions.c.author == author)
        if after_id is not None:
            query = query.where(sanctions.c.id > after_id)
        rows = await self.session.execute(query.order_by(sanctions.c.id).limit(limit))
        return [dict(row) for row in rows.mappings()]

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


class Appeals:
    """One appeal per sanction, and the moderator's outcome."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **values: Any) -> int | None:
        """File an appeal; its id, or None when the sanction was appealed already."""
        result = await self.session.execute(
            _insert_ignoring_conflicts(self.session, appeals)
            .values(status="open", **values)
            .returning(appeals.c.id)
        )
        return result.scalar_one_or_none()

    async def get(self, caller: Caller, appeal_id: int) -> dict[str, Any] | None:
        """One appeal, if the caller may read it."""
        row = (
            (
                await self.session.execute(
                    select(appeals).where(_readable(appeals, caller), appeals.c.id == appeal_id)
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else dict(row)

    async def of_sanction(self, caller: Caller, sanction_id: int) -> dict[str, Any] | None:
        """The appeal of a sanction, if any."""
        row = (
            (
                await self.session.execute(
                    select(appeals).where(
                        _readable(appeals, caller), appeals.c.sanction_id == sanction_id
                    )
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else dict(row)

    async def decide(
        self,
        caller: Caller,
        appeal_id: int,
        *,
        status: str,
        note: str | None,
        action_id: str | None,
        at: datetime,
    ) -> bool:
        """Record the outcome of an open appeal; False when it was decided already."""
        result = await self.session.execute(
            update(appeals)
            .where(
                _readable(appeals, caller), appeals.c.id == appeal_id, appeals.c.status == "open"
            )
            .values(
                status=status,
                note=note,
                action_id=action_id,
                decided_by=caller.key_id,
                decided_at=at,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def record_result(
        self, tenant_id: str, action_id: str, *, result: str, detail: str, at: datetime
    ) -> bool:
        """Note what the platform did with a reversal's unmute or unban."""
        outcome = await self.session.execute(
            update(appeals)
            .where(
                appeals.c.tenant_id == tenant_id,
                appeals.c.action_id == action_id,
                _may_replace(appeals.c.result, result),
            )
            .values(result=result, result_detail=detail[:500], result_at=at)
        )
        return bool(getattr(outcome, "rowcount", 0))

    async def page(
        self,
        caller: Caller,
        *,
        community_id: str | None,
        status: str | None,
        after_id: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """One page of the appeals the caller may read, oldest first."""
        query = select(appeals).where(_readable(appeals, caller))
        if community_id is not None:
            query = query.where(appeals.c.community_id == community_id)
        if status is not None:
            query = query.where(appeals.c.status == status)
        if after_id is not None:
            query = query.where(appeals.c.id > after_id)
        rows = await self.session.execute(query.order_by(appeals.c.id).limit(limit))
        return [dict(row) for row in rows.mappings()]


class Reports:
    """Members' reports of messages, one per reporter and message."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **values: Any) -> bool:
        """Record a report; False when this member reported this message already."""
        result = await self.session.execute(
            _insert_ignoring_conflicts(self.session, reports).values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

    async def reporters(self, tenant_id: str, subject_event_id: str) -> int:
        """How many distinct members reported the message."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(reports)
            .where(reports.c.tenant_id == tenant_id, reports.c.subject_event_id == subject_event_id)
        )
        return int(count or 0)


class RecentMessages:
    """A bounded window of each community's recent live messages, for dry runs and
    conflict detection."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, keep: int, **values: Any) -> None:
        """Remember a message and drop the community's messages older than its newest
        `keep`."""
        result = await self.session.execute(
            _insert_ignoring_conflicts(self.session, recent_messages)
            .values(**values)
            .returning(recent_messages.c.id)
        )
        if result.scalar_one_or_none() is None:
            return
        where = (
            recent_messages.c.tenant_id == values["tenant_id"],
            recent_messages.c.community_id == values["community_id"],
        )
        newest_dropped = await self.session.scalar(
            select(recent_messages.c.id)
            .where(*where)
            .order_by(recent_messages.c.id.desc())
            .offset(keep)
            .limit(1)
        )
        if newest_dropped is not None:
            await self.session.execute(
                recent_messages.delete().where(*where, recent_messages.c.id <= newest_dropped)
            )

    async def latest(self, caller: Caller, community_id: str, limit: int) -> list[dict[str, Any]]:
        """The community's newest messages, newest first."""
        rows = await self.session.execute(
            select(recent_messages)
            .where(
                _readable(recent_messages, caller), recent_messages.c.community_id == community_id
            )
            .order_by(recent_messages.c.id.desc())
            .limit(limit)
        )
        return [dict(row) for row in rows.mappings()]

    async def window(
        self, tenant_id: str, community_id: str, scope: str, *, since: datetime, until: datetime
    ) -> list[dict[str, Any]]:
        """Who wrote what verdict and toxicity in one channel or thread in (since, until]."""
        rows = await self.session.execute(
            select(
                recent_messages.c.author,
                recent_messages.c.reply_to,
                recent_messages.c.toxicity,
                recent_messages.c.verdict,
            ).where(
                recent_messages.c.tenant_id == tenant_id,
                recent_messages.c.community_id == community_id,
                recent_messages.c.scope == scope,
                recent_messages.c.occurred_at > since,
                recent_messages.c.occurred_at <= until,
            )
        )
        return [dict(row) for row in rows.mappings()]


class ConflictAlerts:
    """Alerts sent, one per community, kind, scope and window bucket."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **values: Any) -> bool:
        """Record an alert; False when this bucket already had one."""
        result = await self.session.execute(
            _insert_ignoring_conflicts(self.session, conflict_alerts).values(**values)
        )
        return bool(getattr(result, "rowcount", 0))


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
        action: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """One page of the entries the caller may read, oldest first, after `after_id`."""
        query = select(audit_log).where(_readable(audit_log, caller))
        if community_id is not None:
            query = query.where(audit_log.c.community_id == community_id)
        if decision_id is not None:
            query = query.where(audit_log.c.decision_id == decision_id)
        if action is not None:
            query = query.where(audit_log.c.action == action)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if since is not None:
            query = query.where(audit_log.c.created_at >= since)
        if until is not None:
            query = query.where(audit_log.c.created_at < until)
        if after_id is not None:
            query = query.where(audit_log.c.id > after_id)
        rows = await self.session.execute(query.order_by(audit_log.c.id).limit(limit))
        return [dict(row) for row in rows.mappings()]
