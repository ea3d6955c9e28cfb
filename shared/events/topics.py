"""The topic registry: every topic Hearth produces, its key and payload."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from shared.events.community import CommunityEvent, CommunityEventType
from shared.events.payloads import (
    ActionEventType,
    ActionResult,
    ActionResultEventType,
    AwardEvent,
    AwardEventType,
    CoreMemberChange,
    CoreMemberEventType,
    DecisionEventType,
    IdentityEvent,
    IdentityEventType,
    InsightEvent,
    InsightEventType,
    ModerationAction,
    ModerationDecision,
)


@dataclass(frozen=True)
class Topic:
    """A versioned Kafka topic and its contract."""

    name: str
    producer: str
    key: str
    payload: type[BaseModel]
    event_types: type[StrEnum]
    description: str
    key_of: Callable[[Any], str] | None = None
    """How a payload's Kafka key is made; by default the payload fields named in `key`,
    joined by ':' (a field left at None counts as empty)."""

    def partition_key(self, payload: BaseModel) -> str:
        """The Kafka key of one payload of this topic, as `key` documents it."""
        if self.key_of is not None:
            return self.key_of(payload)
        fields = self.key.split(" ", 1)[0].split(":")
        values = (getattr(payload, name) for name in fields)
        return ":".join("" if value is None else str(value) for value in values)

    def dlq(self, group: str) -> str:
        """Name of the dead-letter topic of one consumer group."""
        return dlq_topic(self.name, group)


def dlq_topic(topic: str, group: str) -> str:
    """Dead letters of `group` on `topic` go to `<topic>.<group>.dlq`."""
    return f"{topic}.{group}.dlq"


def _community_member(event: CommunityEvent) -> str:
    """`community:member`, the platform account standing in until ingest knows the member."""
    who = event.actor.member_id or f"{event.platform}:{event.actor.platform_user_id}"
    return f"{event.community_id}:{who}"


COMMUNITY_EVENTS = Topic(
    name="community.events.v1",
    producer="ingest",
    key="community_id:member (keeps one member's activity in order)",
    payload=CommunityEvent,
    event_types=CommunityEventType,
    description="Normalized community activity from every platform.",
    key_of=_community_member,
)
MEMBERS_IDENTITY = Topic(
    name="members.identity.v1",
    producer="ingest",
    key="tenant_id:member_id",
    payload=IdentityEvent,
    event_types=IdentityEventType,
    description="Members created, identities linked, members merged and unmerged.",
)
MODERATION_DECISIONS = Topic(
    name="moderation.decisions.v1",
    producer="moderation",
    key="community_id:member_id",
    payload=ModerationDecision,
    event_types=DecisionEventType,
    description="Decisions per message (verdict, reasons, scores), removals, restores, conflicts.",
)
MODERATION_ACTIONS = Topic(
    name="moderation.actions.v1",
    producer="moderation",
    key="community_id:platform_user_id",
    payload=ModerationAction,
    event_types=ActionEventType,
    description="Commands for connectors: delete, hide, warn, mute, ban, unban, unmute; "
    "from gamification's campaigns also announce (post a message) and grant_role.",
)
ACTION_RESULTS = Topic(
    name="ingest.action_results.v1",
    producer="ingest",
    key="community_id:action_id",
    payload=ActionResult,
    event_types=ActionResultEventType,
    description="What happened to each moderation action and role grant on its platform.",
)
GAMIFICATION_AWARDS = Topic(
    name="gamification.awards.v1",
    producer="gamification",
    key="community_id:member_id",
    payload=AwardEvent,
    event_types=AwardEventType,
    description="Points, badges and levels.",
)
CORE_MEMBERS = Topic(
    name="gamification.core_members.v1",
    producer="gamification",
    key="community_id:member_id",
    payload=CoreMemberChange,
    event_types=CoreMemberEventType,
    description="Members who joined or left a community's core members; ingest grants "
    "or takes back their platform roles. Its own topic, so a consumer of role changes "
    "does not read every point awarded.",
)
INSIGHTS = Topic(
    name="insights.v1",
    producer="insights",
    key="community_id:cluster_id",
    payload=InsightEvent,
    event_types=InsightEventType,
    description="Feedback clusters, routed insights and retrospectives.",
)

TOPICS: dict[str, Topic] = {
    topic.name: topic
    for topic in (
        COMMUNITY_EVENTS,
        MEMBERS_IDENTITY,
        MODERATION_DECISIONS,
        MODERATION_ACTIONS,
        ACTION_RESULTS,
        GAMIFICATION_AWARDS,
        CORE_MEMBERS,
        INSIGHTS,
    )
}

_BY_TYPE = {
    event_type.value: topic for topic in TOPICS.values() for event_type in topic.event_types
}


def topic_for_type(event_type: str) -> Topic:
    """Return the topic that carries `event_type`; KeyError when none does."""
    return _BY_TYPE[event_type]


def partition_key(payload: BaseModel) -> str:
    """The Kafka key of a payload, from the registry entry of the topic that carries it."""
    event_type = payload.type  # type: ignore[attr-defined]  # every payload has one
    return topic_for_type(str(getattr(event_type, "value", event_type))).partition_key(payload)
