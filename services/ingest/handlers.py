"""Every reaction of the ingest service to an event, in one place.

Moderation actions and core-member role changes are only recorded here, in the consumer's
transaction (action_attempts); the dispatcher (dispatch.py) carries them to the platforms
after the commit, outside any transaction, and publishes each outcome on
ingest.action_results.v1. So a batch that rolls back and is replayed sends nothing twice,
and a slow platform never holds the consumer or a database connection.
"""

from __future__ import annotations

from services.ingest import repository
from services.ingest.dispatch import NO_BINDING, record_result
from services.ingest.outbound.base import ActionOutcome
from services.ingest.outbound.base import ActionResult as Result
from shared.db.consuming import Handler, UnitOfWork
from shared.events.community import Platform
from shared.events.envelope import Envelope, utcnow
from shared.events.payloads import (
    ActionEventType,
    CoreMemberChange,
    CoreMemberEventType,
    ModerationAction,
)


async def carry_out_action(
    action: ModerationAction, uow: UnitOfWork, *, envelope: Envelope
) -> None:
    """Record a delete, hide, warn, mute, ban or unban for the dispatcher to carry out."""
    binding = await repository.binding_of_community(
        uow.session, action.tenant_id, action.community_id, action.platform.value
    )
    if binding is None:
        await record_result(
            uow.session,
            source=envelope,
            group=uow.group,
            action_id=action.action_id,
            tenant_id=action.tenant_id,
            community_id=action.community_id,
            platform=action.platform,
            action=action.action.value,
            outcome=NO_BINDING,
            result=Result(ActionOutcome.PLATFORM_ERROR, NO_BINDING, 0),
        )
        return
    await repository.record_attempt(
        uow.session,
        action_id=action.action_id,
        binding_id=binding["id"],
        tenant_id=action.tenant_id,
        community_id=action.community_id,
        platform=action.platform.value,
        action=action.action.value,
        request=action.model_dump(mode="json"),
        source=envelope.model_dump(mode="json"),
        consumer_group=uow.group,
        next_attempt_at=utcnow(),
    )


async def sync_core_member_role(
    change: CoreMemberChange, uow: UnitOfWork, *, envelope: Envelope
) -> None:
    """Record a role grant (or revoke) on every binding configured with a core-member role."""
    bindings = await repository.list_bindings(uow.session, change.tenant_id, change.community_id)
    identities = await repository.identities_of(uow.session, change.tenant_id, [change.member_id])
    for binding in bindings:
        role_id = (binding["options"] or {}).get("core_member_role_id")
        if not role_id:
            continue
        for identity in identities:
            if identity["platform"] != binding["platform"]:
                continue
            request = {
                "platform": Platform(binding["platform"]).value,
                "workspace_id": binding["external_id"],
                "platform_user_id": identity["platform_user_id"],
                "role_id": str(role_id),
                "grant": change.core_member,
            }
            await repository.record_attempt(
                uow.session,
                action_id=change.event_id,
                binding_id=binding["id"],
                platform_user_id=identity["platform_user_id"],
                role_id=str(role_id),
                tenant_id=change.tenant_id,
                community_id=change.community_id,
                platform=binding["platform"],
                action="grant_role" if change.core_member else "revoke_role",
                request=request,
                source=envelope.model_dump(mode="json"),
                consumer_group=uow.group,
                next_attempt_at=utcnow(),
            )


HANDLERS: dict[str, Handler] = {
    ActionEventType.ACTION_REQUESTED.value: carry_out_action,
    CoreMemberEventType.CORE_MEMBER_CHANGED.value: sync_core_member_role,
}
