"""All SQL of the ingest service."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from services.ingest.domain.identity import KnownIdentity
from services.ingest.tables import (
    action_attempts,
    action_results,
    bindings,
    communities,
    discord_channel_marks,
    idempotency_keys,
    identities,
    identity_communities,
    members,
    merges,
    received_events,
    telegram_polls,
)
from shared.api.auth import Caller
from shared.events.envelope import new_event_id, utcnow

IdentityKey = tuple[str, str]  # (platform, platform user id)


def _insert_ignoring_conflicts(session: AsyncSession, table: Table) -> Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


# scope ---------------------------------------------------------------------
#
# Every statement below starts from the caller's scope: the tenant always, and the
# key's communities when the key is bound to some (in the spirit of polar's
# get_readable_statement). A tenant id alone (a str) is Hearth itself acting for that
# tenant: consumers and connectors, which see every community of it.

TenantScope = Caller | str


def caller_of(scope: TenantScope) -> Caller:
    """The Caller a scope stands for."""
    return scope if isinstance(scope, Caller) else Caller.system(scope)


def readable_communities(scope: TenantScope) -> Select[Any]:
    """Communities the caller may see."""
    caller = caller_of(scope)
    query = select(communities).where(communities.c.tenant_id == caller.tenant_id)
    if caller.community_ids is not None:
        query = query.where(communities.c.id.in_(sorted(caller.community_ids)))
    return query


def _community_filter(caller: Caller, column: Any) -> list[ColumnElement[bool]]:
    if caller.community_ids is None:
        return []
    return [column.in_(sorted(caller.community_ids))]


def readable_member_ids(scope: TenantScope) -> Select[Any]:
    """Ids of the members the caller may see: those with an identity seen in one of its
    communities (every member of the tenant for a tenant-wide key)."""
    caller = caller_of(scope)
    if caller.community_ids is None:
        return select(members.c.id).where(members.c.tenant_id == caller.tenant_id)
    return (
        select(identities.c.member_id)
        .join(identity_communities, identity_communities.c.identity_id == identities.c.id)
        .where(
            identities.c.tenant_id == caller.tenant_id,
            identity_communities.c.tenant_id == caller.tenant_id,
            *_community_filter(caller, identity_communities.c.community_id),
        )
    )


def readable_members(scope: TenantScope) -> Select[Any]:
    """Members the caller may see."""
    caller = caller_of(scope)
    query = select(members).where(members.c.tenant_id == caller.tenant_id)
    if caller.community_ids is not None:
        query = query.where(members.c.id.in_(readable_member_ids(caller)))
    return query


def readable_identities(scope: TenantScope) -> Select[Any]:
    """Identities of the members the caller may see."""
    caller = caller_of(scope)
    query = select(identities).where(identities.c.tenant_id == caller.tenant_id)
    if caller.community_ids is not None:
        query = query.where(identities.c.member_id.in_(readable_member_ids(caller)))
    return query


# communities ---------------------------------------------------------------


async def insert_community(
    session: AsyncSession, scope: TenantScope, *, community_id: str, name: str, time_zone: str
) -> None:
    """Create a community of the caller's tenant (a tenant-wide key's act only)."""
    caller = caller_of(scope)
    if not caller.tenant_wide:
        raise PermissionError("a key limited to communities cannot create communities")
    await session.execute(
        communities.insert().values(
            id=community_id, tenant_id=caller.tenant_id, name=name, time_zone=time_zone
        )
    )


async def get_community(
    session: AsyncSession, scope: TenantScope, community_id: str
) -> RowMapping | None:
    """One community the caller may see."""
    query = readable_communities(scope).where(communities.c.id == community_id)
    return (await session.execute(query)).mappings().first()


async def list_communities(
    session: AsyncSession, scope: TenantScope, *, after_id: str | None, limit: int
) -> Sequence[RowMapping]:
    """Communities the caller may see, ordered by id, after `after_id`."""
    query = readable_communities(scope)
    if after_id:
        query = query.where(communities.c.id > after_id)
    return (await session.execute(query.order_by(communities.c.id).limit(limit))).mappings().all()


def _community_ids(scope: TenantScope) -> Select[Any]:
    return readable_communities(scope).with_only_columns(communities.c.id)


async def update_community(
    session: AsyncSession, scope: TenantScope, community_id: str, values: Mapping[str, Any]
) -> bool:
    """Change a community's name or time zone; False when the caller may not see it."""
    result = await session.execute(
        update(communities)
        .where(communities.c.id == community_id, communities.c.id.in_(_community_ids(scope)))
        .values(**values, updated_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_community(session: AsyncSession, scope: TenantScope, community_id: str) -> bool:
    """Delete a community and its bindings; False when the caller may not see it."""
    if await get_community(session, scope, community_id) is None:
        return False
    caller = caller_of(scope)
    await session.execute(
        delete(bindings).where(
            bindings.c.tenant_id == caller.tenant_id, bindings.c.community_id == community_id
        )
    )
    await session.execute(
        delete(communities).where(
            communities.c.tenant_id == caller.tenant_id, communities.c.id == community_id
        )
    )
    return True


# bindings ------------------------------------------------------------------


def readable_bindings(scope: TenantScope) -> Select[Any]:
    """Bindings of the communities the caller may see."""
    caller = caller_of(scope)
    return select(bindings).where(
        bindings.c.tenant_id == caller.tenant_id,
        *_community_filter(caller, bindings.c.community_id),
    )


async def insert_binding(
    session: AsyncSession, scope: TenantScope, *, community_id: str, **values: Any
) -> None:
    """Create a platform binding in a community the caller may see (LookupError if not)."""
    if await get_community(session, scope, community_id) is None:
        raise LookupError(community_id)
    await session.execute(
        bindings.insert().values(
            tenant_id=caller_of(scope).tenant_id, community_id=community_id, **values
        )
    )


async def get_binding(
    session: AsyncSession, scope: TenantScope, community_id: str, binding_id: str
) -> RowMapping | None:
    """A binding of a community the caller may see."""
    query = readable_bindings(scope).where(
        bindings.c.id == binding_id, bindings.c.community_id == community_id
    )
    return (await session.execute(query)).mappings().first()


async def binding_for_delivery(
    session: AsyncSession, platform: str, binding_id: str
) -> RowMapping | None:
    """The binding a webhook names; the one lookup without a tenant, since a delivery
    carries only the binding id: its signature, checked next, is what authenticates it."""
    query = select(bindings).where(bindings.c.id == binding_id, bindings.c.platform == platform)
    return (await session.execute(query)).mappings().first()


async def binding_with_external_id(
    session: AsyncSession, scope: TenantScope, platform: str, external_id: str
) -> RowMapping | None:
    """The binding of a platform space, if the caller may see it."""
    query = readable_bindings(scope).where(
        bindings.c.platform == platform, bindings.c.external_id == external_id
    )
    return (await session.execute(query)).mappings().first()


async def binding_of_community(
    session: AsyncSession, scope: TenantScope, community_id: str, platform: str
) -> RowMapping | None:
    """The community's binding on a platform (the oldest, if there are several)."""
    query = (
        readable_bindings(scope)
        .where(bindings.c.community_id == community_id, bindings.c.platform == platform)
        .order_by(bindings.c.created_at, bindings.c.id)
    )
    return (await session.execute(query)).mappings().first()


async def list_bindings(
    session: AsyncSession, scope: TenantScope, community_id: str
) -> Sequence[RowMapping]:
    """Bindings of one community."""
    query = (
        readable_bindings(scope)
        .where(bindings.c.community_id == community_id)
        .order_by(bindings.c.created_at, bindings.c.id)
    )
    return (await session.execute(query)).mappings().all()


async def bindings_of_platform(session: AsyncSession, platform: str) -> Sequence[RowMapping]:
    """Every binding of a platform, of every tenant: only for connectors that poll or
    hold a gateway on Hearth's own behalf, never for a caller's request."""
    query = select(bindings).where(bindings.c.platform == platform).order_by(bindings.c.id)
    return (await session.execute(query)).mappings().all()


async def update_binding(
    session: AsyncSession,
    scope: TenantScope,
    community_id: str,
    binding_id: str,
    values: Mapping[str, Any],
) -> bool:
    """Change a binding; False when the caller may not see it."""
    caller = caller_of(scope)
    result = await session.execute(
        update(bindings)
        .where(
            bindings.c.id == binding_id,
            bindings.c.community_id == community_id,
            bindings.c.tenant_id == caller.tenant_id,
            *_community_filter(caller, bindings.c.community_id),
        )
        .values(**values, updated_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_binding(
    session: AsyncSession, scope: TenantScope, community_id: str, binding_id: str
) -> bool:
    """Delete a binding; False when the caller may not see it."""
    caller = caller_of(scope)
    result = await session.execute(
        delete(bindings).where(
            bindings.c.id == binding_id,
            bindings.c.community_id == community_id,
            bindings.c.tenant_id == caller.tenant_id,
            *_community_filter(caller, bindings.c.community_id),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# identity ------------------------------------------------------------------


@dataclass(frozen=True)
class ActorSeen:
    """An account seen acting, to resolve to a member."""

    platform: str
    platform_user_id: str
    username: str | None
    display_name: str | None
    is_bot: bool
    community_id: str | None = None  # where it acted; recorded as a sighting


async def resolve_members(
    session: AsyncSession, scope: TenantScope, actors: Iterable[ActorSeen]
) -> tuple[dict[IdentityKey, str], list[str]]:
    """Member id of every actor the caller may attach, creating members for accounts
    never seen; also the new member ids. Each actor's identity is recorded as seen in
    its community.

    A key bound to some communities attaches only accounts new to the tenant or whose
    member it can already see: an account known only from other communities is left
    out of the answer (its event carries no member id) and is not marked as seen, so
    sending an event never widens what the key can read.
    """
    caller = caller_of(scope)
    tenant_id = caller.tenant_id
    seen = list(actors)
    wanted = {(a.platform, a.platform_user_id): a for a in seen}
    if not wanted:
        return {}, []
    found = await _members_of(session, tenant_id, list(wanted))
    # in key order, so concurrent requests meeting the same new accounts never deadlock
    missing = sorted(key for key in wanted if key not in found)
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
    created = [proposed[key] for key in missing if found.get(key, (0, ""))[1] == proposed[key]]
    if created:
        await session.execute(
            members.insert(), [{"id": member, "tenant_id": tenant_id} for member in created]
        )
    if not caller.tenant_wide:
        fresh = set(created)
        others = {member for _, member in found.values() if member not in fresh}
        visible = await _visible_members(session, caller, others)
        found = {
            key: value for key, value in found.items() if value[1] in fresh or value[1] in visible
        }
    sightings = {
        (found[(a.platform, a.platform_user_id)][0], a.community_id)
        for a in seen
        if a.community_id is not None and (a.platform, a.platform_user_id) in found
    }
    if sightings:
        await session.execute(
            _insert_ignoring_conflicts(session, identity_communities),
            [
                {"identity_id": identity, "community_id": community, "tenant_id": tenant_id}
                for identity, community in sorted(sightings)
            ],
        )
    return {key: member for key, (_, member) in found.items()}, created


async def _visible_members(session: AsyncSession, caller: Caller, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    query = readable_member_ids(caller).where(identities.c.member_id.in_(sorted(ids)))
    return set((await session.execute(query)).scalars().all())


async def _members_of(
    session: AsyncSession, tenant_id: str, keys: Sequence[IdentityKey]
) -> dict[IdentityKey, tuple[int, str]]:
    by_platform: dict[str, list[str]] = {}
    for platform, user_id in keys:
        by_platform.setdefault(platform, []).append(user_id)
    found: dict[IdentityKey, tuple[int, str]] = {}
    for platform, user_ids in by_platform.items():
        for start in range(0, len(user_ids), 500):
            query = select(
                identities.c.platform_user_id, identities.c.id, identities.c.member_id
            ).where(
                identities.c.tenant_id == tenant_id,
                identities.c.platform == platform,
                identities.c.platform_user_id.in_(user_ids[start : start + 500]),
            )
            for user_id, identity_id, member_id in (await session.execute(query)).all():
                found[(platform, user_id)] = (identity_id, member_id)
    return found


async def get_member(
    session: AsyncSession, scope: TenantScope, member_id: str
) -> RowMapping | None:
    """One member the caller may see."""
    query = readable_members(scope).where(members.c.id == member_id)
    return (await session.execute(query)).mappings().first()


async def identities_of(
    session: AsyncSession, scope: TenantScope, member_ids: Sequence[str]
) -> Sequence[RowMapping]:
    """Identities of some members the caller may see, oldest first."""
    query = (
        readable_identities(scope)
        .where(identities.c.member_id.in_(member_ids))
        .order_by(identities.c.id)
    )
    return (await session.execute(query)).mappings().all()


async def identity_row(
    session: AsyncSession, scope: TenantScope, platform: str, platform_user_id: str
) -> RowMapping | None:
    """One identity, if its member is one the caller may see."""
    query = readable_identities(scope).where(
        identities.c.platform == platform,
        identities.c.platform_user_id == platform_user_id,
    )
    return (await session.execute(query)).mappings().first()


async def identity_taken(
    session: AsyncSession, scope: TenantScope, platform: str, platform_user_id: str
) -> bool:
    """Whether the account belongs to any member of the tenant (seen by the caller or not)."""
    query = select(identities.c.id).where(
        identities.c.tenant_id == caller_of(scope).tenant_id,
        identities.c.platform == platform,
        identities.c.platform_user_id == platform_user_id,
    )
    return (await session.execute(query)).first() is not None


async def insert_identity(session: AsyncSession, scope: TenantScope, **values: Any) -> None:
    """Link one identity to a member of the caller's tenant."""
    await session.execute(
        identities.insert().values(tenant_id=caller_of(scope).tenant_id, **values)
    )


async def insert_member(session: AsyncSession, scope: TenantScope, member_id: str) -> None:
    """Create a member without identities yet."""
    await session.execute(
        members.insert().values(id=member_id, tenant_id=caller_of(scope).tenant_id)
    )


async def move_identities(
    session: AsyncSession, scope: TenantScope, identity_ids: Sequence[int], member_id: str
) -> None:
    """Give identities of members the caller may see to another member."""
    caller = caller_of(scope)
    query = update(identities).where(
        identities.c.tenant_id == caller.tenant_id, identities.c.id.in_(identity_ids)
    )
    if not caller.tenant_wide:
        query = query.where(identities.c.member_id.in_(readable_member_ids(caller)))
    await session.execute(query.values(member_id=member_id))


async def set_merged_into(
    session: AsyncSession, scope: TenantScope, member_id: str, target: str | None
) -> None:
    """Mark a member as folded into another (or not any more)."""
    await session.execute(
        update(members)
        .where(members.c.tenant_id == caller_of(scope).tenant_id, members.c.id == member_id)
        .values(merged_into=target)
    )


async def insert_merge(session: AsyncSession, scope: TenantScope, **values: Any) -> None:
    """Record a merge so it can be undone."""
    await session.execute(merges.insert().values(tenant_id=caller_of(scope).tenant_id, **values))


async def get_merge(session: AsyncSession, scope: TenantScope, merge_id: str) -> RowMapping | None:
    """One merge record whose target the caller may see (a merged source has no
    identities left, so the target is what places it in a community)."""
    caller = caller_of(scope)
    query = select(merges).where(merges.c.tenant_id == caller.tenant_id, merges.c.id == merge_id)
    if not caller.tenant_wide:
        query = query.where(merges.c.target_member_id.in_(readable_member_ids(caller)))
    return (await session.execute(query)).mappings().first()


async def mark_merge_undone(session: AsyncSession, scope: TenantScope, merge_id: str) -> None:
    """Close a merge record."""
    await session.execute(
        update(merges)
        .where(merges.c.tenant_id == caller_of(scope).tenant_id, merges.c.id == merge_id)
        .values(undone_at=utcnow())
    )


async def lookalike_identities(
    session: AsyncSession, scope: TenantScope, usernames: Sequence[str], names: Sequence[str]
) -> list[KnownIdentity]:
    """Identities the caller may see whose username or display name matches,
    case-insensitively."""
    if not usernames and not names:
        return []
    query = readable_identities(scope).where(
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


async def known_event_ids(
    session: AsyncSession, scope: TenantScope, dedup: Mapping[str, Sequence[str]]
) -> dict[tuple[str, str], str]:
    """Event ids already recorded per (community, dedup key) in the caller's tenant."""
    tenant_id = caller_of(scope).tenant_id
    found: dict[tuple[str, str], str] = {}
    for community_id, keys in dedup.items():
        if not keys:
            continue
        query = select(received_events.c.dedup_key, received_events.c.event_id).where(
            received_events.c.tenant_id == tenant_id,
            received_events.c.community_id == community_id,
            received_events.c.dedup_key.in_(list(set(keys))),
        )
        for key, event_id in (await session.execute(query)).all():
            found[(community_id, key)] = event_id
    return found


async def claim_received(
    session: AsyncSession, scope: TenantScope, rows: Sequence[Mapping[str, Any]]
) -> set[tuple[str, str]]:
    """Record events of the caller's tenant before they are published; the (community,
    dedup key) pairs this call claimed. A pair recorded before is left alone; one another
    open transaction is claiming waits for it (the unique index), so two concurrent
    requests never both claim a key. Rows go in key order, so claims never deadlock."""
    tenant_id = caller_of(scope).tenant_id
    if any(row["tenant_id"] != tenant_id for row in rows):
        raise ValueError("received events of another tenant")
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda row: (str(row["community_id"]), str(row["dedup_key"])))
    table = received_events
    statement = _insert_ignoring_conflicts(session, table).returning(
        table.c.community_id, table.c.dedup_key
    )
    claimed: set[tuple[str, str]] = set()
    for start in range(0, len(ordered), 500):
        result = await session.execute(statement, ordered[start : start + 500])
        claimed.update((community, key) for community, key in result.all())
    return claimed


async def list_received(
    session: AsyncSession,
    scope: TenantScope,
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
    """Newest received events of a community the caller may see first, with filters."""
    caller = caller_of(scope)
    table = received_events
    query = select(table).where(
        table.c.tenant_id == caller.tenant_id,
        table.c.community_id == community_id,
        *_community_filter(caller, table.c.community_id),
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


# idempotency keys and action results ---------------------------------------


async def get_idempotent(session: AsyncSession, scope: TenantScope, key: str) -> RowMapping | None:
    """The stored answer to an earlier request with this Idempotency-Key."""
    query = select(idempotency_keys).where(
        idempotency_keys.c.tenant_id == caller_of(scope).tenant_id, idempotency_keys.c.key == key
    )
    return (await session.execute(query)).mappings().first()


async def claim_idempotent(
    session: AsyncSession, *, tenant_id: str, key: str, request_hash: str
) -> bool:
    """Take an Idempotency-Key for this transaction; False when a request holds or held it.

    The row stays invisible to others until the transaction commits with its answer
    (answer_idempotent); a concurrent request with the same key waits for that commit
    and is then refused, or takes the key if this transaction rolled back."""
    statement = (
        _insert_ignoring_conflicts(session, idempotency_keys)
        .values(tenant_id=tenant_id, key=key, request_hash=request_hash, status_code=0, response={})
        .returning(idempotency_keys.c.key)
    )
    return (await session.execute(statement)).first() is not None


async def answer_idempotent(
    session: AsyncSession,
    *,
    tenant_id: str,
    key: str,
    status_code: int,
    response: Mapping[str, Any],
) -> None:
    """Store the answer to the request that claimed this Idempotency-Key."""
    await session.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.tenant_id == tenant_id, idempotency_keys.c.key == key)
        .values(status_code=status_code, response=dict(response))
    )


async def insert_action_result(session: AsyncSession, **values: Any) -> None:
    """Record what happened to an action on its platform."""
    await session.execute(action_results.insert().values(**values))


async def action_results_of(session: AsyncSession, action_id: str) -> Sequence[RowMapping]:
    """Recorded results of one action."""
    query = select(action_results).where(action_results.c.action_id == action_id)
    return (await session.execute(query.order_by(action_results.c.id))).mappings().all()


# action attempts -------------------------------------------------------------

OPEN_ATTEMPT = ("pending", "in_flight")


async def record_attempt(session: AsyncSession, **values: Any) -> bool:
    """Queue one platform call; False when this action (and target) was recorded before."""
    statement = _insert_ignoring_conflicts(session, action_attempts).values(**values)
    result = await session.execute(statement.returning(action_attempts.c.id))
    return result.first() is not None


async def claim_attempts(
    session: AsyncSession, *, now: datetime, lease_until: datetime, claim_id: str, limit: int
) -> Sequence[RowMapping]:
    """Mark up to `limit` due attempts in_flight under `claim_id`, at most one per binding.

    Every tenant's: the dispatcher works on Hearth's own behalf, never for a caller.

    Only the oldest open attempt of a binding is due (a binding's actions go out in order);
    an in_flight one is due again once its lease expired (its dispatcher died mid-call).
    On PostgreSQL the rows are locked with SKIP LOCKED, so replicas never claim one twice.
    """
    t = action_attempts
    older = action_attempts.alias("older")
    is_head = ~(
        select(older.c.id)
        .where(
            older.c.binding_id == t.c.binding_id,
            older.c.status.in_(OPEN_ATTEMPT),
            older.c.id < t.c.id,
        )
        .exists()
    )
    due = or_(
        (t.c.status == "pending") & (t.c.next_attempt_at <= now),
        (t.c.status == "in_flight") & (t.c.lease_until <= now),
    )
    candidates = (
        select(t.c.id)
        .where(t.c.status.in_(OPEN_ATTEMPT), due, is_head)
        .order_by(t.c.next_attempt_at, t.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    ids = list((await session.execute(candidates)).scalars())
    if not ids:
        return []
    claim = (
        update(t)
        .where(t.c.id.in_(ids), due)
        .values(
            status="in_flight",
            claim_id=claim_id,
            lease_until=lease_until,
            attempts=t.c.attempts + 1,
            updated_at=now,
        )
        .returning(t)
    )
    return (await session.execute(claim)).mappings().all()


async def reschedule_attempt(
    session: AsyncSession, attempt_id: int, claim_id: str, *, at: datetime, detail: str
) -> bool:
    """Put a claimed attempt back to pending until `at`; False when the claim was lost."""
    return await _settle(
        session,
        attempt_id,
        claim_id,
        status="pending",
        next_attempt_at=at,
        detail=detail[:1000],
        claim_id=None,
        lease_until=None,
    )


async def finish_attempt(
    session: AsyncSession, attempt_id: int, claim_id: str, *, status: str, outcome: str, detail: str
) -> bool:
    """Mark a claimed attempt done or failed; False when the claim was lost (lease expired)."""
    return await _settle(
        session,
        attempt_id,
        claim_id,
        status=status,
        outcome=outcome,
        detail=detail[:1000],
        lease_until=None,
    )


async def _settle(session: AsyncSession, attempt_id: int, claim: str, **values: Any) -> bool:
    t = action_attempts
    statement = (
        update(t)
        .where(t.c.id == attempt_id, t.c.claim_id == claim, t.c.status == "in_flight")
        .values(**values, updated_at=utcnow())
        .returning(t.c.id)
    )
    return (await session.execute(statement)).first() is not None


async def attempts_of(
    session: AsyncSession, tenant_id: str, action_id: str
) -> Sequence[RowMapping]:
    """Recorded attempts of one action (a role grant has one per account and role)."""
    query = select(action_attempts).where(
        action_attempts.c.tenant_id == tenant_id, action_attempts.c.action_id == action_id
    )
    return (await session.execute(query.order_by(action_attempts.c.id))).mappings().all()


# connectors' own bookkeeping -------------------------------------------------
#
# Platform facts, read only by Hearth's connectors (never by a route): a poll's chat is
# Telegram's, and it is used only to pick among the bindings of the bot that asks.


async def remember_polls(session: AsyncSession, polls: Iterable[tuple[str, str, int]]) -> None:
    """Record (poll id, chat id, message id) of poll messages seen; repeats change nothing."""
    rows = [{"poll_id": p, "chat_id": c, "message_id": m} for p, c, m in polls]
    if rows:
        await session.execute(_insert_ignoring_conflicts(session, telegram_polls), rows)


async def chats_of_polls(session: AsyncSession, poll_ids: Iterable[str]) -> dict[str, set[str]]:
    """The chats each poll was seen in."""
    wanted = sorted(set(poll_ids))
    if not wanted:
        return {}
    query = select(telegram_polls.c.poll_id, telegram_polls.c.chat_id).where(
        telegram_polls.c.poll_id.in_(wanted)
    )
    found: dict[str, set[str]] = {}
    for poll_id, chat_id in (await session.execute(query)).all():
        found.setdefault(poll_id, set()).add(chat_id)
    return found


async def advance_channel_marks(
    session: AsyncSession, binding_id: str, newest: Mapping[str, int]
) -> None:
    """Move each channel's mark up to the newest message id published (never down)."""
    if not newest:
        return
    table = discord_channel_marks
    rows = [
        {"binding_id": binding_id, "channel_id": channel, "last_message_id": message}
        for channel, message in newest.items()
    ]
    if session.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(table)
        higher = func.greatest(table.c.last_message_id, pg.excluded.last_message_id)
        statement: Insert = pg.on_conflict_do_update(
            index_elements=[table.c.binding_id, table.c.channel_id],
            set_={"last_message_id": higher, "updated_at": func.now()},
        )
    else:
        lite = sqlite.insert(table)
        higher = func.max(table.c.last_message_id, lite.excluded.last_message_id)
        statement = lite.on_conflict_do_update(
            index_elements=[table.c.binding_id, table.c.channel_id],
            set_={"last_message_id": higher, "updated_at": func.now()},
        )
    await session.execute(statement, rows)


async def channel_marks(session: AsyncSession, binding_id: str) -> dict[str, int]:
    """The newest published message id of each channel of a binding."""
    query = select(discord_channel_marks.c.channel_id, discord_channel_marks.c.last_message_id)
    rows = await session.execute(query.where(discord_channel_marks.c.binding_id == binding_id))
    return {channel: int(message) for channel, message in rows.all()}
