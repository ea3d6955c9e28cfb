"""All SQL of the moderation service: rulesets and decisions.

Repositories are objects on the unit of work's session; they never commit (the
consumer loop or the request dependency does). Reads made for an API caller start
from `_readable(caller)`: the caller's tenant, and the key's communities.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Insert, Table, and_, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.moderation.tables import decisions, rulesets
from shared.api.auth import Principal as Caller
from shared.events.community import CommunityEventType


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

    async def add(self, **values: Any) -> bool:
        """Store a decision; False when this event was already decided (nothing changes)."""
        result = await self.session.execute(
            _insert_ignoring_conflicts(self.session, decisions).values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

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
