"""All SQL of the insights service lives here: feedback clusters and their members.

Repositories are objects on the unit of work's session; they never commit (the
consumer loop or the request dependency does). Reads for an API caller start from
`readable(caller)`, which carries the tenant and the key's communities.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.insights.domain.clustering import Cluster
from services.insights.tables import (
    cluster_aliases,
    cluster_members,
    clusters,
    core_members,
    removed_content,
)
from shared.api.auth import Caller

Vector = npt.NDArray[np.float32]


def to_bytes(vector: Vector) -> bytes:
    """A vector as stored: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(raw: bytes) -> Vector:
    """The vector `to_bytes` stored."""
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


@dataclass(frozen=True)
class NewMember:
    """One clustered message, linked to the community event it came from."""

    event_id: str
    cluster_id: str
    tenant_id: str
    community_id: str
    member_id: str | None
    platform: str
    channel_id: str | None
    source_event_id: str | None
    text: str
    fingerprint: str
    duplicate: bool
    intent: str
    sentiment: str
    vector: Vector
    occurred_at: datetime
    removed: bool = False
    """Moderation removed it before it arrived: stored hidden, out of the centroid."""


@dataclass(frozen=True)
class StoredMember:
    """A clustered message as the API shows it."""

    event_id: str
    cluster_id: str
    member_id: str | None
    source_event_id: str | None
    platform: str
    channel_id: str | None
    text: str
    duplicate: bool
    intent: str
    sentiment: str
    vector: Vector
    occurred_at: datetime


def readable(caller: Caller) -> Select[tuple[str]]:
    """Ids of the clusters `caller` may read: its tenant's, in the key's communities."""
    statement = select(clusters.c.id).where(clusters.c.tenant_id == caller.tenant_id)
    if caller.community_ids is not None:
        statement = statement.where(clusters.c.community_id.in_(sorted(caller.community_ids)))
    return statement


class Feedback:
    """The insights service's tables, read and written inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def clusters_of(self, tenant_id: str, community_id: str) -> list[Cluster]:
        """Every cluster of a community that counts a message, with its sum and count."""
        rows = await self.session.execute(
            select(clusters.c.id, clusters.c.total, clusters.c.count.label("n"))
            .where(
                clusters.c.tenant_id == tenant_id,
                clusters.c.community_id == community_id,
                clusters.c.count > 0,
            )
            .order_by(clusters.c.id)
        )
        return [Cluster(id=r.id, total=from_bytes(r.total), count=r.n) for r in rows]

    async def cluster_of_fingerprint(
        self, tenant_id: str, community_id: str, fingerprint: str
    ) -> str | None:
        """The cluster already holding a near-identical message, if any."""
        return await self.session.scalar(
            select(cluster_members.c.cluster_id)
            .where(
                cluster_members.c.tenant_id == tenant_id,
                cluster_members.c.community_id == community_id,
                cluster_members.c.fingerprint == fingerprint,
                cluster_members.c.removed.is_(False),
            )
            .limit(1)
        )

    async def is_clustered(self, event_id: str) -> bool:
        """Whether this community event is already in a cluster."""
        found = await self.session.scalar(
            select(cluster_members.c.event_id).where(cluster_members.c.event_id == event_id)
        )
        return found is not None

    async def is_removed(self, event_id: str) -> bool:
        """Whether moderation removed this community event."""
        found = await self.session.scalar(
            select(removed_content.c.event_id).where(removed_content.c.event_id == event_id)
        )
        return found is not None

    async def create_cluster(self, cluster_id: str, tenant_id: str, community_id: str) -> None:
        """An empty cluster; `add_to_centroid` gives it its first message."""
        await self.session.execute(
            insert(clusters).values(
                id=cluster_id,
                tenant_id=tenant_id,
                community_id=community_id,
                total=to_bytes(np.zeros(0, dtype=np.float32)),
                count=0,
            )
        )

    async def resolve(self, cluster_id: str) -> str:
        """The cluster a (possibly merged-away) id now names."""
        merged = await self.session.scalar(
            select(cluster_aliases.c.cluster_id).where(cluster_aliases.c.alias_id == cluster_id)
        )
        return merged or cluster_id

    async def add_to_centroid(self, cluster_id: str, vector: Vector, sign: int = 1) -> str:
        """Add (or, with sign -1, take away) one unit vector, under a row lock.

        Returns the cluster's id: the one given, or where it went if it was merged away
        meanwhile.
        """
        row = await self._locked(cluster_id)
        if row is None:
            cluster_id = await self.resolve(cluster_id)
            row = await self._locked(cluster_id)
        if row is None:
            raise LookupError("cluster vanished without an alias")
        total = from_bytes(row.total)
        total = (total if total.size else np.zeros_like(vector)) + sign * vector
        await self.session.execute(
            update(clusters)
            .where(clusters.c.id == cluster_id)
            .values(total=to_bytes(total), count=row.n + sign, updated_at=func.now())
        )
        return cluster_id

    async def _locked(self, cluster_id: str) -> Any:
        return (
            await self.session.execute(
                select(clusters.c.total, clusters.c.count.label("n"))
                .where(clusters.c.id == cluster_id)
                .with_for_update()
            )
        ).one_or_none()

    async def aliases_of(self, cluster_ids: list[str]) -> dict[str, list[str]]:
        """Ids merged into each of `cluster_ids`, oldest first."""
        rows = await self.session.execute(
            select(cluster_aliases.c.alias_id, cluster_aliases.c.cluster_id)
            .where(cluster_aliases.c.cluster_id.in_(cluster_ids))
            .order_by(cluster_aliases.c.alias_id)
        )
        found: dict[str, list[str]] = {}
        for r in rows:
            found.setdefault(r.cluster_id, []).append(r.alias_id)
        return found

    async def communities_with_clusters(self) -> list[tuple[str, str]]:
        """(tenant, community) pairs holding at least two counted clusters."""
        rows = await self.session.execute(
            select(clusters.c.tenant_id, clusters.c.community_id)
            .where(clusters.c.count > 0)
            .group_by(clusters.c.tenant_id, clusters.c.community_id)
            .having(func.count() > 1)
            .order_by(clusters.c.tenant_id, clusters.c.community_id)
        )
        return [(r.tenant_id, r.community_id) for r in rows]

    async def lock_clusters(self, tenant_id: str, community_id: str) -> list[Cluster]:
        """Like `clusters_of`, with the rows locked until the transaction ends."""
        rows = await self.session.execute(
            select(clusters.c.id, clusters.c.total, clusters.c.count.label("n"))
            .where(
                clusters.c.tenant_id == tenant_id,
                clusters.c.community_id == community_id,
                clusters.c.count > 0,
            )
            .order_by(clusters.c.id)
            .with_for_update()
        )
        return [Cluster(id=r.id, total=from_bytes(r.total), count=r.n) for r in rows]

    async def merge(self, tenant_id: str, community_id: str, gone: str, keep: Cluster) -> None:
        """Fold cluster `gone` into `keep` (already summed): members move, `gone` is an alias."""
        await self.session.execute(
            update(cluster_members)
            .where(cluster_members.c.cluster_id == gone)
            .values(cluster_id=keep.id)
        )
        await self.session.execute(
            update(cluster_aliases)
            .where(cluster_aliases.c.cluster_id == gone)
            .values(cluster_id=keep.id)
        )
        await self.session.execute(
            insert(cluster_aliases).values(
                alias_id=gone, cluster_id=keep.id, tenant_id=tenant_id, community_id=community_id
            )
        )
        await self.session.execute(delete(clusters).where(clusters.c.id == gone))
        await self.session.execute(
            update(clusters)
            .where(clusters.c.id == keep.id)
            .values(total=to_bytes(keep.total), count=keep.count, updated_at=func.now())
        )

    async def add_member(self, member: NewMember) -> None:
        """Link a message to its cluster."""
        values = {**member.__dict__, "vector": to_bytes(member.vector)}
        await self.session.execute(insert(cluster_members).values(**values))

    async def remove_content(self, tenant_id: str, community_id: str, event_id: str) -> None:
        """Hide a removed message and take it out of its cluster's centroid.

        The row stays (hidden) so a restore can bring it back into the same cluster; a
        cluster left with no visible message is hidden with it, and keeps its id.
        """
        if not await self.is_removed(event_id):
            await self.session.execute(
                insert(removed_content).values(
                    event_id=event_id, tenant_id=tenant_id, community_id=community_id
                )
            )
        await self._set_removed(tenant_id, event_id, removed=True)

    async def restore_content(self, tenant_id: str, community_id: str, event_id: str) -> None:
        """A restored message returns to its cluster (and its vector to the centroid)."""
        await self.session.execute(
            delete(removed_content).where(
                removed_content.c.event_id == event_id,
                removed_content.c.tenant_id == tenant_id,
                removed_content.c.community_id == community_id,
            )
        )
        await self._set_removed(tenant_id, event_id, removed=False)

    async def _set_removed(self, tenant_id: str, event_id: str, *, removed: bool) -> None:
        row = (
            await self.session.execute(
                select(
                    cluster_members.c.cluster_id,
                    cluster_members.c.duplicate,
                    cluster_members.c.vector,
                    cluster_members.c.removed,
                )
                .where(
                    cluster_members.c.event_id == event_id,
                    cluster_members.c.tenant_id == tenant_id,
                )
                .with_for_update()
            )
        ).one_or_none()
        if row is None or row.removed == removed:
            return
        await self.session.execute(
            update(cluster_members)
            .where(cluster_members.c.event_id == event_id)
            .values(removed=removed)
        )
        if not row.duplicate:
            sign = -1 if removed else 1
            await self.add_to_centroid(row.cluster_id, from_bytes(row.vector), sign=sign)

    async def set_core(
        self, tenant_id: str, community_id: str, member_id: str, core: bool, at: datetime
    ) -> None:
        """Record a core-member change unless a later one is already recorded."""
        key = (
            core_members.c.tenant_id == tenant_id,
            core_members.c.community_id == community_id,
            core_members.c.member_id == member_id,
        )
        known = await self.session.scalar(
            select(core_members.c.changed_at).where(*key).with_for_update()
        )
        if known is None:
            await self.session.execute(
                insert(core_members).values(
                    tenant_id=tenant_id,
                    community_id=community_id,
                    member_id=member_id,
                    core=core,
                    changed_at=at,
                )
            )
        elif _aware(known) <= _aware(at):
            await self.session.execute(
                update(core_members).where(*key).values(core=core, changed_at=at)
            )

    async def core_of(self, tenant_id: str, community_id: str) -> set[str] | None:
        """The community's core members now; None when no core change was ever seen."""
        rows = (
            await self.session.execute(
                select(core_members.c.member_id, core_members.c.core).where(
                    core_members.c.tenant_id == tenant_id,
                    core_members.c.community_id == community_id,
                )
            )
        ).all()
        if not rows:
            return None
        return {r.member_id for r in rows if r.core}

    async def intent_counts(self) -> list[tuple[str, str, int]]:
        """(cluster, intent, visible messages) over every community: Hearth's own metric."""
        rows = await self.session.execute(
            select(cluster_members.c.cluster_id, cluster_members.c.intent, func.count())
            .where(cluster_members.c.removed.is_(False))
            .group_by(cluster_members.c.cluster_id, cluster_members.c.intent)
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def readable_members(
        self, caller: Caller, community_id: str
    ) -> dict[str, list[StoredMember]]:
        """The members of every cluster of a community `caller` may read, by cluster."""
        rows = await self.session.execute(
            select(cluster_members)
            .where(
                cluster_members.c.cluster_id.in_(
                    readable(caller).where(clusters.c.community_id == community_id)
                ),
                cluster_members.c.removed.is_(False),
            )
            .order_by(cluster_members.c.occurred_at, cluster_members.c.event_id)
        )
        by_cluster: dict[str, list[StoredMember]] = {}
        for r in rows:
            by_cluster.setdefault(r.cluster_id, []).append(
                StoredMember(
                    event_id=r.event_id,
                    cluster_id=r.cluster_id,
                    member_id=r.member_id,
                    source_event_id=r.source_event_id,
                    platform=r.platform,
                    channel_id=r.channel_id,
                    text=r.text,
                    duplicate=r.duplicate,
                    intent=r.intent,
                    sentiment=r.sentiment,
                    vector=from_bytes(r.vector),
                    occurred_at=_aware(r.occurred_at),
                )
            )
        return by_cluster


def _aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
