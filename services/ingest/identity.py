"""Linking, merging and unmerging members; every change is published on members.identity.v1.

Every function acts as a caller (shared.api.auth.Caller): a key bound to some
communities only reaches members seen in them, and an unknown member and a member out
of reach are the same UnknownMember.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import repository
from services.ingest.repository import TenantScope, caller_of
from services.ingest.tables import metadata
from shared.db.outbox import Outbox
from shared.db.tables import outbox_table
from shared.events.envelope import new_event_id
from shared.events.payloads import Identity, IdentityEvent, IdentityEventType
from shared.events.topics import MEMBERS_IDENTITY

OUTBOX = outbox_table(metadata)


class IdentityConflict(ValueError):
    """The change would contradict the current links; the message says how."""


class UnknownMember(LookupError):
    """No such member in this tenant, or none the caller may see."""


async def _publish(session: AsyncSession, event: IdentityEvent) -> None:
    envelope = event.to_envelope(source="/hearth/ingest")
    await Outbox(session, OUTBOX).add(MEMBERS_IDENTITY.name, envelope)


async def _identities(session: AsyncSession, tenant_id: str, member_id: str) -> list[Identity]:
    # What is published is the member's whole set, whoever asked for the change.
    rows = await repository.identities_of(session, tenant_id, [member_id])
    return [
        Identity(
            platform=row["platform"],
            platform_user_id=row["platform_user_id"],
            username=row["username"],
            is_bot=row["is_bot"],
        )
        for row in rows
    ]


async def _live_member(session: AsyncSession, caller: TenantScope, member_id: str) -> None:
    member = await repository.get_member(session, caller, member_id)
    if member is None:
        raise UnknownMember(member_id)
    if member["merged_into"]:
        raise IdentityConflict(
            f"member {member_id} was merged into {member['merged_into']}; act on that member"
        )


async def link_identity(
    session: AsyncSession,
    caller: TenantScope,
    member_id: str,
    *,
    platform: str,
    platform_user_id: str,
    username: str | None,
    display_name: str | None,
) -> None:
    """Link a platform account to a member; conflict when another member has it."""
    tenant_id = caller_of(caller).tenant_id
    await _live_member(session, caller, member_id)
    existing = await repository.identity_row(session, caller, platform, platform_user_id)
    if existing is not None:
        if existing["member_id"] == member_id:
            return
        raise IdentityConflict(
            f"{platform} account {platform_user_id} belongs to member {existing['member_id']}; "
            "merge the two members instead"
        )
    if await repository.identity_taken(session, caller, platform, platform_user_id):
        # Owned by a member this key cannot see: say no without naming it.
        raise IdentityConflict(
            f"{platform} account {platform_user_id} belongs to another member; "
            "a key for all communities can merge the two"
        )
    await repository.insert_identity(
        session,
        caller,
        member_id=member_id,
        platform=platform,
        platform_user_id=platform_user_id,
        username=username,
        display_name=display_name,
        linked_by="api",
    )
    await _publish(
        session,
        IdentityEvent(
            type=IdentityEventType.IDENTITY_LINKED,
            tenant_id=tenant_id,
            member_id=member_id,
            identities=[
                Identity(platform=platform, platform_user_id=platform_user_id, username=username)
            ],
        ),
    )


async def merge_members(
    session: AsyncSession, caller: TenantScope, *, target: str, source: str, reason: str | None
) -> str:
    """Fold `source` into `target`, keeping a record that lets it be undone; the merge id.

    Both members must be ones the caller may see."""
    tenant_id = caller_of(caller).tenant_id
    if target == source:
        raise IdentityConflict("a member cannot be merged into itself")
    await _live_member(session, caller, target)
    await _live_member(session, caller, source)
    # Every identity of the source moves, also those seen only in other communities.
    moved = await repository.identities_of(session, tenant_id, [source])
    merge_id = new_event_id()
    await repository.insert_merge(
        session,
        caller,
        id=merge_id,
        target_member_id=target,
        source_member_id=source,
        identity_ids=[row["id"] for row in moved],
        reason=reason,
    )
    await repository.move_identities(session, tenant_id, [row["id"] for row in moved], target)
    await repository.set_merged_into(session, tenant_id, source, target)
    await _publish(
        session,
        IdentityEvent(
            type=IdentityEventType.MEMBERS_MERGED,
            tenant_id=tenant_id,
            member_id=target,
            identities=await _identities(session, tenant_id, target),
            merged_member_ids=[source],
            reason=reason,
        ),
    )
    return merge_id


async def unmerge(session: AsyncSession, caller: TenantScope, merge_id: str) -> tuple[str, str]:
    """Undo a merge the caller may see: the source member gets its identities back;
    (target, source)."""
    tenant_id = caller_of(caller).tenant_id
    merge = await repository.get_merge(session, caller, merge_id)
    if merge is None:
        raise UnknownMember(f"merge {merge_id}")
    if merge["undone_at"] is not None:
        raise IdentityConflict(f"merge {merge_id} was already undone")
    target, source = merge["target_member_id"], merge["source_member_id"]
    current = {
        row["id"]: row for row in await repository.identities_of(session, tenant_id, [target])
    }
    missing = [i for i in merge["identity_ids"] if i not in current]
    if missing:
        raise IdentityConflict(
            f"identities of merge {merge_id} moved on since (a later merge?); undo that first"
        )
    await repository.move_identities(session, tenant_id, merge["identity_ids"], source)
    await repository.set_merged_into(session, tenant_id, source, None)
    await repository.mark_merge_undone(session, tenant_id, merge_id)
    for member_id, others in ((source, [target]), (target, [source])):
        await _publish(
            session,
            IdentityEvent(
                type=IdentityEventType.MEMBERS_UNMERGED,
                tenant_id=tenant_id,
                member_id=member_id,
                identities=await _identities(session, tenant_id, member_id),
                merged_member_ids=others,
                reason=f"merge {merge_id} undone",
            ),
        )
    return target, source
