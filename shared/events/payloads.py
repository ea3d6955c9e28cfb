"""Payloads of the topics other than community.events.v1."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.events.community import Platform
from shared.events.envelope import Envelope, new_event_id, utcnow


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str = Field(default_factory=new_event_id)
    tenant_id: str = Field(min_length=1)
    occurred_at: datetime = Field(default_factory=utcnow)

    def to_envelope(self, *, source: str, traceparent: str | None = None) -> Envelope:
        """Wrap in a CloudEvent whose id is the payload's event id, keyed as its topic says."""
        from shared.events.topics import partition_key  # the registry imports this module

        event_type = getattr(self, "type", None)
        return Envelope(
            id=self.event_id,
            source=source,
            type=str(event_type.value if isinstance(event_type, StrEnum) else event_type),
            time=self.occurred_at,
            tenantid=self.tenant_id,
            communityid=getattr(self, "community_id", None),
            partitionkey=partition_key(self),
            traceparent=traceparent,
            data=self.model_dump(mode="json"),
        )


# members.identity.v1 -------------------------------------------------------


class IdentityEventType(StrEnum):
    """Changes to who is who across platforms."""

    MEMBER_CREATED = "members.member.created"
    IDENTITY_LINKED = "members.identity.linked"
    IDENTITY_UNLINKED = "members.identity.unlinked"
    MEMBERS_MERGED = "members.members.merged"
    MEMBERS_UNMERGED = "members.members.unmerged"


class Identity(BaseModel):
    """One platform account of a member."""

    model_config = ConfigDict(frozen=True)

    platform: Platform
    platform_user_id: str
    username: str | None = None
    is_bot: bool = False


class IdentityEvent(_Payload):
    """A member was created, linked, merged or unmerged; other services re-key on it."""

    type: IdentityEventType
    member_id: str = Field(description="the surviving or affected member")
    identities: list[Identity] = Field(default_factory=list)
    merged_member_ids: list[str] = Field(
        default_factory=list, description="members folded into member_id (merge) or split out"
    )
    reason: str | None = None


# moderation.decisions.v1 ---------------------------------------------------


class DecisionEventType(StrEnum):
    """What moderation concluded about content."""

    DECISION_MADE = "moderation.decision.made"
    CONTENT_REMOVED = "moderation.content.removed"
    CONTENT_RESTORED = "moderation.content.restored"
    CONFLICT_DETECTED = "moderation.conflict.detected"


class Verdict(StrEnum):
    """The outcome for one message: allowed, flagged for review, hidden pending review,
    or removed."""

    ALLOW = "allow"
    FLAG = "flag"
    HIDE = "hide"
    REMOVE = "remove"


class ConflictAlert(BaseModel):
    """A conversation heating up: what rose over the window, where, and who is in it."""

    kind: str = Field(description="toxicity, flagged_share or pair_replies")
    channel_id: str | None = None
    thread_id: str | None = None
    members: list[str] = Field(
        default_factory=list, description="the members involved (member id or platform:user)"
    )
    window_seconds: int
    value: float = Field(description="what was measured over the window")
    threshold: float = Field(description="the community's threshold it reached")
    messages: int = Field(description="messages in the window")


class ModerationDecision(_Payload):
    """One decision per message: verdict, reasons and classifier scores; or, for
    `moderation.conflict.detected`, an alert about the conversation the message is in."""

    type: DecisionEventType
    community_id: str
    subject_event_id: str = Field(description="the community event judged")
    member_id: str | None = None
    verdict: Verdict
    reasons: list[str] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict)
    conflict: ConflictAlert | None = Field(
        default=None, description="set on moderation.conflict.detected only"
    )


# moderation.actions.v1 -----------------------------------------------------


class ActionEventType(StrEnum):
    """Commands moderation sends to platform connectors."""

    ACTION_REQUESTED = "moderation.action.requested"


class ActionKind(StrEnum):
    """What to do on the platform."""

    DELETE = "delete"
    HIDE = "hide"
    WARN = "warn"
    MUTE = "mute"
    BAN = "ban"
    UNBAN = "unban"
    UNMUTE = "unmute"
    ANNOUNCE = "announce"
    """post `text` as a new message in `channel_id` (gamification's campaigns)"""
    GRANT_ROLE = "grant_role"
    """give `platform_user_id` the platform role `role_id` (a campaign's winners)"""


class ModerationAction(_Payload):
    """A command for the connector of `platform` to carry out."""

    type: ActionEventType = ActionEventType.ACTION_REQUESTED
    action_id: str = Field(default_factory=new_event_id)
    community_id: str
    platform: Platform
    action: ActionKind
    channel_id: str | None = None
    message_id: str | None = None
    platform_user_id: str | None = None
    duration_seconds: int | None = Field(default=None, ge=1)
    reason: str | None = None
    text: str | None = Field(
        default=None, max_length=4_000, description="announce: the message to post"
    )
    role_id: str | None = Field(default=None, description="grant_role: the platform role")


# ingest.action_results.v1 --------------------------------------------------


class ActionResultEventType(StrEnum):
    """What happened when a connector carried out an action."""

    ACTION_COMPLETED = "ingest.action.completed"
    ACTION_FAILED = "ingest.action.failed"


class ActionResult(_Payload):
    """The outcome of a moderation action or role grant on its platform."""

    type: ActionResultEventType
    action_id: str = Field(description="the ModerationAction's action_id, or the award event id")
    community_id: str
    platform: Platform
    action: str = Field(
        description="delete, hide, warn, mute, ban, unban, unmute, grant_role, revoke_role"
    )
    outcome: str = Field(
        description="done, unsupported, platform_error, retries_exhausted, no_binding"
    )
    detail: str = ""
    attempts: int = Field(default=0, ge=0)


# gamification.awards.v1 ----------------------------------------------------


class AwardEventType(StrEnum):
    """Changes to a member's standing."""

    POINTS_AWARDED = "gamification.points.awarded"
    POINTS_REVOKED = "gamification.points.revoked"
    BADGE_AWARDED = "gamification.badge.awarded"
    BADGE_REVOKED = "gamification.badge.revoked"
    LEVEL_CHANGED = "gamification.level.changed"


class AwardEvent(_Payload):
    """Points, a badge or a level changed for a member."""

    type: AwardEventType
    community_id: str
    member_id: str
    points: int = 0
    badge: str | None = None
    tier: str | None = Field(
        default=None,
        description="a badge's tier: bronze, silver or gold; for a ranked badge, its period "
        "(2026-11-02, 2026-W45, 2026-11); none if untiered",
    )
    level: int | None = None
    source_event_id: str | None = Field(default=None, description="the activity that earned it")
    rule_id: str | None = None


# gamification.core_members.v1 ----------------------------------------------


class CoreMemberEventType(StrEnum):
    """A member joined or left a community's inner circle."""

    CORE_MEMBER_CHANGED = "gamification.core_member.changed"


class CoreMemberChange(_Payload):
    """A member became one of a community's core members, or stopped being one."""

    type: CoreMemberEventType = CoreMemberEventType.CORE_MEMBER_CHANGED
    community_id: str
    member_id: str
    core_member: bool = Field(
        description="true: grant the role each binding names in its core_member_role_id "
        "option; false: take it back"
    )
    rule_id: str | None = None


# insights.v1 ---------------------------------------------------------------


class InsightEventType(StrEnum):
    """What insights learned from member feedback."""

    CLUSTER_CREATED = "insights.cluster.created"
    CLUSTER_UPDATED = "insights.cluster.updated"
    INSIGHT_ROUTED = "insights.insight.routed"
    RETROSPECTIVE_PUBLISHED = "insights.retrospective.published"


class InsightEvent(_Payload):
    """A feedback cluster changed, was routed to a team, or a retrospective was published."""

    type: InsightEventType
    community_id: str
    cluster_id: str | None = None
    label: str | None = None
    size: int | None = Field(default=None, ge=0)
    routed_to: str | None = Field(default=None, description="product, smm or community")
    summary: dict[str, Any] = Field(default_factory=dict)
