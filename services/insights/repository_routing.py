"""SQL of routing: rules, routed insights and their webhook deliveries.

The clusters' own SQL is in repository.py; this is the other seam of the service's
tables. Like there, nothing here commits, and reads for an API caller are scoped by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.insights.tables import (
    cluster_members,
    deliveries,
    routed_insights,
    routing_rules,
)
from shared.api.auth import Caller
from shared.events.envelope import utcnow

OPEN = ("pending", "in_flight")


@dataclass(frozen=True)
class NewDelivery:
    """A webhook call to make: recorded first, carried out after the commit."""

    id: str
    tenant_id: str
    community_id: str
    insight_id: str
    destination: str
    url: str
    format: str
    secret: str
    body: bytes


class Routing:
    """Routing rules, routed insights and deliveries, inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def rules_of(self, tenant_id: str, community_id: str) -> str | None:
        """The community's routing rules as uploaded, or None."""
        return await self.session.scalar(
            select(routing_rules.c.source).where(
                routing_rules.c.tenant_id == tenant_id,
                routing_rules.c.community_id == community_id,
            )
        )

    async def set_rules(self, tenant_id: str, community_id: str, source: str) -> None:
        """Replace the community's routing rules."""
        key = (routing_rules.c.tenant_id == tenant_id, routing_rules.c.community_id == community_id)
        changed = await self.session.execute(
            update(routing_rules).where(*key).values(source=source, updated_at=utcnow())
        )
        if not changed.rowcount:  # type: ignore[attr-defined]
            await self.session.execute(
                insert(routing_rules).values(
                    tenant_id=tenant_id, community_id=community_id, source=source
                )
            )

    async def figures(
        self, cluster_id: str, at: datetime, windows: set[int]
    ) -> tuple[dict[str, int], int, dict[int, int], dict[int, tuple[int, int, int, int]]]:
        """Intent counts, size, size before each window and negative counts per window.

        Distinct visible messages only (near-identical repeats and removed content left out).
        """
        m = cluster_members
        columns: list[Any] = [m.c.intent, func.count().label("n")]
        for w in sorted(windows):
            edge = at - timedelta(minutes=w)
            old = m.c.occurred_at <= edge
            recent = and_(m.c.occurred_at > edge, m.c.occurred_at <= at)
            unhappy = m.c.sentiment == "negative"
            columns += [
                func.sum(case((old, 1), else_=0)).label(f"b{w}"),
                func.sum(case((recent, 1), else_=0)).label(f"w{w}"),
                func.sum(case((and_(old, unhappy), 1), else_=0)).label(f"nb{w}"),
                func.sum(case((and_(recent, unhappy), 1), else_=0)).label(f"nw{w}"),
            ]
        rows = (
            await self.session.execute(
                select(*columns)
                .where(
                    m.c.cluster_id == cluster_id,
                    m.c.removed.is_(False),
                    m.c.duplicate.is_(False),
                )
                .group_by(m.c.intent)
            )
        ).all()
        intents = {r.intent: r.n for r in rows}
        size = sum(intents.values())
        before = {w: sum(int(getattr(r, f"b{w}") or 0) for r in rows) for w in windows}
        negative = {
            w: (
                sum(int(getattr(r, f"nw{w}") or 0) for r in rows),
                sum(int(getattr(r, f"w{w}") or 0) for r in rows),
                sum(int(getattr(r, f"nb{w}") or 0) for r in rows),
                before[w],
            )
            for w in windows
        }
        return intents, size, before, negative

    async def fired(self, tenant_id: str, community_id: str, key: str) -> bool:
        """Whether a rule already fired under this key."""
        found = await self.session.scalar(
            select(routed_insights.c.id).where(
                routed_insights.c.tenant_id == tenant_id,
                routed_insights.c.community_id == community_id,
                routed_insights.c.key == key,
            )
        )
        return found is not None

    async def add_insight(self, **values: Any) -> None:
        """Record a routed insight (instant, or waiting for its digest)."""
        await self.session.execute(insert(routed_insights).values(**values))

    async def add_deliveries(self, items: Sequence[NewDelivery], *, now: datetime) -> None:
        """Record webhook calls to make, due now."""
        if items:
            await self.session.execute(
                insert(deliveries),
                [
                    {**d.__dict__, "status": "pending", "attempts": 0, "next_attempt_at": now}
                    for d in items
                ],
            )

    async def due_digests(self, now: datetime) -> list[RowMapping]:
        """Insights waiting for a digest, of every tenant (Hearth's own work), oldest first."""
        rows = await self.session.execute(
            select(routed_insights)
            .where(routed_insights.c.delivery != "instant", routed_insights.c.digest_id.is_(None))
            .order_by(routed_insights.c.created_at, routed_insights.c.id)
            .limit(5_000)
        )
        return list(rows.mappings())

    async def mark_digested(self, insight_ids: Sequence[str], digest_id: str) -> None:
        """The insights a digest carried."""
        await self.session.execute(
            update(routed_insights)
            .where(routed_insights.c.id.in_(list(insight_ids)))
            .values(digest_id=digest_id)
        )

    async def claim_deliveries(
        self, *, now: datetime, lease_until: datetime, claim_id: str, limit: int
    ) -> list[RowMapping]:
        """Mark up to `limit` due deliveries in_flight under `claim_id` (SKIP LOCKED on PG)."""
        t = deliveries
        due = or_(
            (t.c.status == "pending") & (t.c.next_attempt_at <= now),
            (t.c.status == "in_flight") & (t.c.lease_until <= now),
        )
        candidates = (
            select(t.c.id)
            .where(t.c.status.in_(OPEN), due)
            .order_by(t.c.next_attempt_at)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        ids = list((await self.session.execute(candidates)).scalars())
        if not ids:
            return []
        claimed = await self.session.execute(
            update(t)
            .where(t.c.id.in_(ids), due)
            .values(
                status="in_flight",
                claim_id=claim_id,
                lease_until=lease_until,
                attempts=t.c.attempts + 1,
            )
            .returning(*t.c)
        )
        return list(claimed.mappings())

    async def settle_delivery(self, delivery_id: str, claim_id: str, **values: Any) -> bool:
        """Record how a claimed delivery went; False when its lease was lost meanwhile."""
        t = deliveries
        settled = await self.session.execute(
            update(t)
            .where(t.c.id == delivery_id, t.c.claim_id == claim_id, t.c.status == "in_flight")
            .values(**values, claim_id=None, lease_until=None)
            .returning(t.c.id)
        )
        return settled.first() is not None

    async def routed_of(self, caller: Caller, community_id: str, limit: int) -> list[RowMapping]:
        """The community's routed insights the caller may read, newest first."""
        rows = await self.session.execute(
            select(routed_insights)
            .where(
                routed_insights.c.tenant_id == caller.tenant_id,
                routed_insights.c.community_id == community_id,
            )
            .order_by(routed_insights.c.created_at.desc(), routed_insights.c.id.desc())
            .limit(limit)
        )
        return list(rows.mappings())

    async def deliveries_of(
        self, caller: Caller, community_id: str, limit: int
    ) -> list[RowMapping]:
        """The community's deliveries the caller may read, newest first (no secrets)."""
        t = deliveries
        rows = await self.session.execute(
            select(*(c for c in t.c if c.name not in ("secret", "body", "claim_id")))
            .where(t.c.tenant_id == caller.tenant_id, t.c.community_id == community_id)
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(limit)
        )
        return list(rows.mappings())

    async def community_texts(self, tenant_id: str, community_id: str) -> list[RowMapping]:
        """Every visible member of the community's clusters (to label one of them)."""
        m = cluster_members
        rows = await self.session.execute(
            select(
                m.c.event_id,
                m.c.cluster_id,
                m.c.member_id,
                m.c.source_event_id,
                m.c.platform,
                m.c.channel_id,
                m.c.text,
                m.c.duplicate,
                m.c.intent,
                m.c.vector,
                m.c.occurred_at,
            )
            .where(
                m.c.tenant_id == tenant_id,
                m.c.community_id == community_id,
                m.c.removed.is_(False),
            )
            .order_by(m.c.occurred_at, m.c.event_id)
        )
        return list(rows.mappings())
