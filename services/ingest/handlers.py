"""Every reaction of the ingest service to an event, in one place.

Moderation actions and core-member role changes are carried to the platforms through
the real client libraries; each outcome is recorded and published on
ingest.action_results.v1. An action still failing after its retries is also
dead-lettered (moderation.actions.v1.<group>.dlq) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.engine import RowMapping

from services.ingest import repository
from services.ingest.context import IngestContext
from services.ingest.outbound.base import (
    ActionOutcome,
    PermanentPlatformError,
    PlatformClient,
    RoleGrant,
    Unsupported,
)
from services.ingest.outbound.base import ActionResult as Result
from services.ingest.outbound.executor import clients_for, execute
from shared.bus.port import Outgoing, envelope_message
from shared.bus.runtime import DLQ_ATTEMPTS, DLQ_ERROR_MESSAGE, DLQ_ERROR_TYPE, DLQ_GROUP, DLQ_TOPIC
from shared.db.consuming import Handler, UnitOfWork
from shared.events.community import Platform
from shared.events.envelope import Envelope
from shared.events.payloads import (
    ActionEventType,
    ActionResult,
    ActionResultEventType,
    AwardEvent,
    AwardEventType,
    ModerationAction,
)
from shared.events.topics import ACTION_RESULTS, MODERATION_ACTIONS, dlq_topic

NO_BINDING = "no_binding"


async def carry_out_action(envelope: Envelope, uow: UnitOfWork) -> None:
    """Delete, hide, warn, mute, ban or unban on the platform the action names."""
    ctx: IngestContext = uow.context
    action = ModerationAction.model_validate(envelope.data)
    binding = await repository.binding_of_community(
        uow.session, action.community_id, action.platform.value
    )
    if binding is None:
        result = Result(ActionOutcome.PLATFORM_ERROR, NO_BINDING, 0)
        outcome = NO_BINDING
    else:
        external_id = binding["external_id"]
        result = await _run(ctx, binding, lambda c: c.apply(action, external_id=external_id))
        outcome = result.outcome.value
    await _record(
        uow,
        envelope,
        action_id=action.action_id,
        tenant_id=action.tenant_id,
        community_id=action.community_id,
        platform=action.platform,
        action=action.action.value,
        outcome=outcome,
        result=result,
    )


async def sync_core_member_role(envelope: Envelope, uow: UnitOfWork) -> None:
    """Grant or take back the core-member role on every platform configured with one."""
    ctx: IngestContext = uow.context
    award = AwardEvent.model_validate(envelope.data)
    if award.core_member is None:
        return
    bindings = await repository.list_bindings(uow.session, award.tenant_id, award.community_id)
    identities = await repository.identities_of(uow.session, award.tenant_id, [award.member_id])
    for binding in bindings:
        role_id = (binding["options"] or {}).get("core_member_role_id")
        if not role_id:
            continue
        for identity in identities:
            if identity["platform"] != binding["platform"]:
                continue
            grant = RoleGrant(
                platform=Platform(binding["platform"]),
                workspace_id=binding["external_id"],
                platform_user_id=identity["platform_user_id"],
                role_id=str(role_id),
                grant=award.core_member,
            )
            result = await _run(ctx, binding, _granting(grant, binding["external_id"]))
            await _record(
                uow,
                envelope,
                action_id=award.event_id,
                tenant_id=award.tenant_id,
                community_id=award.community_id,
                platform=grant.platform,
                action="grant_role" if grant.grant else "revoke_role",
                outcome=result.outcome.value,
                result=result,
            )


def _granting(grant: RoleGrant, external_id: str) -> Callable[[PlatformClient], Awaitable[None]]:
    async def call(client: PlatformClient) -> None:
        await client.grant_role(grant, external_id=external_id)

    return call


async def _run(
    ctx: IngestContext,
    binding: RowMapping,
    call: Callable[[PlatformClient], Awaitable[None]],
) -> Result:
    platform = Platform(binding["platform"])
    try:
        client = clients_for(platform, ctx.secrets.open(binding["secrets"]), ctx.platform_urls)
    except Unsupported as exc:
        return Result(ActionOutcome.UNSUPPORTED, exc.reason, 0)
    except PermanentPlatformError as exc:
        return Result(ActionOutcome.PLATFORM_ERROR, exc.detail, 0, exc.status)
    settings = ctx.settings
    try:
        return await execute(
            lambda: call(client),
            attempts=settings.action_attempts,
            backoff_initial=settings.action_backoff_seconds,
            max_retry_after=settings.action_max_retry_after,
        )
    finally:
        await client.aclose()


async def _record(
    uow: UnitOfWork,
    source: Envelope,
    *,
    action_id: str,
    tenant_id: str,
    community_id: str,
    platform: Platform,
    action: str,
    outcome: str,
    result: Result,
) -> None:
    await repository.insert_action_result(
        uow.session,
        action_id=action_id,
        tenant_id=tenant_id,
        community_id=community_id,
        platform=platform.value,
        action=action,
        outcome=outcome,
        detail=result.detail[:1000],
        attempts=result.attempts,
    )
    event = ActionResult(
        type=ActionResultEventType.ACTION_COMPLETED
        if result.outcome is ActionOutcome.DONE
        else ActionResultEventType.ACTION_FAILED,
        tenant_id=tenant_id,
        action_id=action_id,
        community_id=community_id,
        platform=platform,
        action=action,
        outcome=outcome,
        detail=result.detail,
        attempts=result.attempts,
    )
    await uow.outbox.add(
        ACTION_RESULTS.name,
        event.to_envelope(source="/hearth/ingest", partitionkey=f"{community_id}:{action_id}"),
    )
    if result.outcome is ActionOutcome.RETRIES_EXHAUSTED:
        await _dead_letter(uow, source, result)


async def _dead_letter(uow: UnitOfWork, source: Envelope, result: Result) -> None:
    original = envelope_message(MODERATION_ACTIONS.name, source)
    headers: tuple[tuple[str, bytes], ...] = (
        *original.headers,
        (DLQ_ERROR_TYPE, b"RetriesExhausted"),
        (DLQ_ERROR_MESSAGE, result.detail[:1000].encode()),
        (DLQ_ATTEMPTS, str(result.attempts).encode()),
        (DLQ_TOPIC, MODERATION_ACTIONS.name.encode()),
        (DLQ_GROUP, uow.group.encode()),
    )
    topic = dlq_topic(MODERATION_ACTIONS.name, uow.group)
    message = Outgoing(topic=topic, value=original.value, key=original.key, headers=headers)
    await uow.outbox.add_messages([message], [source.id])


HANDLERS: dict[str, Handler] = {
    ActionEventType.ACTION_REQUESTED.value: carry_out_action,
    AwardEventType.CORE_MEMBER_CHANGED.value: sync_core_member_role,
}
