"""The canonical community event: every platform's activity in one shape (community.events.v1)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from shared.events.envelope import Envelope, new_event_id, utcnow


class Platform(StrEnum):
    """Where an event came from."""

    DISCORD = "discord"
    TELEGRAM = "telegram"
    SLACK = "slack"
    GITHUB = "github"
    DISCOURSE = "discourse"
    API = "api"


class CommunityEventType(StrEnum):
    """Every kind of normalized community activity."""

    MESSAGE_CREATED = "community.message.created"
    MESSAGE_EDITED = "community.message.edited"
    MESSAGE_DELETED = "community.message.deleted"
    REACTION_ADDED = "community.reaction.added"
    REACTION_REMOVED = "community.reaction.removed"
    MEMBER_JOINED = "community.member.joined"
    MEMBER_LEFT = "community.member.left"
    THREAD_CREATED = "community.thread.created"
    POLL_ANSWERED = "community.poll.answered"
    EVENT_ATTENDED = "community.event.attended"
    ISSUE_OPENED = "community.issue.opened"
    ISSUE_COMMENTED = "community.issue.commented"
    PULL_REQUEST_OPENED = "community.pull_request.opened"
    ANSWER_ACCEPTED = "community.answer.accepted"
    FEEDBACK_SUBMITTED = "community.feedback.submitted"


class Actor(BaseModel):
    """A platform account acting in the community, with its Hearth member id once resolved."""

    model_config = ConfigDict(frozen=True)

    platform_user_id: str = Field(min_length=1, max_length=256)
    member_id: str | None = Field(default=None, description="Hearth member id (ULID)")
    username: str | None = Field(default=None, max_length=256)
    display_name: str | None = Field(default=None, max_length=512)
    is_bot: bool = False


class Attachment(BaseModel):
    """A file or media item attached to a message."""

    model_config = ConfigDict(frozen=True)

    url: str | None = None
    content_type: str | None = None
    name: str | None = None
    size_bytes: int | None = Field(default=None, ge=0)


class Content(BaseModel):
    """What a member wrote: text, title and what it points at."""

    model_config = ConfigDict(frozen=True)

    text: str | None = Field(default=None, max_length=100_000)
    title: str | None = Field(default=None, max_length=1_000)
    url: HttpUrl | None = None
    language: str | None = Field(default=None, description="BCP 47 tag when known, e.g. en, ru")
    attachments: list[Attachment] = Field(default_factory=list)
    mentions: list[str] = Field(default_factory=list, description="platform user ids mentioned")
    links: list[str] = Field(default_factory=list)


class CommunityEvent(BaseModel):
    """One normalized activity in a community, the payload of community.events.v1."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(default_factory=new_event_id, description="ULID, also the CloudEvent id")
    type: CommunityEventType
    occurred_at: datetime = Field(description="when it happened on the platform")
    ingested_at: datetime = Field(default_factory=utcnow, description="when Hearth received it")
    tenant_id: str = Field(min_length=1)
    community_id: str = Field(min_length=1)
    platform: Platform
    workspace_id: str | None = Field(
        default=None, description="guild, team, chat, org or site id on the platform"
    )
    channel_id: str | None = None
    thread_id: str | None = None
    parent_id: str | None = Field(default=None, description="the message/issue this one answers")
    source_event_id: str | None = Field(default=None, description="the platform's own id")
    dedup_key: str = Field(
        min_length=1, description="stable across redeliveries of the same platform event"
    )
    actor: Actor
    object_actor: Actor | None = Field(default=None, description="whom a reply or reaction targets")
    content: Content | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, description="platform-specific fields")
    trace_id: str | None = None
    backfilled: bool = Field(default=False, description="imported history, not live activity")

    @property
    def partition_key(self) -> str:
        """Kafka key that keeps one member's activity in order: `community:member`."""
        from shared.events.topics import COMMUNITY_EVENTS  # the registry imports this module

        return COMMUNITY_EVENTS.partition_key(self)

    def to_envelope(
        self, traceparent: str | None = None, *, data: dict[str, Any] | None = None
    ) -> Envelope:
        """Wrap in a CloudEvent; the event id is the envelope id.

        `data` is this event already dumped to JSON-ready form, when the caller has it.
        """
        return Envelope(
            id=self.event_id,
            source=f"/hearth/ingest/{self.platform.value}",
            type=self.type.value,
            subject=self.channel_id,
            time=self.occurred_at,
            tenantid=self.tenant_id,
            communityid=self.community_id,
            partitionkey=self.partition_key,
            traceparent=traceparent,
            dataschema="urn:hearth:schema:community.events.v1",
            data=data if data is not None else self.model_dump(mode="json"),
        )
