"""What scoring needs from a community event, read once into plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.events.community import CommunityEvent, CommunityEventType, Platform


@dataclass(frozen=True)
class Fact:
    """One community event as the rules see it."""

    event_id: str
    type: CommunityEventType
    tenant_id: str
    community_id: str
    platform: Platform
    channel_id: str | None
    occurred_at: datetime
    actor: str | None
    actor_is_bot: bool
    actor_account: str
    receiver: str | None
    receiver_is_bot: bool
    receiver_account: str | None
    text_length: int
    emoji: str | None
    is_reply: bool
    has_attachment: bool
    ref: str | None
    """The content this event is (a message or a reaction), so a deletion finds it."""

    @property
    def self_directed(self) -> bool:
        """A member reacting to, or answering, their own content."""
        if self.receiver is not None and self.receiver == self.actor:
            return True
        return self.receiver_account is not None and self.receiver_account == self.actor_account


def fact_of(event: CommunityEvent) -> Fact:
    """The scoring view of `event`."""
    receiver = event.object_actor
    text = event.content.text if event.content is not None else None
    return Fact(
        event_id=event.event_id,
        type=event.type,
        tenant_id=event.tenant_id,
        community_id=event.community_id,
        platform=event.platform,
        channel_id=event.channel_id,
        occurred_at=event.occurred_at.astimezone(UTC),
        actor=event.actor.member_id,
        actor_is_bot=event.actor.is_bot,
        actor_account=event.actor.platform_user_id,
        receiver=receiver.member_id if receiver is not None else None,
        receiver_is_bot=receiver.is_bot if receiver is not None else False,
        receiver_account=receiver.platform_user_id if receiver is not None else None,
        text_length=len(text.strip()) if text else 0,
        emoji=emoji_of(event.attributes.get("reaction")),
        is_reply=event.parent_id is not None,
        has_attachment=bool(event.content and event.content.attachments),
        ref=content_ref(event),
    )


def emoji_of(reaction: Any) -> str | None:
    """The emoji of a reaction as each platform reports it (a name, an id, a mapping)."""
    if isinstance(reaction, str):
        return reaction or None
    if isinstance(reaction, dict):
        for key in ("emoji", "name", "custom_emoji_id", "id"):
            value = reaction.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def message_ref(event: CommunityEvent) -> str | None:
    """`m:<platform>:<channel>:<message>`: the same for a message and its deletion.

    Platforms whose message ids are unique only per chat (Telegram) or that identify
    the message apart from the delivery (Slack's ts, Discourse's post id) put it in
    attributes["message_id"]; the others' source_event_id is the message id.
    """
    message_id = event.attributes.get("message_id") or event.source_event_id
    if message_id is None:
        return None
    return f"m:{event.platform.value}:{event.channel_id or ''}:{message_id}"


def content_ref(event: CommunityEvent) -> str | None:
    """What a deletion or a reaction removal names to cancel this event's points."""
    if event.type in (CommunityEventType.MESSAGE_CREATED, CommunityEventType.MESSAGE_DELETED):
        return message_ref(event)
    if event.type in (CommunityEventType.REACTION_ADDED, CommunityEventType.REACTION_REMOVED):
        target = event.attributes.get("message_id") or event.parent_id
        emoji = emoji_of(event.attributes.get("reaction"))
        if target is None or emoji is None:
            return None
        return (
            f"r:{event.platform.value}:{event.channel_id or ''}:{target}:"
            f"{event.actor.platform_user_id}:{emoji}"
        )
    return None
