"""The topic registry: every topic Hearth produces, its key and payload."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from shared.events.community import CommunityEvent, CommunityEventType
from shared.events.payloads import (
    ActionEventType,
    ActionResult,
    ActionResultEventType,
    AwardEvent,
    AwardEventType,
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

    def dlq(self, group: str) -> str:
        """Name of the dead-letter topic of one consumer group."""
        return dlq_topic(self.name, group)


def dlq_topic(topic: str, group: str) -> str:
    """Dead letters of `group` on `topic` go to `<topic>.<group>.dlq`."""
    return f"{topic}.{group}.dlq"


COMMUNITY_EVENTS = Topic(
    name="community.events.v1",
    producer="ingest",
    key="community_id:member (keeps one member's activity in order)",
    payload=CommunityEvent,
    event_types=CommunityEventType,
    description="Normalized community activity from every platform.",
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
    description="One decision per message: verdict, reasons, scores; removals and restores.",
)
MODERATION_ACTIONS = Topic(
    name="moderation.actions.v1",
    producer="moderation",
    key="community_id:platform_user_id",
    payload=ModerationAction,
    event_types=ActionEventType,
    description="Commands for connectors: delete, hide, warn, mute, ban, unban.",
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
    description="Points, badges, levels and core-member changes.",
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
        INSIGHTS,
    )
}

_BY_TYPE = {
    event_type.value: topic for topic in TOPICS.values() for event_type in topic.event_types
}


def topic_for_type(event_type: str) -> Topic:
    """Return the topic that carries `event_type`; KeyError when none does."""
    return _BY_TYPE[event_type]
