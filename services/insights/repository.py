"""All SQL of the insights service lives here: feedback clusters and their members.

Repositories are objects on the unit of work's session; they never commit (the
consumer loop or the request dependency does). Reads for an API caller start from
`readable(caller)`, which carries the tenant and the key's communities.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.insights.domain.clustering import Cluster
from services.insights.tables import cluster_members, clusters, removed_content
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
    vector: Vector
    occurred_at: datetime


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

    async def add_to_centroid(self, cluster_id: str, vector: Vector, sign: int = 1) -> None:
        """Add (or, with sign -1, take away) one unit vector, under a row lock."""
        row = (
            await self.session.execute(
                select(clusters.c.total, clusters.c.count.label("n"))
                .where(clusters.c.id == cluster_id)
                .with_for_update()
            )
        ).one()
        total = from_bytes(row.total)
        total = (total if total.size else np.zeros_like(vector)) + sign * vector
        await self.session.execute(
            update(clusters)
            .where(clusters.c.id == cluster_id)
            .values(total=to_bytes(total), count=row.n + sign, updated_at=func.now())
        )

    async def add_member(self, member: NewMember) -> None:
        """Link a message to its cluster."""
        values = {**member.__dict__, "vector": to_bytes(member.vector)}
        await self.session.execute(insert(cluster_members).values(**values))

    async def remove_content(self, tenant_id: str, community_id: str, event_id: str) -> None:
        """Take a removed message out of its cluster, and remember it was removed.

        A cluster left with no message is deleted; one left with only duplicates keeps
        them and its (now empty) centroid until they go too.
        """
        if not await self.is_removed(event_id):
            await self.session.execute(
                insert(removed_content).values(
                    event_id=event_id, tenant_id=tenant_id, community_id=community_id
                )
            )
        row = (
            await self.session.execute(
                select(
                    cluster_members.c.cluster_id,
                    cluster_members.c.duplicate,
                    cluster_members.c.vector,
                ).where(
                    cluster_members.c.event_id == event_id,
                    cluster_members.c.tenant_id == tenant_id,
                )
            )
        ).one_or_none()
        if row is None:
            return
        await self.session.execute(
            delete(cluster_members).where(cluster_members.c.event_id == event_id)
        )
        if not row.duplicate:
            await self.add_to_centroid(row.cluster_id, from_bytes(row.vector), sign=-1)
        left = await self.session.scalar(
            select(func.count())
            .select_from(cluster_members)
            .where(cluster_members.c.cluster_id == row.cluster_id)
        )
        if not left:
            await self.session.execute(delete(clusters).where(clusters.c.id == row.cluster_id))

    async def readable_members(
        self, caller: Caller, community_id: str
    ) -> dict[str, list[StoredMember]]:
        """The members of every cluster of a community `caller` may read, by cluster."""
        rows = await self.session.execute(
            select(cluster_members)
            .where(
                cluster_members.c.cluster_id.in_(
                    readable(caller).where(clusters.c.community_id == community_id)
                )
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
                    vector=from_bytes(r.vector),
                    occurred_at=r.occurred_at,
                )
            )
        return by_cluster
