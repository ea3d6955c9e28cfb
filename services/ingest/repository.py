"""All SQL of the ingest service."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import Insert

from services.ingest.domain.identity import KnownIdentity
from services.ingest.tables import (
    action_results,
    bindings,
    communities,
    idempotency_keys,
    identities,
    members,
    merges,
    received_events,
)
from shared.events.envelope import new_event_id, utcnow

IdentityKey = tuple[str, str]  # (platform, platform user id)


def _insert_ignoring_conflicts(session: AsyncSession, table: Table) -> Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


# communities ---------------------------------------------------------------


async def insert_community(
    session: AsyncSession, *, community_id: str, tenant_id: str, name: str, time_zone: str
) -> None:
    """Create a community."""
    await session.execute(
        communities.insert().values(
            id=community_id, tenant_id=tenant_id, name=name, time_zone=time_zone
        )
    )


async def get_community(
    session: AsyncSession, tenant_id: str, community_id: str
) -> RowMapping | None:
    """One community of a tenant."""
    query = select(communities).where(
        communities.c.tenant_id == tenant_id, communities.c.id == community_id
    )
    return (await session.execute(query)).mappings().first()


async def list_communities(
    session: AsyncSession,
    tenant_id: str,
    *,
    after_id: str | None,
    limit: int,
    only: frozenset[str] | None,
) -> Sequence[RowMapping]:
    """Communities of a tenant ordered by id, after `after_id`."""
    query = select(communities).where(communities.c.tenant_id == tenant_id)
    if only is not None:
        query = query.where(communities.c.id.in_(sorted(only)))
    if after_id:
        query = query.where(communities.c.id > after_id)
    return (await session.execute(query.order_by(communities.c.id).limit(limit))).mappings().all()


async def update_community(
    session: AsyncSession, tenant_id: str, community_id: str, values: Mapping[str, Any]
) -> None:
    """Change a community's name or time zone."""
    await session.execute(
        update(communities)
        .where(communities.c.tenant_id == tenant_id, communities.c.id == community_id)
        .values(**values, updated_at=utcnow())
    )


async def delete_community(session: AsyncSession, tenant_id: str, community_id: str) -> None:
    """Delete a community and its bindings."""
    await session.execute(delete(bindings).where(bindings.c.community_id == community_id))
    await session.execute(
        delete(communities).where(
            communities.c.tenant_id == tenant_id, communities.c.id == community_id
        )
    )


# bindings ------------------------------------------------------------------


async def insert_binding(session: AsyncSession, **values: Any) -> None:
    """Create a platform binding."""
    await session.execute(bindings.insert().values(**values))


async def get_binding(session: AsyncSession, binding_id: str) -> RowMapping | None:
    """A binding by id, whatever its tenant (webhooks carry only the id)."""
    query = select(bindings).where(bindings.c.id == binding_id)
    return (await session.execute(query)).mappings().first()


async def binding_with_external_id(
    session: AsyncSession, platform: str, external_id: str
) -> RowMapping | None:
    """The binding of a platform space, if any."""
    query = select(bindings).where(
        bindings.c.platform == platform, bindings.c.external_id == external_id
    )
    return (await session.execute(query)).mappings().first()


async def binding_of_community(
    session: AsyncSession, community_id: str, platform: str
) -> RowMapping | None:
    """The community's binding on a platform (the oldest, if there are several)."""
    query = (
        select(bindings)
        .where(bindings.c.community_id == community_id, bindings.c.platform == platform)
        .order_by(bindings.c.created_at, bindings.c.id)
    )
    return (await session.execute(query)).mappings().first()


async def list_bindings(
    session: AsyncSession, tenant_id: str, community_id: str
) -> Sequence[RowMapping]:
    """Bindings of one community."""
    query = (
        select(bindings)
        .where(bindings.c.tenant_id == tenant_id, bindings.c.community_id == community_id)
        .order_by(bindings.c.created_at, bindings.c.id)
    )
    return (await session.execute(query)).mappings().all()


async def bindings_of_platform(session: AsyncSession, platform: str) -> Sequence[RowMapping]:
    """Every binding of a platform (connectors that poll or hold a gateway)."""
    query = select(bindings).where(bindings.c.platform == platform).order_by(bindings.c.id)
    return (await session.execute(query)).mappings().all()


async def update_binding(session: AsyncSession, binding_id: str, values: Mapping[str, Any]) -> None:
    """Change a binding."""
    await session.execute(
        update(bindings).where(bindings.c.id == binding_id).values(**values, updated_at=utcnow())
    )


async def delete_binding(session: AsyncSession, binding_id: str) -> None:
    """Delete a binding."""
    await session.execute(delete(bindings).where(bindings.c.id == binding_id))


# identity ------------------------------------------------------------------


@dataclass(frozen=True)
class ActorSeen:
    """An account seen acting, to resolve to a member."""

    platform: str
    platform_user_id: str
    username: str | None
    display_name: str | None
    is_bot: bool


async def resolve_members(
    session: AsyncSession, tenant_id: str, actors: Iterable[ActorSeen]
) -> tuple[dict[IdentityKey, str], list[str]]:
    """Member id of every actor, creating members for accounts never seen; also new ids."""
    wanted = {(a.platform, a.platform_user_id): a for a in actors}
    if not wanted:
        return {}, []
    found = await _members_of(session, tenant_id, list(wanted))
    missing = [key for key in wanted if key not in found]
    proposed = {key: new_event_id() for key in missing}
    if missing:
        rows = [
            {
                "tenant_id": tenant_id,
                "member_id": proposed[key],
                "platform": key[0],
                "platform_user_id": key[1],
                "username": wanted[key].username,
                "display_name": wanted[key].display_name,
                "is_bot": wanted[key].is_bot,
                "linked_by": "auto",
            }
            for key in missing
        ]
        await session.execute(_insert_ignoring_conflicts(session, identities), rows)
        found.update(await _members_of(session, tenant_id, missing))
    created = [proposed[key] for key in missing if found.get(key) == proposed[key]]
    if created:
        await session.execute(
            members.insert(), [{"id": member, "tenant_id": tenant_id} for member in created]
        )
    return found, created


async def _members_of(
    session: AsyncSession, tenant_id: str, keys: Sequence[IdentityKey]
) -> dict[IdentityKey, str]:
    by_platform: dict[str, list[str]] = {}
    for platform, user_id in keys:
        by_platform.setdefault(platform, []).append(user_id)
    found: dict[IdentityKey, str] = {}
    for platform, user_ids in by_platform.items():
        for start in range(0, len(user_ids), 500):
            query = select(identities.c.platform_user_id, identities.c.member_id).where(
                identities.c.tenant_id == tenant_id,
                identities.c.platform == platform,
                identities.c.platform_user_id.in_(user_ids[start : start + 500]),
            )
            for user_id, member_id in (await session.execute(query)).all():
                found[(platform, user_id)] = member_id
    return found


async def get_member(session: AsyncSession, tenant_id: str, member_id: str) -> RowMapping | None:
    """One member row."""
    query = select(members).where(members.c.tenant_id == tenant_id, members.c.id == member_id)
    return (await session.execute(query)).mappings().first()


async def identities_of(
    session: AsyncSession, tenant_id: str, member_ids: Sequence[str]
) -> Sequence[RowMapping]:
    """Identities of some members, oldest first."""
    query = (
        select(identities)
        .where(identities.c.tenant_id == tenant_id, identities.c.member_id.in_(member_ids))
        .order_by(identities.c.id)
    )
    return (await session.execute(query)).mappings().all()


async def identity_row(
    session: AsyncSession, tenant_id: str, platform: str, platform_user_id: str
) -> RowMapping | None:
    """One identity, whoever it belongs to."""
    query = select(identities).where(
        identities.c.tenant_id == tenant_id,
        identities.c.platform == platform,
        identities.c.platform_user_id == platform_user_id,
    )
    return (await session.execute(query)).mappings().first()


async def insert_identity(session: AsyncSession, **values: Any) -> None:
    """Link one identity to a member."""
    await session.execute(identities.insert().values(**values))


async def insert_member(session: AsyncSession, tenant_id: str, member_id: str) -> None:
    """Create a member without identities yet."""
    await session.execute(members.insert().values(id=member_id, tenant_id=tenant_id))


async def move_identities(
    session: AsyncSession, tenant_id: str, identity_ids: Sequence[int], member_id: str
) -> None:
    """Give identities to another member."""
    await session.execute(
        update(identities)
        .where(identities.c.tenant_id == tenant_id, identities.c.id.in_(identity_ids))
        .values(member_id=member_id)
    )


async def set_merged_into(
    session: AsyncSession, tenant_id: str, member_id: str, target: str | None
) -> None:
    """Mark a member as folded into another (or not any more)."""
    await session.execute(
        update(members)
        .where(members.c.tenant_id == tenant_id, members.c.id == member_id)
        .values(merged_into=target)
    )


async def insert_merge(session: AsyncSession, **values: Any) -> None:
    """Record a merge so it can be undone."""
    await session.execute(merges.insert().values(**values))


async def get_merge(session: AsyncSession, tenant_id: str, merge_id: str) -> RowMapping | None:
    """One merge record."""
    query = select(merges).where(merges.c.tenant_id == tenant_id, merges.c.id == merge_id)
    return (await session.execute(query)).mappings().first()


async def mark_merge_undone(session: AsyncSession, merge_id: str) -> None:
    """Close a merge record."""
    await session.execute(update(merges).where(merges.c.id == merge_id).values(undone_at=utcnow()))


async def lookalike_identities(
    session: AsyncSession, tenant_id: str, usernames: Sequence[str], names: Sequence[str]
) -> list[KnownIdentity]:
    """Identities whose username or display name matches, case-insensitively."""
    if not usernames and not names:
        return []
    query = select(identities).where(
        identities.c.tenant_id == tenant_id,
        or_(
            func.lower(identities.c.username).in_([u.lower() for u in usernames]),
            func.lower(identities.c.display_name).in_([n.lower() for n in names]),
        ),
    )
    rows = (await session.execute(query.limit(200))).mappings().all()
    return [
        KnownIdentity(
            member_id=row["member_id"],
            platform=row["platform"],
            platform_user_id=row["platform_user_id"],
            username=row["username"],
            display_name=row["display_name"],
            is_bot=row["is_bot"],
        )
        for row in rows
    ]


# received events -----------------------------------------------------------


async def known_event_ids(session: AsyncSession, dedup: Mapping[str, Sequence[str]]) -> dict:
    """Event ids already recorded per (community, dedup key)."""
    found: dict[tuple[str, str], str] = {}
    for community_id, keys in dedup.items():
        if not keys:
            continue
        query = select(received_events.c.dedup_key, received_events.c.event_id).where(
            received_events.c.community_id == community_id,
            received_events.c.dedup_key.in_(list(set(keys))),
        )
        for key, event_id in (await session.execute(query)).all():
            found[(community_id, key)] = event_id
    return found


async def record_received(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Remember published events; a row already there is left alone."""
    if rows:
        await session.execute(_insert_ignoring_conflicts(session, received_events), list(rows))


async def list_received(
    session: AsyncSession,
    tenant_id: str,
    community_id: str,
    *,
    before_seq: int | None,
    limit: int,
    event_type: str | None = None,
    platform: str | None = None,
    member_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Sequence[RowMapping]:
    """Newest received events of a community first, with optional filters."""
    table = received_events
    query = select(table).where(
        table.c.tenant_id == tenant_id, table.c.community_id == community_id
    )
    if before_seq is not None:
        query = query.where(table.c.seq < before_seq)
    if event_type:
        query = query.where(table.c.type == event_type)
    if platform:
        query = query.where(table.c.platform == platform)
    if member_id:
        query = query.where(table.c.member_id == member_id)
    if since:
        query = query.where(table.c.occurred_at >= since)
    if until:
        query = query.where(table.c.occurred_at < until)
    return (await session.execute(query.order_by(table.c.seq.desc()).limit(limit))).mappings().all()


# connector leadership --------------------------------------------------------


async def try_advisory_lock(connection: AsyncConnection, key: int) -> bool:
    """Take a session-level PostgreSQL advisory lock if free; held until the connection ends."""
    result = await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
    await connection.commit()
    return bool(result.scalar_one())


async def release_advisory_lock(connection: AsyncConnection, key: int) -> None:
    """Let go of a lock taken by try_advisory_lock before the connection returns to the pool."""
    await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    await connection.commit()


# idempotency keys and action results ---------------------------------------


async def get_idempotent(session: AsyncSession, tenant_id: str, key: str) -> RowMapping | None:
    """The stored answer to an earlier request with this Idempotency-Key."""
    query = select(idempotency_keys).where(
        idempotency_keys.c.tenant_id == tenant_id, idempotency_keys.c.key == key
    )
    return (await session.execute(query)).mappings().first()


async def save_idempotent(session: AsyncSession, **values: Any) -> None:
    """Store the answer to a request with an Idempotency-Key (first one wins)."""
    await session.execute(_insert_ignoring_conflicts(session, idempotency_keys).values(**values))


async def insert_action_result(session: AsyncSession, **values: Any) -> None:
    """Record what happened to an action on its platform."""
    await session.execute(action_results.insert().values(**values))


async def action_results_of(session: AsyncSession, action_id: str) -> Sequence[RowMapping]:
    """Recorded results of one action."""
    query = select(action_results).where(action_results.c.action_id == action_id)
    return (await session.execute(query.order_by(action_results.c.id))).mappings().all()
