"""Every reaction of the moderation service to an event, in one place.

Handlers take a typed payload and the service's unit of work, and never commit:

    async def handler(event: CommunityEvent, uow: ModerationUoW) -> None: ...
"""

from __future__ import annotations

from datetime import timedelta

from services.moderation.context import context_of
from services.moderation.domain.conflict import ConflictSettings, Said, detect
from services.moderation.domain.detectors import Message
from services.moderation.domain.engine import Evaluation
from services.moderation.domain.sanctions import as_utc
from services.moderation.metrics import (
    ACTION_RESULTS_TOTAL,
    CONFLICTS_TOTAL,
    DECISIONS_TOTAL,
    REGEX_TIMEOUTS_TOTAL,
)
from services.moderation.review import QUEUED, SOURCE, Offence, strike
from services.moderation.uow import ModerationUoW
from shared.api.auth import Principal
from shared.db.consuming import Handler
from shared.events.community import CommunityEvent, CommunityEventType
from shared.events.envelope import new_event_id, utcnow
from shared.events.payloads import (
    ActionKind,
    ActionResult,
    ActionResultEventType,
    ConflictAlert,
    DecisionEventType,
    ModerationAction,
    ModerationDecision,
    Verdict,
)
from shared.events.topics import MODERATION_ACTIONS, MODERATION_DECISIONS

ACTED_ON = frozenset({Verdict.HIDE, Verdict.REMOVE})


def author_of(event: CommunityEvent) -> str:
    """Who wrote it, as flood rules count: the member, or the platform account."""
    return event.actor.member_id or f"{event.platform.value}:{event.actor.platform_user_id}"


def message_of(event: CommunityEvent) -> Message:
    """What the rules look at in a community event."""
    content = event.content
    actor = event.actor
    ids = {actor.platform_user_id, f"{event.platform.value}:{actor.platform_user_id}"}
    ids |= {value for value in (actor.member_id, actor.username) if value}
    roles = event.attributes.get("roles")
    return Message(
        text="\n".join(part for part in (content.title, content.text) if part) if content else "",
        links=tuple(content.links) + ((str(content.url),) if content.url else ())
        if content
        else (),
        mentions=tuple(content.mentions) if content else (),
        channel_id=event.channel_id,
        author_ids=frozenset(ids),
        roles=frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset(),
    )


def reason_texts(evaluation: Evaluation) -> list[str]:
    """`<rule id>: <reason>` for each rule that matched."""
    return [f"{hit.rule_id}: {hit.reason}" for hit in evaluation.hits]


async def moderate_message(event: CommunityEvent, uow: ModerationUoW) -> None:
    """Apply the community's active rules to a new or edited message; store and publish.

    Backfilled (imported) messages are scored and stored, never acted on or published.
    """
    context = context_of(uow.context)
    system = Principal(tenant_id=event.tenant_id, key_id="system", scopes=frozenset({"*"}))
    stored = await uow.rulesets.active(system, event.community_id)
    engine = context.engines.of(event.tenant_id, stored)
    author = author_of(event)
    recent: dict[int, int] = {}
    if event.type == CommunityEventType.MESSAGE_CREATED and not event.backfilled:
        for seconds in engine.flood_windows:
            earlier = await uow.decisions.recent_messages(
                event.tenant_id,
                event.community_id,
                author,
                before=event.occurred_at,
                seconds=seconds,
            )
            recent[seconds] = earlier + 1
    evaluation = engine.evaluate(message_of(event), recent)
    act = evaluation.verdict in ACTED_ON and not event.backfilled
    decision_id = await uow.decisions.add(
        tenant_id=event.tenant_id,
        community_id=event.community_id,
        subject_event_id=event.event_id,
        event_type=event.type.value,
        author=author,
        member_id=event.actor.member_id,
        channel_id=event.channel_id,
        verdict=evaluation.verdict.value,
        rules_version=engine.version,
        rule_ids=[hit.rule_id for hit in evaluation.hits],
        reasons=reason_texts(evaluation),
        scores=evaluation.scores,
        timed_out=evaluation.timed_out,
        backfilled=event.backfilled,
        acted=act,
        occurred_at=event.occurred_at,
        platform=event.platform.value,
        message_id=message_id_of(event),
        platform_user_id=event.actor.platform_user_id,
    )
    if decision_id is None:
        return
    DECISIONS_TOTAL.labels(evaluation.verdict.value, str(event.backfilled).lower()).inc()
    if evaluation.timed_out:
        REGEX_TIMEOUTS_TOTAL.inc(len(evaluation.timed_out))
    if event.backfilled:
        return
    await _publish(event, evaluation, uow, act=act)
    if event.type == CommunityEventType.MESSAGE_CREATED:
        message = message_of(event)
        await _remember(event, message, evaluation, uow, keep=context.settings.recent_messages)
        await _watch_conflicts(event, evaluation, uow, engine.ruleset.conflicts)
    deciding = evaluation.deciding
    if evaluation.verdict in QUEUED:
        await uow.queue.add(
            tenant_id=event.tenant_id,
            community_id=event.community_id,
            decision_id=decision_id,
            subject_event_id=event.event_id,
            auto_verdict=evaluation.verdict.value,
            rule_id=deciding.rule_id if deciding else None,
            reason=deciding.reason if deciding else None,
            reasons=reason_texts(evaluation),
            author=author,
            member_id=event.actor.member_id,
            platform=event.platform.value,
            channel_id=event.channel_id,
            message_id=message_id_of(event),
            platform_user_id=event.actor.platform_user_id,
            occurred_at=as_utc(event.occurred_at),
            created_at=utcnow(),
        )
    elif evaluation.verdict == Verdict.REMOVE:
        offence = Offence(
            tenant_id=event.tenant_id,
            community_id=event.community_id,
            author=author,
            platform=event.platform,
            channel_id=event.channel_id,
            message_id=message_id_of(event),
            platform_user_id=event.actor.platform_user_id,
            subject_event_id=event.event_id,
            occurred_at=event.occurred_at,
            reason=deciding.reason if deciding else None,
            decision_id=decision_id,
            category=deciding.category if deciding else None,
        )
        await strike(uow, offence, engine.ruleset.sanctions, given_by="system")


def scope_of(event: CommunityEvent) -> str | None:
    """The conversation a message is in: its thread, else its channel."""
    if event.thread_id:
        return f"thread:{event.thread_id}"
    if event.channel_id:
        return f"channel:{event.channel_id}"
    return None


def replied_to(event: CommunityEvent) -> str | None:
    """Whom the message answers (as `author_of` names members), when the platform says."""
    target = event.object_actor
    if target is None:
        return None
    return target.member_id or f"{event.platform.value}:{target.platform_user_id}"


async def _remember(
    event: CommunityEvent,
    message: Message,
    evaluation: Evaluation,
    uow: ModerationUoW,
    *,
    keep: int,
) -> None:
    """Keep the message in the community's bounded recent window (dry runs, conflicts)."""
    scope = scope_of(event)
    if keep <= 0 or scope is None:
        return
    await uow.recent.add(
        keep=keep,
        tenant_id=event.tenant_id,
        community_id=event.community_id,
        subject_event_id=event.event_id,
        author=author_of(event),
        reply_to=replied_to(event),
        scope=scope,
        text=message.text,
        links=list(message.links),
        mentions=list(message.mentions),
        author_ids=sorted(message.author_ids),
        roles=sorted(message.roles),
        channel_id=event.channel_id,
        verdict=evaluation.verdict.value,
        toxicity=float(evaluation.scores.get("toxicity", 0.0)),
        occurred_at=as_utc(event.occurred_at),
    )


async def _watch_conflicts(
    event: CommunityEvent, evaluation: Evaluation, uow: ModerationUoW, settings: ConflictSettings
) -> None:
    """Alert once per kind, conversation and window when the conversation heats up."""
    scope = scope_of(event)
    if not settings.enabled or scope is None:
        return
    at = as_utc(event.occurred_at)
    rows = await uow.recent.window(
        event.tenant_id,
        event.community_id,
        scope,
        since=at - timedelta(seconds=settings.window_seconds),
        until=at,
    )
    window = [
        Said(r["author"], r["reply_to"], float(r["toxicity"]), r["verdict"] != Verdict.ALLOW)
        for r in rows
    ]
    latest = Said(
        author_of(event),
        replied_to(event),
        float(evaluation.scores.get("toxicity", 0.0)),
        evaluation.verdict != Verdict.ALLOW,
    )
    bucket = int(at.timestamp()) // settings.window_seconds
    for conflict in detect(window, latest, settings):
        alert_scope = scope
        if conflict.kind == "pair_replies":
            alert_scope = f"{scope}|{'|'.join(conflict.members)}"
        if not await uow.conflicts.add(
            tenant_id=event.tenant_id,
            community_id=event.community_id,
            kind=conflict.kind.value,
            scope=alert_scope[:700],
            bucket=bucket,
            created_at=utcnow(),
        ):
            continue
        alert = ModerationDecision(
            type=DecisionEventType.CONFLICT_DETECTED,
            tenant_id=event.tenant_id,
            community_id=event.community_id,
            subject_event_id=event.event_id,
            member_id=event.actor.member_id,
            verdict=Verdict.FLAG,
            reasons=[f"conflict: {conflict.kind.value}"],
            conflict=ConflictAlert(
                kind=conflict.kind.value,
                channel_id=event.channel_id,
                thread_id=event.thread_id,
                members=conflict.members,
                window_seconds=settings.window_seconds,
                value=conflict.value,
                threshold=conflict.threshold,
                messages=conflict.messages,
            ),
        )
        await uow.outbox.add(MODERATION_DECISIONS.name, alert.to_envelope(source=SOURCE))
        CONFLICTS_TOTAL.labels(conflict.kind.value).inc()


async def record_action_result(result: ActionResult, uow: ModerationUoW) -> None:
    """Show on the sanction (or the appeal's unmute / unban) what the platform did."""
    tenant, action_id, at = result.tenant_id, result.action_id, utcnow()
    outcome, detail = result.outcome, result.detail
    if await uow.sanctions.record_result(tenant, action_id, result=outcome, detail=detail, at=at):
        ACTION_RESULTS_TOTAL.labels("sanction", outcome).inc()
    elif await uow.appeals.record_result(tenant, action_id, result=outcome, detail=detail, at=at):
        ACTION_RESULTS_TOTAL.labels("appeal", outcome).inc()


def message_id_of(event: CommunityEvent) -> str | None:
    """The platform's id of the message: `attributes.message_id`, else the source event id."""
    message_id = event.attributes.get("message_id") or event.source_event_id
    return None if message_id is None else str(message_id)


async def _publish(
    event: CommunityEvent, evaluation: Evaluation, uow: ModerationUoW, *, act: bool
) -> None:
    decision = ModerationDecision(
        type=DecisionEventType.DECISION_MADE,
        tenant_id=event.tenant_id,
        community_id=event.community_id,
        subject_event_id=event.event_id,
        member_id=event.actor.member_id,
        verdict=evaluation.verdict,
        reasons=reason_texts(evaluation),
        scores=evaluation.scores,
    )
    await uow.outbox.add(MODERATION_DECISIONS.name, decision.to_envelope(source=SOURCE))
    if not act:
        return
    removed = decision.model_copy(
        update={"type": DecisionEventType.CONTENT_REMOVED, "event_id": new_event_id()}
    )
    await uow.outbox.add(MODERATION_DECISIONS.name, removed.to_envelope(source=SOURCE))
    action = ModerationAction(
        tenant_id=event.tenant_id,
        community_id=event.community_id,
        platform=event.platform,
        action=ActionKind.DELETE,
        channel_id=event.channel_id,
        message_id=message_id_of(event),
        platform_user_id=event.actor.platform_user_id,
        reason=evaluation.deciding.reason if evaluation.deciding else None,
    )
    await uow.outbox.add(MODERATION_ACTIONS.name, action.to_envelope(source=SOURCE))


HANDLERS: dict[str, Handler] = {
    CommunityEventType.MESSAGE_CREATED.value: moderate_message,
    CommunityEventType.MESSAGE_EDITED.value: moderate_message,
    ActionResultEventType.ACTION_COMPLETED.value: record_action_result,
    ActionResultEventType.ACTION_FAILED.value: record_action_result,
}
