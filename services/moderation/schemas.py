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


class AppealOut(BaseModel):
    """An appeal of a sanction and the moderator's outcome."""

    id: int
    community_id: str
    sanction_id: int
    statement: str | None = Field(description="what the member said, as filed")
    status: str = Field(description="open, upheld or reversed")
    created_by: str = Field(description="the API key id that filed it")
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    action_id: str | None = Field(
        description="the unmute or unban a reversal sent on moderation.actions.v1"
    )
    result: str | None = Field(
        description="what the platform did with it (done, unsupported, platform_error, "
        "retries_exhausted, no_binding), once ingest reports it"
    )
    result_detail: str | None
    result_at: datetime | None


class SanctionRecordOut(BaseModel):
    """A sanction sent to the platform, what the platform did with it, and its appeal."""

    id: int
    community_id: str
    member: str = Field(description="the Hearth member id, or platform:user id")
    platform: str | None
    platform_user_id: str | None
    channel_id: str | None
    action: str = Field(description="warn, mute or ban")
    duration_seconds: int | None
    strikes: int = Field(description="active strikes when it was given")
    action_id: str = Field(description="the moderation.actions.v1 command's action_id")
    subject_event_id: str = Field(description="the removed message that gave the strike")
    created_at: datetime
    result: str | None = Field(
        description="what ingest reported on ingest.action_results.v1 (done, unsupported, "
        "platform_error, retries_exhausted, no_binding); null until it reports"
    )
    result_detail: str | None
    result_at: datetime | None
    appeal: AppealOut | None = None


class AppealIn(BaseModel):
    """A member's appeal of a sanction."""

    model_config = ConfigDict(extra="forbid")

    statement: str | None = Field(
        default=None, max_length=4000, description="the member's words, for the moderator"
    )


class AppealDecisionIn(BaseModel):
    """A moderator's answer to an appeal."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["uphold", "reverse"] = Field(
        description="uphold: nothing changes; reverse: the mute or ban is lifted, the strike "
        "withdrawn and the removed content restored"
    )
    note: str | None = Field(default=None, max_length=2000, description="why, for the audit log")


class AppealDecisionOut(BaseModel):
    """The decided appeal and the events it published."""

    appeal: AppealOut
    published: list[str] = Field(description="the event types published, in order")


class ReportIn(BaseModel):
    """A member reports a message."""

    model_config = ConfigDict(extra="forbid")

    community_id: str = Field(min_length=1, max_length=64)
    subject_event_id: str = Field(
        min_length=1, max_length=64, description="the community event of the message"
    )
    reporter: str = Field(
        min_length=1,
        max_length=320,
        description="who reports: a Hearth member id or `platform:user id`; one report "
        "per reporter and message counts",
    )
    reason: str | None = Field(default=None, max_length=200)


class ReportOut(BaseModel):
    """What the report did."""

    outcome: str = Field(
        description="queued (waits for a moderator), hidden (this report reached hide_at), "
        "counted (queued, hidden or reviewed already), duplicate (this reporter's second "
        "report of the message)"
    )
    reporters: int = Field(description="distinct members who reported the message")
    hide_at: int = Field(description="the community's reporters that hide a message")
    decision_id: int = Field(description="the review queue's id of the message")
    published: list[str]


class DryRunItemOut(BaseModel):
    """A recent message the draft rules judge differently or do not allow."""

    subject_event_id: str
    channel_id: str | None
    occurred_at: datetime
    text: str
    current_verdict: Verdict = Field(description="what the rules in force decided")
    verdict: Verdict = Field(description="what the draft rules would decide")
    reasons: list[ReasonOut]


class DryRunOut(BaseModel):
    """What a draft ruleset would decide on the community's recent messages."""

    community_id: str
    messages: int = Field(description="recent messages judged")
    verdicts: dict[str, int] = Field(description="messages per verdict under the draft")
    current_verdicts: dict[str, int] = Field(description="messages per verdict as decided")
    changed: int = Field(description="messages whose verdict would change")
    items: list[DryRunItemOut] = Field(
        description="messages not allowed by the draft or whose verdict changes, newest first"
    )
