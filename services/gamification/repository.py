"""All SQL of the gamification service lives here: the points ledger, totals and rulesets.

Repositories are objects on the unit of work's session; they never commit (the
consumer loop or the request dependency does). Writes take the tenant the event
belongs to; reads for HTTP callers take the Caller and start from a statement
scoped by its tenant and, when the key is bound to some, its communities.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.gamification.tables import (
    communities,
    content_refs,
    core_evaluations,
    core_members,
    ledger,
    manual_grants,
    member_badges,
    member_merges,
    member_totals,
    merged_lines,
    moderated,
    recent_facts,
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
    """Reads of the ledger and its totals for HTTP callers, scoped by the caller."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # Writes happen a batch at a time: see BatchStore below.

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


@dataclass(frozen=True)
class ContentState:
    """A content reference as stored: the activity it names and whether it is deleted."""

    tenant_id: str
    community_id: str
    ref: str
    """sha256 of the reference (see `hashed_ref`)."""
    source_event_id: str | None
    deleted: bool


def hashed_ref(ref: str) -> str:
    """How a content reference is stored (member-visible ids are never kept in clear)."""
    return _hashed(ref)


_CHUNK = 1000  # rows per multi-row statement, well under PostgreSQL's 32,767 parameters


def _chunks(rows: Sequence[Any]) -> list[Sequence[Any]]:
    return [rows[start : start + _CHUNK] for start in range(0, len(rows), _CHUNK)]


def _grouped(keys: Collection[tuple[str, ...]]) -> list[tuple[tuple[str, ...], Sequence[str]]]:
    """Keys grouped by all but their last part, in chunks: (prefix, last parts)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for key in sorted(keys):
        groups.setdefault(key[:-1], []).append(key[-1])
    return [(prefix, chunk) for prefix, values in groups.items() for chunk in _chunks(values)]


class BatchStore:
    """Bulk reads and writes for one consumer batch: a few statements per batch, not per event.

    What a batch reads it reads once (rulesets, content states, the ledger lines of the
    activities it touches, the members' recent ledger window); what it writes it writes
    with multi-row statements at the end of the batch's transaction.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def rulesets_of(
        self, communities_: set[tuple[str, str]]
    ) -> dict[tuple[str, str], list[StoredRuleset]]:
        """Every stored version of each community, newest first."""
        found: dict[tuple[str, str], list[StoredRuleset]] = {key: [] for key in communities_}
        if not communities_:
            return found
        query = (
            select(
                rulesets.c.tenant_id,
                rulesets.c.community_id,
                rulesets.c.version,
                rulesets.c.source,
                rulesets.c.effective_from,
            )
            .where(tuple_(rulesets.c.tenant_id, rulesets.c.community_id).in_(sorted(communities_)))
            .order_by(rulesets.c.version.desc())
        )
        for row in await self.session.execute(query):
            found[(row.tenant_id, row.community_id)].append(
                StoredRuleset(row.version, row.source, _utc(row.effective_from))
            )
        return found

    async def content(
        self, refs: set[tuple[str, str, str]], sources: set[tuple[str, str]]
    ) -> list[ContentState]:
        """Stored states of these (tenant, community, hashed ref)s and of these activities."""
        columns = (
            content_refs.c.tenant_id,
            content_refs.c.community_id,
            content_refs.c.ref,
            content_refs.c.source_event_id,
            content_refs.c.deleted,
        )
        found: list[ContentState] = []
        # One IN list per community (its primary key) and per tenant (the source index).
        for (tenant_id, community_id), chunk in _grouped(refs):
            query = select(*columns).where(
                content_refs.c.tenant_id == tenant_id,
                content_refs.c.community_id == community_id,
                content_refs.c.ref.in_(chunk),
            )
            found += [ContentState(*row) for row in await self.session.execute(query)]
        for (tenant_id,), chunk in _grouped(sources):
            query = select(*columns).where(
                content_refs.c.tenant_id == tenant_id, content_refs.c.source_event_id.in_(chunk)
            )
            found += [ContentState(*row) for row in await self.session.execute(query)]
        return found

    async def moderated_of(self, sources: set[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        """(tenant, activity) → removed, for those moderation has judged."""
        found: dict[tuple[str, str], bool] = {}
        for (tenant_id,), chunk in _grouped(sources):
            query = select(moderated.c.source_event_id, moderated.c.removed).where(
                moderated.c.tenant_id == tenant_id, moderated.c.source_event_id.in_(chunk)
            )
            for row in await self.session.execute(query):
                found[(tenant_id, row.source_event_id)] = bool(row.removed)
        return found

    async def lines_of(self, sources: set[tuple[str, str]]) -> list[dict[str, Any]]:
        """Every ledger line of these (tenant, activity)s."""
        found: list[dict[str, Any]] = []
        for (tenant_id,), chunk in _grouped(sources):
            query = (
                select(*_LINE)
                .where(ledger.c.tenant_id == tenant_id, ledger.c.source_event_id.in_(chunk))
                .order_by(ledger.c.id)
            )
            found += [dict(row._mapping) for row in await self.session.execute(query)]
        return found

    async def member_lines(
        self, tenant_id: str, community_id: str, members: set[str], start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """The members' ledger lines earned in [start, end): what their caps and cooldowns see."""
        found: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(members)):
            query = select(*_LINE).where(
                ledger.c.tenant_id == tenant_id,
                ledger.c.community_id == community_id,
                ledger.c.member_id.in_(chunk),
                ledger.c.earned_at >= start,
                ledger.c.earned_at < end,
            )
            found += [dict(row._mapping) for row in await self.session.execute(query)]
        return found

    async def note_communities(self, keys: set[tuple[str, str]]) -> None:
        """Remember which tenant each community belongs to."""
        rows = [{"tenant_id": t, "community_id": c} for t, c in sorted(keys)]
        if rows:
            statement = _insert(self.session, communities).on_conflict_do_nothing()
            await self.session.execute(statement, rows)

    async def save_content(self, states: list[ContentState]) -> None:
        """Store content states as the batch left them (sorted, so replicas lock in order)."""
        rows = [
            {
                "tenant_id": s.tenant_id,
                "community_id": s.community_id,
                "ref": s.ref,
                "source_event_id": s.source_event_id,
                "deleted": s.deleted,
            }
            for s in sorted(states, key=lambda s: (s.tenant_id, s.community_id, s.ref))
        ]
        if rows:
            statement = _insert(self.session, content_refs)
            statement = statement.on_conflict_do_update(
                index_elements=["tenant_id", "community_id", "ref"],
                set_={
                    "source_event_id": statement.excluded.source_event_id,
                    "deleted": statement.excluded.deleted,
                },
            )
            await self.session.execute(statement, rows)

    async def save_moderated(self, states: dict[tuple[str, str], bool]) -> None:
        rows = [
            {"tenant_id": t, "source_event_id": s, "removed": removed}
            for (t, s), removed in sorted(states.items())
        ]
        if rows:
            statement = _insert(self.session, moderated)
            statement = statement.on_conflict_do_update(
                index_elements=["tenant_id", "source_event_id"],
                set_={"removed": statement.excluded.removed},
            )
            await self.session.execute(statement, rows)

    async def append(self, entries: list[dict[str, Any]]) -> set[tuple[str, str, str, int]]:
        """Add the lines; the keys of those that were not there yet (the rest changed nothing)."""
        new: set[tuple[str, str, str, int]] = set()
        key = (ledger.c.event_id, ledger.c.source_event_id, ledger.c.rule_id, ledger.c.rule_version)
        if entries:
            # Executed as multi-row INSERTs (SQLAlchemy's insertmanyvalues), compiled once.
            statement = _insert(self.session, ledger).on_conflict_do_nothing().returning(*key)
            new |= {tuple(row) for row in await self.session.execute(statement, entries)}
        return new

    async def add_to_totals(
        self, deltas: dict[tuple[str, str, str], int]
    ) -> dict[tuple[str, str, str], int]:
        """Add each member's delta to their total, atomically; the totals after."""
        after: dict[tuple[str, str, str], int] = {}
        rows = [
            {"tenant_id": t, "community_id": c, "member_id": m, "points": d, "level": 0}
            for (t, c, m), d in sorted(deltas.items())
        ]
        if rows:
            statement = _insert(self.session, member_totals)
            statement = statement.on_conflict_do_update(
                index_elements=["tenant_id", "community_id", "member_id"],
                set_={
                    "points": member_totals.c.points + statement.excluded.points,
                    "updated_at": func.now(),
                },
            ).returning(
                member_totals.c.tenant_id,
                member_totals.c.community_id,
                member_totals.c.member_id,
                member_totals.c.points,
            )
            for row in await self.session.execute(statement, rows):
                after[(row.tenant_id, row.community_id, row.member_id)] = int(row.points)
        return after

    async def set_levels(self, levels_: dict[tuple[str, str, str], int]) -> None:
        """Store the level of members whose level moved."""
        if not levels_:
            return
        statement = (
            update(member_totals)
            .where(
                member_totals.c.tenant_id == bindparam("t"),
                member_totals.c.community_id == bindparam("c"),
                member_totals.c.member_id == bindparam("m"),
            )
            .values(level=bindparam("new_level"))
        )
        await self.session.execute(
            statement.execution_options(synchronize_session=False),
            [
                {"t": t, "c": c, "m": m, "new_level": lv}
                for (t, c, m), lv in sorted(levels_.items())
            ],
        )


_LINE = (
    ledger.c.tenant_id,
    ledger.c.community_id,
    ledger.c.member_id,
    ledger.c.event_id,
    ledger.c.source_event_id,
    ledger.c.rule_id,
    ledger.c.rule_version,
    ledger.c.kind,
    ledger.c.points,
    ledger.c.giver_member_id,
    ledger.c.earned_at,
    ledger.c.channel_id,
)


def _utc(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@dataclass(frozen=True)
class HeldBadge:
    """A badge tier as stored for a member."""

    member_id: str
    badge_id: str
    tier: str
    held: bool
    generation: int
    awarded_at: datetime


class Badges:
    """What badges are judged on (a member's totals, points per rule, earnings) and the
    badges members hold. Reads for the service take the tenant; `of_member` the Caller."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def totals(self, tenant_id: str, community_id: str, members: set[str]) -> dict[str, int]:
        """member → total points."""
        found: dict[str, int] = {}
        for chunk in _chunks(sorted(members)):
            query = select(member_totals.c.member_id, member_totals.c.points).where(
                member_totals.c.tenant_id == tenant_id,
                member_totals.c.community_id == community_id,
                member_totals.c.member_id.in_(chunk),
            )
            found.update(
                {row.member_id: int(row.points) for row in await self.session.execute(query)}
            )
        return found

    async def points_by_rule(
        self, tenant_id: str, community_id: str, members: set[str]
    ) -> dict[str, dict[str, int]]:
        """member → rule → net points, over all time."""
        found: dict[str, dict[str, int]] = {}
        for chunk in _chunks(sorted(members)):
            total = func.sum(ledger.c.points)
            query = (
                select(ledger.c.member_id, ledger.c.rule_id, total.label("points"))
                .where(
                    ledger.c.tenant_id == tenant_id,
                    ledger.c.community_id == community_id,
                    ledger.c.member_id.in_(chunk),
                )
                .group_by(ledger.c.member_id, ledger.c.rule_id)
            )
            for row in await self.session.execute(query):
                found.setdefault(row.member_id, {})[row.rule_id] = int(row.points)
        return found

    async def earnings(
        self, tenant_id: str, community_id: str, members: set[str], start: datetime, end: datetime
    ) -> dict[str, list[tuple[str, datetime, int]]]:
        """member → (rule, earned at, net points) per activity earned in [start, end)."""
        found: dict[str, list[tuple[str, datetime, int]]] = {}
        for chunk in _chunks(sorted(members)):
            total = func.sum(ledger.c.points)
            query = (
                select(
                    ledger.c.member_id,
                    ledger.c.rule_id,
                    func.min(ledger.c.earned_at).label("earned_at"),
                    total.label("points"),
                )
                .where(
                    ledger.c.tenant_id == tenant_id,
                    ledger.c.community_id == community_id,
                    ledger.c.member_id.in_(chunk),
                    ledger.c.earned_at >= start,
                    ledger.c.earned_at < end,
                )
                .group_by(ledger.c.member_id, ledger.c.source_event_id, ledger.c.rule_id)
            )
            for row in await self.session.execute(query):
                found.setdefault(row.member_id, []).append(
                    (row.rule_id, _utc(row.earned_at), int(row.points))
                )
        return found

    async def held(
        self, tenant_id: str, community_id: str, members: set[str]
    ) -> dict[str, list[HeldBadge]]:
        """member → their badge rows (held or withdrawn)."""
        found: dict[str, list[HeldBadge]] = {}
        for chunk in _chunks(sorted(members)):
            query = select(
                member_badges.c.member_id,
                member_badges.c.badge_id,
                member_badges.c.tier,
                member_badges.c.held,
                member_badges.c.generation,
                member_badges.c.awarded_at,
            ).where(
                member_badges.c.tenant_id == tenant_id,
                member_badges.c.community_id == community_id,
                member_badges.c.member_id.in_(chunk),
            )
            for row in await self.session.execute(query):
                found.setdefault(row.member_id, []).append(
                    HeldBadge(
                        row.member_id,
                        row.badge_id,
                        row.tier,
                        bool(row.held),
                        int(row.generation),
                        _utc(row.awarded_at),
                    )
                )
        return found

    async def change(
        self,
        tenant_id: str,
        community_id: str,
        member_id: str,
        badge_id: str,
        tier: str,
        *,
        held: bool,
        generation: int,
        at: datetime,
    ) -> bool:
        """Move a badge row from `generation - 1` to `generation`; False if another
        transaction moved it first (then this change is not theirs to publish)."""
        if generation == 1:
            statement = (
                _insert(self.session, member_badges)
                .values(
                    tenant_id=tenant_id,
                    community_id=community_id,
                    member_id=member_id,
                    badge_id=badge_id,
                    tier=tier,
                    held=held,
                    generation=1,
                    awarded_at=at,
                )
                .on_conflict_do_nothing()
            )
        else:
            values: dict[str, Any] = {
                "held": held,
                "generation": generation,
                "changed_at": func.now(),
            }
            if held:
                values["awarded_at"] = at
            statement = (
                update(member_badges)
                .where(
                    member_badges.c.tenant_id == tenant_id,
                    member_badges.c.community_id == community_id,
                    member_badges.c.member_id == member_id,
                    member_badges.c.badge_id == badge_id,
                    member_badges.c.tier == tier,
                    member_badges.c.generation == generation - 1,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    async def of_member(self, caller: Caller, member_id: str) -> list[Any]:
        """The badges a member holds in the communities the caller may read."""
        query = select(
            member_badges.c.community_id,
            member_badges.c.badge_id,
            member_badges.c.tier,
            member_badges.c.awarded_at,
        ).where(
            member_badges.c.tenant_id == caller.tenant_id,
            member_badges.c.member_id == member_id,
            member_badges.c.held.is_(True),
        )
        if caller.community_ids is not None:
            query = query.where(member_badges.c.community_id.in_(sorted(caller.community_ids)))
        query = query.order_by(
            member_badges.c.community_id, member_badges.c.badge_id, member_badges.c.tier
        )
        return list(await self.session.execute(query))


class Grants:
    """The audit of manual grants and deductions."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, caller: Caller, grant_id: str) -> Any | None:
        """A grant of the caller's tenant, in a community its key may read."""
        query = select(manual_grants).where(
            manual_grants.c.tenant_id == caller.tenant_id, manual_grants.c.grant_id == grant_id
        )
        row = (await self.session.execute(query)).first()
        if row is None or not caller.can_access_community(row.community_id):
            return None
        return row

    async def add(
        self,
        caller: Caller,
        grant_id: str,
        community_id: str,
        member_id: str,
        points: int,
        reason: str,
        at: datetime,
    ) -> None:
        """Record who granted what to whom, and why."""
        await self.session.execute(
            manual_grants.insert().values(
                grant_id=grant_id,
                tenant_id=caller.tenant_id,
                community_id=community_id,
                member_id=member_id,
                points=points,
                reason=reason,
                granted_by=caller.key_id,
                created_at=at,
            )
        )

    async def of_community(
        self,
        caller: Caller,
        community_id: str,
        member_id: str | None,
        *,
        before: str | None,
        limit: int,
    ) -> list[Any]:
        """The community's grants, newest first (grant ids sort by time), before a grant id."""
        if not caller.can_access_community(community_id):
            return []
        query = select(manual_grants).where(
            manual_grants.c.tenant_id == caller.tenant_id,
            manual_grants.c.community_id == community_id,
        )
        if member_id is not None:
            query = query.where(manual_grants.c.member_id == member_id)
        if before is not None:
            query = query.where(manual_grants.c.grant_id < before)
        query = query.order_by(manual_grants.c.grant_id.desc()).limit(limit)
        return list(await self.session.execute(query))


@dataclass(frozen=True)
class MovedLine:
    """A ledger line a merge moves (or an unmerge moves back)."""

    id: int
    community_id: str
    channel_id: str | None
    points: int
    earned_at: datetime
    key: tuple[str, str, int]
    """(source event id, rule id, rule version): what its compensations share."""


class Merges:
    """Members merged and unmerged: the ledger lines that moved, re-keyed in place."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lines(
        self, tenant_id: str, member_id: str, ids: Collection[int] | None = None
    ) -> list[MovedLine]:
        """The member's ledger lines in every community (only `ids` among them, if given)."""
        columns = (
            ledger.c.id,
            ledger.c.community_id,
            ledger.c.channel_id,
            ledger.c.points,
            ledger.c.earned_at,
            ledger.c.source_event_id,
            ledger.c.rule_id,
            ledger.c.rule_version,
        )
        where = [ledger.c.tenant_id == tenant_id, ledger.c.member_id == member_id]
        batches: list[Sequence[int] | None] = [None]
        if ids is not None:
            batches = list(_chunks(sorted(ids)))
        found = []
        for chunk in batches:
            query = select(*columns).where(*where)
            if chunk is not None:
                query = query.where(ledger.c.id.in_(chunk))
            for row in await self.session.execute(query.order_by(ledger.c.id)):
                found.append(
                    MovedLine(
                        int(row.id),
                        row.community_id,
                        row.channel_id,
                        int(row.points),
                        _utc(row.earned_at),
                        (row.source_event_id, row.rule_id, int(row.rule_version)),
                    )
                )
        return found

    async def record(
        self,
        merge_id: str,
        tenant_id: str,
        target: str,
        source: str,
        at: datetime,
        line_ids: Sequence[int],
    ) -> bool:
        """Remember a merge and the lines it moves; False if it was recorded before."""
        statement = (
            _insert(self.session, member_merges)
            .values(
                merge_id=merge_id,
                tenant_id=tenant_id,
                target_member_id=target,
                source_member_id=source,
                merged_at=at,
            )
            .on_conflict_do_nothing()
        )
        if not getattr(await self.session.execute(statement), "rowcount", 0):
            return False
        rows = [{"merge_id": merge_id, "line_id": line_id} for line_id in line_ids]
        for chunk in _chunks(rows):
            await self.session.execute(merged_lines.insert(), list(chunk))
        return True

    async def active(self, tenant_id: str, target: str, source: str) -> str | None:
        """The latest merge of `source` into `target` not undone yet."""
        query = (
            select(member_merges.c.merge_id)
            .where(
                member_merges.c.tenant_id == tenant_id,
                member_merges.c.target_member_id == target,
                member_merges.c.source_member_id == source,
                member_merges.c.undone_at.is_(None),
            )
            .order_by(member_merges.c.merged_at.desc())
            .limit(1)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def moved_ids(self, merge_id: str) -> set[int]:
        """The ids of the lines a merge moved."""
        query = select(merged_lines.c.line_id).where(merged_lines.c.merge_id == merge_id)
        return {int(i) for i in (await self.session.execute(query)).scalars()}

    async def undone(self, merge_id: str, at: datetime) -> None:
        await self.session.execute(
            update(member_merges)
            .where(member_merges.c.merge_id == merge_id)
            .values(undone_at=at)
            .execution_options(synchronize_session=False)
        )

    async def rekey(self, tenant_id: str, line_ids: Sequence[int], member_id: str) -> None:
        """Give these ledger lines to `member_id`."""
        for chunk in _chunks(sorted(line_ids)):
            await self.session.execute(
                update(ledger)
                .where(ledger.c.tenant_id == tenant_id, ledger.c.id.in_(chunk))
                .values(member_id=member_id)
                .execution_options(synchronize_session=False)
            )


class CoreMembers:
    """What core-member evaluations read (window sums, active days) and the core's state."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def top_in_window(
        self, tenant_id: str, community_id: str, start: datetime, end: datetime, limit: int
    ) -> list[tuple[str, int]]:
        """(member, points earned in [start, end)), best first, members with points > 0."""
        total = func.sum(ledger.c.points)
        query = (
            select(ledger.c.member_id, total.label("points"))
            .where(
                ledger.c.tenant_id == tenant_id,
                ledger.c.community_id == community_id,
                ledger.c.earned_at >= start,
                ledger.c.earned_at < end,
            )
            .group_by(ledger.c.member_id)
            .having(total > 0)
            .order_by(total.desc(), ledger.c.member_id)
            .limit(limit)
        )
        return [(row.member_id, int(row.points)) for row in await self.session.execute(query)]

    async def active_times(
        self, tenant_id: str, community_id: str, members: set[str], start: datetime, end: datetime
    ) -> dict[str, list[datetime]]:
        """member → when each of their activities netting points in [start, end) happened."""
        found: dict[str, list[datetime]] = {}
        for chunk in _chunks(sorted(members)):
            query = (
                select(ledger.c.member_id, func.min(ledger.c.earned_at).label("at"))
                .where(
                    ledger.c.tenant_id == tenant_id,
                    ledger.c.community_id == community_id,
                    ledger.c.member_id.in_(chunk),
                    ledger.c.earned_at >= start,
                    ledger.c.earned_at < end,
                )
                .group_by(ledger.c.member_id, ledger.c.source_event_id)
                .having(func.sum(ledger.c.points) > 0)
            )
            for row in await self.session.execute(query):
                found.setdefault(row.member_id, []).append(_utc(row.at))
        return found

    async def states(self, tenant_id: str, community_id: str) -> dict[str, tuple[bool, int, int]]:
        """member → (core, evaluations in a row in, out), for every member ever qualifying."""
        query = select(
            core_members.c.member_id,
            core_members.c.core,
            core_members.c.streak_in,
            core_members.c.streak_out,
        ).where(core_members.c.tenant_id == tenant_id, core_members.c.community_id == community_id)
        return {
            row.member_id: (bool(row.core), int(row.streak_in), int(row.streak_out))
            for row in await self.session.execute(query)
        }

    async def save_states(
        self, tenant_id: str, community_id: str, states: dict[str, tuple[bool, int, int]]
    ) -> None:
        rows = [
            {
                "tenant_id": tenant_id,
                "community_id": community_id,
                "member_id": member,
                "core": core,
                "streak_in": streak_in,
                "streak_out": streak_out,
            }
            for member, (core, streak_in, streak_out) in sorted(states.items())
        ]
        for chunk in _chunks(rows):
            statement = _insert(self.session, core_members)
            statement = statement.on_conflict_do_update(
                index_elements=["tenant_id", "community_id", "member_id"],
                set_={
                    "core": statement.excluded.core,
                    "streak_in": statement.excluded.streak_in,
                    "streak_out": statement.excluded.streak_out,
                    "changed_at": func.now(),
                },
            )
            await self.session.execute(statement, list(chunk))

    async def evaluated(self, tenant_id: str, community_id: str, evaluation: str) -> bool:
        query = select(core_evaluations.c.evaluation).where(
            core_evaluations.c.tenant_id == tenant_id,
            core_evaluations.c.community_id == community_id,
            core_evaluations.c.evaluation == evaluation,
        )
        return (await self.session.execute(query)).first() is not None

    async def claim(
        self, tenant_id: str, community_id: str, evaluation: str, window_end: datetime, count: int
    ) -> bool:
        """Record an evaluation; False if another transaction recorded it first."""
        statement = (
            _insert(self.session, core_evaluations)
            .values(
                tenant_id=tenant_id,
                community_id=community_id,
                evaluation=evaluation,
                window_end=window_end,
                core_count=count,
            )
            .on_conflict_do_nothing()
        )
        return bool(getattr(await self.session.execute(statement), "rowcount", 0))

    async def of_community(self, caller: Caller, community_id: str) -> list[Any]:
        """The community's core members now, for a caller that may read it."""
        if not caller.can_access_community(community_id):
            return []
        query = (
            select(core_members.c.member_id, core_members.c.changed_at)
            .where(
                core_members.c.tenant_id == caller.tenant_id,
                core_members.c.community_id == community_id,
                core_members.c.core.is_(True),
            )
            .order_by(core_members.c.member_id)
        )
        return list(await self.session.execute(query))


class RecentFacts:
    """The last days of scored activity, and what a simulation compares with."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, rows: list[dict[str, Any]]) -> None:
        """Keep these facts (a redelivered one is kept once)."""
        for chunk in _chunks(rows):
            statement = _insert(self.session, recent_facts).on_conflict_do_nothing()
            await self.session.execute(statement, list(chunk))

    async def prune(self, tenant_id: str, community_id: str, before: datetime) -> None:
        """Forget the community's facts older than `before`."""
        await self.session.execute(
            delete(recent_facts).where(
                recent_facts.c.tenant_id == tenant_id,
                recent_facts.c.community_id == community_id,
                recent_facts.c.occurred_at < before,
            )
        )

    async def recent(
        self, caller: Caller, community_id: str, since: datetime, limit: int
    ) -> list[tuple[str, str]]:
        """(kind, fact JSON) of the caller's community since `since`, newest first."""
        if not caller.can_access_community(community_id):
            return []
        query = (
            select(recent_facts.c.kind, recent_facts.c.fact)
            .where(
                recent_facts.c.tenant_id == caller.tenant_id,
                recent_facts.c.community_id == community_id,
                recent_facts.c.occurred_at >= since,
            )
            .order_by(recent_facts.c.occurred_at.desc(), recent_facts.c.event_id.desc())
            .limit(limit)
        )
        return [(row.kind, row.fact) for row in await self.session.execute(query)]

    async def removed(self, tenant_id: str, sources: set[str]) -> set[str]:
        """The activities among `sources` moderation has removed (and not restored)."""
        found: set[str] = set()
        for chunk in _chunks(sorted(sources)):
            query = select(moderated.c.source_event_id).where(
                moderated.c.tenant_id == tenant_id,
                moderated.c.source_event_id.in_(chunk),
                moderated.c.removed.is_(True),
            )
            found |= set((await self.session.execute(query)).scalars())
        return found

    async def points_of(
        self, tenant_id: str, community_id: str, sources: set[str]
    ) -> dict[str, int]:
        """member → what these activities net them in the ledger now."""
        found: dict[str, int] = defaultdict(int)
        for chunk in _chunks(sorted(sources)):
            query = (
                select(ledger.c.member_id, func.sum(ledger.c.points).label("points"))
                .where(
                    ledger.c.tenant_id == tenant_id,
                    ledger.c.community_id == community_id,
                    ledger.c.source_event_id.in_(chunk),
                )
                .group_by(ledger.c.member_id)
            )
            for row in await self.session.execute(query):
                found[row.member_id] += int(row.points)
        return dict(found)
