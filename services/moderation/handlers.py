"""Every reaction of the moderation service to an event, in one place.

Handlers take a typed payload and the service's unit of work, and never commit:

    async def handler(event: CommunityEvent, uow: ModerationUoW) -> None: ...
"""

from __future__ import annotations

from services.moderation.context import context_of
from services.moderation.domain.detectors import Message
from services.moderation.domain.engine import Evaluation
from services.moderation.domain.sanctions import as_utc
from services.moderation.metrics import DECISIONS_TOTAL, REGEX_TIMEOUTS_TOTAL
from services.moderation.review import QUEUED, SOURCE, Offence, strike
from services.moderation.uow import ModerationUoW
from shared.api.auth import Principal
from shared.db.consuming import Handler
from shared.events.community import CommunityEvent, CommunityEventType
from shared.events.envelope import new_event_id, utcnow
from shared.events.payloads import (
    ActionKind,
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
    )
    if decision_id is None:
        return
    DECISIONS_TOTAL.labels(evaluation.verdict.value, str(event.backfilled).lower()).inc()
    if evaluation.timed_out:
        REGEX_TIMEOUTS_TOTAL.inc(len(evaluation.timed_out))
    if event.backfilled:
        return
    await _publish(event, evaluation, uow, act=act)
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
        )
        await strike(uow, offence, engine.ruleset.sanctions, given_by="system")


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
}
