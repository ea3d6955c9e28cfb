"""Request and response models of the moderation API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.payloads import Verdict


class RulesOut(BaseModel):
    """A community's active rules."""

    community_id: str
    version: int = Field(description="1, 2, ... per upload; 0 is Hearth's default ruleset")
    default: bool = Field(description="true while the community has not set rules of its own")
    created_at: datetime | None = None
    source: str = Field(description="the YAML as uploaded")
    rules: dict[str, Any] = Field(description="the rules as parsed, defaults filled in")


class Author(BaseModel):
    """Who would have written the text, for exemptions."""

    model_config = ConfigDict(extra="forbid")

    member_id: str | None = Field(default=None, max_length=64)
    platform_user_id: str | None = Field(default=None, max_length=256)
    username: str | None = Field(default=None, max_length=256)
    roles: list[str] = Field(default_factory=list, max_length=100)
    channel_id: str | None = Field(default=None, max_length=256)


class EvaluateIn(BaseModel):
    """A text to judge without storing anything."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=100_000)
    community_id: str | None = Field(
        default=None, max_length=64, description="whose rules apply; Hearth's default without it"
    )
    author: Author | None = None
    links: list[str] = Field(default_factory=list, max_length=100)
    mentions: list[str] = Field(default_factory=list, max_length=1000)


class ReasonOut(BaseModel):
    """One rule that matched."""

    rule: str
    action: str = Field(description="flag, hide or remove")
    reason: str
    category: str


class EvaluateOut(BaseModel):
    """What the rules say about the text."""

    verdict: Verdict
    scores: dict[str, float] = Field(
        description="per category, 0-1: the classifier's attributes (toxicity, insult, "
        "threat, profanity, sexual, spam) and the rules' categories, the higher of the two"
    )
    reasons: list[ReasonOut]
    language: str = Field(description="en, ru or und, by the letters used")
    rules_version: int
    model_version: str | None = Field(
        default=None, description="the classifier model that scored the text (null when off)"
    )
    timed_out: list[str] = Field(
        description="rules whose pattern was cut off by its time bound (counted as no match)"
    )


class QueueItemOut(BaseModel):
    """A flagged or hidden decision waiting for (or decided by) a moderator."""

    decision_id: int = Field(description="the automatic decision's id; use it to claim and decide")
    community_id: str
    subject_event_id: str = Field(description="the community event judged")
    auto_verdict: Verdict = Field(description="flag or hide: what the rules decided")
    rule_id: str | None = Field(description="the deciding rule")
    reason: str | None = Field(description="the deciding rule's reason")
    reasons: list[str] = Field(description="`<rule id>: <reason>` of every rule that matched")
    member_id: str | None
    platform: str
    channel_id: str | None
    message_id: str | None
    platform_user_id: str | None
    occurred_at: datetime = Field(description="when the message was written")
    queued_at: datetime
    status: str = Field(description="open, claimed or decided")
    claimed_by: str | None = Field(description="the API key id that claimed it")
    claimed_at: datetime | None
    verdict: Verdict | None = Field(description="the moderator's verdict, once decided")
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    overturned: bool | None = Field(
        description="true when the moderator allowed what the rules flagged or hid"
    )


class DecideIn(BaseModel):
    """A moderator's verdict on a queued decision."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["allow", "remove"] = Field(
        description="allow: the content stays or comes back; remove: it is taken down and "
        "its author gets a strike"
    )
    note: str | None = Field(default=None, max_length=2000, description="why, for the audit log")


class SanctionOut(BaseModel):
    """The sanction a strike earned on the community's ladder."""

    action: str = Field(description="warn, mute or ban")
    duration_seconds: int | None
    strikes: int = Field(description="active strikes, this one included")
    action_id: str = Field(description="the moderation.actions.v1 command's action_id")


class DecideOut(BaseModel):
    """What the moderator's verdict did."""

    item: QueueItemOut
    published: list[str] = Field(description="the event types published, in order")
    sanction: SanctionOut | None = None


class AuditEntryOut(BaseModel):
    """One entry of the append-only audit log."""

    id: int
    community_id: str
    actor: str = Field(description="the API key id, or `system` for the consumer")
    action: str = Field(description="claim, decide, strike or sanction")
    decision_id: int | None
    subject_event_id: str | None
    detail: dict[str, Any]
    created_at: datetime
