"""Every reaction of the insights service to an event, in one place.

Handlers take a typed payload and the service's unit of work, and never commit:

    async def handler(event: CommunityEvent, uow: InsightsUoW) -> None: ...
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from ulid import ULID

from services.insights.domain.clustering import OnlineClusterer, blended_centre
from services.insights.domain.intents import Intent
from services.insights.domain.text import fingerprint
from services.insights.embedding import DIMENSIONS, encode_async
from services.insights.intents import load_model
from services.insights.metrics import MESSAGES_CLUSTERED_TOTAL
from services.insights.repository import Feedback, NewMember
from services.insights.routing import route_cluster
from services.insights.sentiment import load_model as load_sentiment_model
from services.insights.uow import MAX_TEXT, InsightsUoW
from shared.bus.failures import Rejected
from shared.db.consuming import Handler
from shared.events.community import CommunityEvent, CommunityEventType
from shared.events.payloads import CoreMemberChange, ModerationDecision

ACTIVE = frozenset(CommunityEventType) - {
    CommunityEventType.MEMBER_LEFT,
    CommunityEventType.MESSAGE_DELETED,
    CommunityEventType.REACTION_REMOVED,
}
"""Event types that count as a member being active (for DAU/WAU/MAU and retention)."""
SAID = frozenset(
    {
        CommunityEventType.MESSAGE_CREATED,
        CommunityEventType.FEEDBACK_SUBMITTED,
        CommunityEventType.ISSUE_OPENED,
        CommunityEventType.ISSUE_COMMENTED,
        CommunityEventType.THREAD_CREATED,
    }
)
"""Event types that count as a message (for top contributors)."""


def who(event: CommunityEvent) -> str:
    """The member, or the platform account until ingest knows the member."""
    return event.actor.member_id or f"{event.platform.value}:{event.actor.platform_user_id}"


async def record_activity(event: CommunityEvent, uow: InsightsUoW) -> None:
    """Count the member active that day; a reply answers a question; keep poll answers."""
    if event.actor.is_bot:
        return
    member = who(event)
    if event.type in ACTIVE:
        await uow.activity.touch(
            event.tenant_id,
            event.community_id,
            member,
            event.occurred_at,
            message=event.type in SAID,
        )
    if event.parent_id and event.type is CommunityEventType.MESSAGE_CREATED:
        await uow.activity.answer_question(
            event.tenant_id,
            event.community_id,
            event.platform.value,
            event.parent_id,
            member,
            event.occurred_at,
        )
    if event.type is CommunityEventType.POLL_ANSWERED:
        poll_id = event.attributes.get("poll_id")
        if not isinstance(poll_id, (str, int)):
            raise Rejected("poll answer without a poll_id attribute")
        options = event.attributes.get("option_ids") or event.attributes.get("options") or []
        if not isinstance(options, list):
            raise Rejected("poll answer options are not a list")
        text = ((event.content.text if event.content else None) or "").strip() or None
        await uow.activity.record_answer(
            tenant_id=event.tenant_id,
            community_id=event.community_id,
            poll_id=str(poll_id),
            voter=member,
            source=event.platform.value,
            options=[str(o) for o in options],
            text=text,
            event_id=event.event_id,
            answered_at=event.occurred_at,
        )


async def on_message(event: CommunityEvent, uow: InsightsUoW) -> None:
    """A message or feedback: activity first, then clustering."""
    await record_activity(event, uow)
    await cluster_feedback(event, uow)


async def cluster_feedback(event: CommunityEvent, uow: InsightsUoW) -> None:
    """Embed a feedback-bearing message and put it into its community's nearest cluster.

    Explicit feedback is always clustered; a chat message only when the intent
    classifier finds feedback in it (not `other`). Bots and empty messages are skipped.
    Content moderation already removed is stored hidden and out of every centroid, so a
    later restore can bring it into its cluster.
    """
    text = ((event.content.text if event.content else None) or "").strip()
    if not text or event.actor.is_bot:
        return
    vector = uow.vectors.get(event.event_id)
    if vector is None:
        vector = (await encode_async([text[:MAX_TEXT]]))[0]
    model = load_model()
    intent = model.predict(vector[None, :])[0]
    if event.type is CommunityEventType.MESSAGE_CREATED and intent is Intent.OTHER:
        return  # chatter: decided before any database read
    feedback = uow.feedback
    if await feedback.is_clustered(event.event_id):
        return
    removed = await feedback.is_removed(event.event_id)
    sentiment = load_sentiment_model().predict(vector[None, :])[0]
    if intent is Intent.QUESTION and event.source_event_id and not event.parent_id:
        await uow.activity.add_question(
            tenant_id=event.tenant_id,
            community_id=event.community_id,
            platform=event.platform.value,
            source_event_id=event.source_event_id,
            asker=who(event),
            asked_at=event.occurred_at,
        )
    printed = fingerprint(text)
    duplicate_of = await feedback.cluster_of_fingerprint(
        event.tenant_id, event.community_id, printed
    )
    if duplicate_of is not None:
        cluster_id, duplicate = await feedback.resolve(duplicate_of), True
    else:
        place = (event.tenant_id, event.community_id)
        clusterer = uow.clusterers.get(place)
        if clusterer is None:
            clusterer = await _clusterer(feedback, model.centre, *place)
            uow.clusterers[place] = clusterer
        assignment = clusterer.assign(vector, fingerprint=printed)
        cluster_id, duplicate = assignment.cluster_id, False
        if assignment.created:
            await feedback.create_cluster(cluster_id, event.tenant_id, event.community_id)
        stored = cluster_id
        if not removed:
            stored = await feedback.add_to_centroid(cluster_id, vector)
        if removed or stored != cluster_id:  # memory and the table differ: read it afresh
            uow.clusterers.pop(place, None)
        cluster_id = stored
    await feedback.add_member(
        NewMember(
            event_id=event.event_id,
            cluster_id=cluster_id,
            tenant_id=event.tenant_id,
            community_id=event.community_id,
            member_id=event.actor.member_id,
            platform=event.platform.value,
            channel_id=event.channel_id,
            source_event_id=event.source_event_id,
            text=text,
            fingerprint=printed,
            duplicate=duplicate,
            intent=intent.value,
            sentiment=sentiment.value,
            vector=vector,
            occurred_at=event.occurred_at,
            removed=removed,
        )
    )
    if removed:
        return
    MESSAGES_CLUSTERED_TOTAL.inc()
    await route_cluster(
        uow.routing,
        uow.outbox,
        tenant_id=event.tenant_id,
        community_id=event.community_id,
        cluster_id=cluster_id,
        at=event.occurred_at,
    )


async def count_decision(decision: ModerationDecision, uow: InsightsUoW) -> None:
    """One moderation verdict more in the community's moderation summary."""
    await uow.activity.count_moderation(
        decision.tenant_id,
        decision.community_id,
        decision.occurred_at.date(),
        decision.verdict.value,
    )


async def _clusterer(
    feedback: Feedback, prior: npt.NDArray[np.floating[Any]], tenant_id: str, community_id: str
) -> OnlineClusterer:
    """The community's clusters as stored, centred on its traffic (once per batch)."""
    existing = await feedback.clusters_of(tenant_id, community_id)
    total = sum((c.total for c in existing), np.zeros(DIMENSIONS, dtype=np.float32))
    centre = blended_centre(prior.astype(np.float32), total, sum(c.count for c in existing))
    return OnlineClusterer(
        new_id=lambda: str(ULID()), centre=centre.astype(np.float32), clusters=existing
    )


async def remove_from_cluster(decision: ModerationDecision, uow: InsightsUoW) -> None:
    """Content moderation removed leaves its cluster (hidden, out of the centroid)."""
    await uow.activity.count_moderation(
        decision.tenant_id, decision.community_id, decision.occurred_at.date(), "removed"
    )
    await uow.feedback.remove_content(
        decision.tenant_id, decision.community_id, decision.subject_event_id
    )


async def restore_to_cluster(decision: ModerationDecision, uow: InsightsUoW) -> None:
    """Content moderation restored returns to the cluster it left."""
    await uow.activity.count_moderation(
        decision.tenant_id, decision.community_id, decision.occurred_at.date(), "restored"
    )
    await uow.feedback.restore_content(
        decision.tenant_id, decision.community_id, decision.subject_event_id
    )


async def record_core_member(change: CoreMemberChange, uow: InsightsUoW) -> None:
    """Keep the community's core members, for each cluster's core share."""
    await uow.feedback.set_core(
        change.tenant_id,
        change.community_id,
        change.member_id,
        change.core_member,
        change.occurred_at,
    )


HANDLERS: dict[str, Handler] = {
    **{
        t.value: record_activity
        for t in CommunityEventType
        if t not in (CommunityEventType.MESSAGE_CREATED, CommunityEventType.FEEDBACK_SUBMITTED)
    },
    "community.message.created": on_message,
    "community.feedback.submitted": on_message,
    "moderation.decision.made": count_decision,
    "moderation.content.removed": remove_from_cluster,
    "moderation.content.restored": restore_to_cluster,
    "gamification.core_member.changed": record_core_member,
}
