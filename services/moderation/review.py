"""What a removal costs a member, and what a moderator's review changes.

Shared by the consumer (automatic removals) and the review routes (a moderator's
decision); everything goes through the unit of work, so the stored change and the events
it publishes commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.moderation.domain.engine import _CATEGORY as KIND_CATEGORY
from services.moderation.domain.rules import RuleSet
from services.moderation.domain.sanctions import (
    Penalty,
    SanctionKind,
    Sanctions,
    active_strikes,
    as_utc,
    sanction_for,
)
from services.moderation.metrics import OVERTURNED_TOTAL, REVIEWS_TOTAL, SANCTIONS_TOTAL
from services.moderation.uow import ModerationUoW
from shared.events.community import Platform
from shared.events.envelope import new_event_id
from shared.events.payloads import (
    ActionKind,
    DecisionEventType,
    ModerationAction,
    ModerationDecision,
    Verdict,
)
from shared.events.topics import MODERATION_ACTIONS, MODERATION_DECISIONS

SOURCE = "/hearth/moderation"
QUEUED = frozenset({Verdict.FLAG, Verdict.HIDE})
"""Automatic verdicts that wait for a moderator."""
TAKEN_DOWN = frozenset({Verdict.HIDE, Verdict.REMOVE})

_ACTION = {
    SanctionKind.WARN: ActionKind.WARN,
    SanctionKind.MUTE: ActionKind.MUTE,
    SanctionKind.BAN: ActionKind.BAN,
}


@dataclass(frozen=True)
class Offence:
    """A removed message, as strikes and sanctions need it."""

    tenant_id: str
    community_id: str
    author: str
    platform: Platform
    channel_id: str | None
    message_id: str | None
    platform_user_id: str | None
    subject_event_id: str
    occurred_at: datetime
    reason: str | None
    decision_id: int | None
    category: str | None = None
    """The deciding rule's category or classifier attribute, for severe categories."""


@dataclass(frozen=True)
class Sanctioned:
    """The sanction a strike earned."""

    step: Penalty
    strikes: int
    action_id: str


async def strike(
    uow: ModerationUoW, offence: Offence, sanctions: Sanctions | None, *, given_by: str
) -> Sanctioned | None:
    """Give the author a strike for the removed message and send the sanction the ladder
    asks for. A message gives one strike at most; strikes count from the message's time,
    so a replay judges the same way."""
    added = await uow.strikes.add(
        tenant_id=offence.tenant_id,
        community_id=offence.community_id,
        author=offence.author,
        subject_event_id=offence.subject_event_id,
        reason=offence.reason,
        given_by=given_by,
        occurred_at=as_utc(offence.occurred_at),
    )
    if not added:
        return None
    await uow.audit.append(
        tenant_id=offence.tenant_id,
        community_id=offence.community_id,
        actor=given_by,
        action="strike",
        decision_id=offence.decision_id,
        subject_event_id=offence.subject_event_id,
        detail={"author": offence.author, "reason": offence.reason},
    )
    if sanctions is None:
        return None
    since = as_utc(offence.occurred_at) - timedelta(seconds=sanctions.strike_expiry_seconds)
    times = await uow.strikes.times(
        offence.tenant_id, offence.community_id, offence.author, since=since
    )
    count = active_strikes(times, offence.occurred_at, sanctions.strike_expiry_seconds)
    step = sanction_for(sanctions, count, offence.category)
    if step is None:
        return None
    action = ModerationAction(
        tenant_id=offence.tenant_id,
        community_id=offence.community_id,
        platform=offence.platform,
        action=_ACTION[step.action],
        channel_id=offence.channel_id,
        # a warning replies to the removed message (connectors send it without the reply
        # when the message is gone)
        message_id=offence.message_id,
        platform_user_id=offence.platform_user_id,
        duration_seconds=step.duration_seconds,
        reason=f"{count} strike(s)" + (f": {offence.reason}" if offence.reason else ""),
    )
    await uow.sanctions.add(
        tenant_id=offence.tenant_id,
        community_id=offence.community_id,
        author=offence.author,
        platform_user_id=offence.platform_user_id,
        action=step.action.value,
        duration_seconds=step.duration_seconds,
        strikes=count,
        action_id=action.action_id,
        subject_event_id=offence.subject_event_id,
        platform=offence.platform.value,
        channel_id=offence.channel_id,
    )
    await uow.audit.append(
        tenant_id=offence.tenant_id,
        community_id=offence.community_id,
        actor=given_by,
        action="sanction",
        decision_id=offence.decision_id,
        subject_event_id=offence.subject_event_id,
        detail={
            "author": offence.author,
            "action": step.action.value,
            "duration_seconds": step.duration_seconds,
            "strikes": count,
            "action_id": action.action_id,
            "category": offence.category,
        },
    )
    await uow.outbox.add(MODERATION_ACTIONS.name, action.to_envelope(source=SOURCE))
    SANCTIONS_TOTAL.labels(step.action.value).inc()
    return Sanctioned(step, count, action.action_id)


def category_of(ruleset: RuleSet, rule_id: str | None) -> str | None:
    """The category a rule feeds (a classifier rule's is its attribute), for severe
    categories on a moderator's removal."""
    if rule_id is None:
        return None
    if rule_id.startswith("classifier."):
        return rule_id.removeprefix("classifier.")
    for rule in ruleset.rules:
        if rule.id == rule_id:
            return rule.category or KIND_CATEGORY[rule.kind]
    return None


@dataclass(frozen=True)
class Reviewed:
    """What a moderator's verdict did."""

    overturned: bool
    published: list[str]
    sanctioned: Sanctioned | None


async def apply_review(
    uow: ModerationUoW,
    item: dict[str, Any],
    verdict: Verdict,
    sanctions: Sanctions | None,
    *,
    moderator: str,
    category: str | None = None,
) -> Reviewed:
    """Publish what a moderator's verdict on a queued decision changes.

    allow on hidden content: `moderation.content.restored` (the points come back);
    remove on flagged content: `moderation.content.removed` and a delete; remove on either:
    a strike. An automatic flag or hide a moderator allows is overturned."""
    auto = Verdict(item["auto_verdict"])
    overturned = verdict == Verdict.ALLOW
    decision = ModerationDecision(
        type=DecisionEventType.DECISION_MADE,
        tenant_id=item["tenant_id"],
        community_id=item["community_id"],
        subject_event_id=item["subject_event_id"],
        member_id=item["member_id"],
        verdict=verdict,
        reasons=[f"review: {verdict.value} by a moderator"],
    )
    published = [DecisionEventType.DECISION_MADE.value]
    await uow.outbox.add(MODERATION_DECISIONS.name, decision.to_envelope(source=SOURCE))
    follow_up: DecisionEventType | None = None
    if verdict == Verdict.ALLOW and auto in TAKEN_DOWN:
        follow_up = DecisionEventType.CONTENT_RESTORED
    elif verdict == Verdict.REMOVE and auto not in TAKEN_DOWN:
        follow_up = DecisionEventType.CONTENT_REMOVED
    if follow_up is not None:
        event = decision.model_copy(update={"type": follow_up, "event_id": new_event_id()})
        await uow.outbox.add(MODERATION_DECISIONS.name, event.to_envelope(source=SOURCE))
        published.append(follow_up.value)
    platform = Platform(item["platform"])
    if follow_up == DecisionEventType.CONTENT_REMOVED:
        delete = ModerationAction(
            tenant_id=item["tenant_id"],
            community_id=item["community_id"],
            platform=platform,
            action=ActionKind.DELETE,
            channel_id=item["channel_id"],
            message_id=item["message_id"],
            platform_user_id=item["platform_user_id"],
            reason=item["reason"],
        )
        await uow.outbox.add(MODERATION_ACTIONS.name, delete.to_envelope(source=SOURCE))
        published.append(f"{MODERATION_ACTIONS.name}:delete")
    sanctioned = None
    if verdict == Verdict.REMOVE:
        offence = Offence(
            tenant_id=item["tenant_id"],
            community_id=item["community_id"],
            author=item["author"],
            platform=platform,
            channel_id=item["channel_id"],
            message_id=item["message_id"],
            platform_user_id=item["platform_user_id"],
            subject_event_id=item["subject_event_id"],
            occurred_at=item["occurred_at"],
            reason=item["reason"],
            decision_id=item["decision_id"],
            category=category,
        )
        sanctioned = await strike(uow, offence, sanctions, given_by=moderator)
    REVIEWS_TOTAL.labels(auto.value, verdict.value).inc()
    if overturned:
        OVERTURNED_TOTAL.labels(auto.value).inc()
    return Reviewed(overturned, published, sanctioned)
