"""Discord Gateway dispatches and HTTP interactions -> canonical community events.

| dispatch (`t`)                     | event                                          |
|------------------------------------|------------------------------------------------|
| MESSAGE_CREATE, type 0 or 19       | message.created (19 is a reply: parent_id)     |
| MESSAGE_CREATE, other types        | ignored: system messages (joins, pins, boosts) |
| MESSAGE_UPDATE with edited_timestamp | message.edited, occurred_at = the edit      |
| MESSAGE_UPDATE without it          | ignored: a pin, embed or flag change           |
| MESSAGE_DELETE                     | message.deleted, actor "unknown"               |
| MESSAGE_REACTION_ADD / _REMOVE     | reaction.added / reaction.removed              |
| GUILD_MEMBER_ADD / _REMOVE         | member.joined / member.left                    |
| THREAD_CREATE with newly_created   | thread.created (channel_id = parent channel)   |
| anything else, or no guild_id      | ignored with the reason                        |

workspace_id is the guild. A message's channel_id is where Discord says it was sent:
inside a thread that is the thread's id, and the parent channel is not in the frame.
When the frame carries `channel_type` and it is a thread type (10, 11, 12), thread_id
repeats that id; otherwise a frame cannot tell a thread from a channel and
thread_id stays None.
source_event_id is the message (or thread, or user) id, so a deletion or an edit
finds the message it concerns by (channel_id, source_event_id).

Gateway frames have no delivery id, so dedup_key is built from what identifies the
change itself: `discord:{guild}:{EVENT}:{id}` where the id was minted for it
(a message, a thread, a deletion), plus `edited_timestamp` for edits and `joined_at`
for joins. Reactions and removals repeat with identical bodies when a member toggles
a reaction or leaves twice, so their key also holds the dispatch sequence `s`: a
RESUME replays a frame with its own `s`, while a new occurrence gets a new one.
Sequences restart with each new session, so two such keys could in theory collide;
the key still holds the message, user and emoji, which makes that negligible. A new
message's key is `discord:message:{channel id}:{message id}` instead (domain/dedup.py):
the same whether it came by the gateway, from the channel history read after a
reconnect, or from an export.

occurred_at is the frame's own timestamp where there is one, else the snowflake time
of an id minted by the event (a new thread). Deletions, reactions and removals carry
neither (their ids are older than the event), so they take received_at: the gateway
delivers in real time.

Interactions sent to the HTTP endpoint are only acknowledged: PING gets PONG and an
application command a deferred reply, so the endpoint can be registered and Discord
never shows "interaction failed"; commands are not community activity yet.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.ingest.domain.dedup import message_key
from services.ingest.domain.model import BindingContext, MalformedPayload, Normalized
from services.ingest.domain.payload import (
    Fields,
    byte_size,
    drafted_events,
    is_int,
    iso_time,
    mapping,
    mappings,
    optional_mapping,
    str_or_none,
    unique,
)
from shared.events.community import Actor, Attachment, CommunityEventType, Content, Platform

DISCORD_EPOCH = datetime(2015, 1, 1, tzinfo=UTC)
UNKNOWN_ACTOR = "unknown"
"""platform_user_id of a deletion's actor: the Gateway does not say who deleted."""

Builder = Callable[[Mapping[str, Any], "_Frame"], "Fields | str"]

_MEMBER_MESSAGE_TYPES = frozenset({0, 19})  # DEFAULT, REPLY
_THREAD_CHANNEL_TYPES = frozenset({10, 11, 12})  # announcement, public, private thread
_URL = re.compile(r"https?://[^\s<>()\[\]]+")


def snowflake_time(snowflake: int | str) -> datetime:
    """When a Discord id was minted: its top 42 bits count milliseconds since 2015."""
    return DISCORD_EPOCH + timedelta(milliseconds=int(snowflake) >> 22)


def normalize_discord_gateway(
    dispatch: Mapping[str, Any], ctx: BindingContext, *, received_at: datetime
) -> Normalized:
    """Turn one Gateway dispatch frame into canonical events, or say why it yields none."""
    if not isinstance(dispatch, Mapping):
        raise MalformedPayload("dispatch: expected a JSON object")
    if dispatch.get("op") != 0:
        return Normalized(ignored=f"gateway opcode {dispatch.get('op')} is not a dispatch")
    name = dispatch.get("t")
    if not isinstance(name, str) or not name:
        raise MalformedPayload("t: expected the event name")
    build = _BUILDERS.get(name)
    if build is None:
        return Normalized(ignored=f"gateway event {name} is not community activity")
    data = mapping(dispatch, "d", "d")
    if data.get("guild_id") is None:
        return Normalized(ignored=f"{name} outside a guild (a direct message)")
    seq = dispatch.get("s")
    guild_id = _snowflake(data, "guild_id", "d.guild_id")
    frame = _Frame(name, guild_id, seq if is_int(seq) else None, received_at)
    fields = build(data, frame)
    if isinstance(fields, str):
        return Normalized(ignored=fields)
    fields["workspace_id"] = frame.guild_id
    return drafted_events(ctx, Platform.DISCORD, [fields], received_at=received_at, what=name)


def normalize_discord_interaction(
    payload: Mapping[str, Any], ctx: BindingContext, *, received_at: datetime
) -> Normalized:
    """Answer an HTTP interaction: PONG to a PING, a deferred reply to a command."""
    if not isinstance(payload, Mapping):
        raise MalformedPayload("interaction: expected a JSON object")
    kind = payload.get("type")
    if not is_int(kind):
        raise MalformedPayload("type: expected the interaction type (an integer)")
    if kind == 1:
        return Normalized(ignored="interaction PING answered with PONG", reply={"type": 1})
    if kind == 2:
        # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: Discord shows "thinking…" instead of failing.
        return Normalized(ignored="interaction type 2 acknowledged", reply={"type": 5})
    return Normalized(ignored=f"interaction type {kind} is not handled")


@dataclass(frozen=True)
class _Frame:
    """What every event of one dispatch shares."""

    name: str
    guild_id: str
    seq: int | None
    received_at: datetime

    def dedup_key(self, *parts: str, with_seq: bool = False) -> str:
        key = ":".join(("discord", self.guild_id, self.name, *parts))
        # Without `s` (a runner that passes bare `d`) repeats collapse onto the first.
        return f"{key}:s{self.seq}" if with_seq and self.seq is not None else key


def _message_create(data: Mapping[str, Any], frame: _Frame) -> Fields | str:
    when = iso_time(data, "timestamp", "d.timestamp")
    return _message(data, frame, CommunityEventType.MESSAGE_CREATED, when, ())


def _message_update(data: Mapping[str, Any], frame: _Frame) -> Fields | str:
    edited_at = data.get("edited_timestamp")
    if edited_at is None:
        return "MESSAGE_UPDATE without edited_timestamp: a pin, embed or flag change, not an edit"
    when = iso_time(data, "edited_timestamp", "d.edited_timestamp")
    return _message(data, frame, CommunityEventType.MESSAGE_EDITED, when, (str(edited_at),))


def _message(
    data: Mapping[str, Any],
    frame: _Frame,
    event_type: CommunityEventType,
    when: datetime | None,
    key_parts: tuple[str, ...],
) -> Fields | str:
    message_id = _snowflake(data, "id", "d.id")
    message_type = data.get("type", 0)
    if not is_int(message_type) or message_type not in _MEMBER_MESSAGE_TYPES:
        return f"message type {message_type} is a system message, not member content"
    webhook_id = data.get("webhook_id")
    actor = _author(data, "d", webhook=webhook_id is not None)
    attributes: Fields = {"message_type": message_type}
    if webhook_id is not None:
        attributes["webhook_id"] = str(webhook_id)
    parent_id = object_actor = None
    if message_type == 19:
        reference = mapping(data, "message_reference", "d.message_reference")
        parent_id = _snowflake(reference, "message_id", "d.message_reference.message_id")
        # referenced_message is null when the original was deleted, absent when not fetched.
        referenced = optional_mapping(data, "referenced_message", "d.referenced_message")
        if referenced is not None:
            webhook = referenced.get("webhook_id") is not None
            object_actor = _author(referenced, "d.referenced_message", webhook=webhook)
    channel_id = _snowflake(data, "channel_id", "d.channel_id")
    if "channel_type" in data:
        attributes["channel_type"] = data["channel_type"]
    text = str_or_none(data.get("content"))
    return {
        "type": event_type,
        "occurred_at": when or snowflake_time(message_id),
        "channel_id": channel_id,
        "thread_id": channel_id if data.get("channel_type") in _THREAD_CHANNEL_TYPES else None,
        "parent_id": parent_id,
        "source_event_id": message_id,
        "dedup_key": message_key(Platform.DISCORD, channel_id, message_id)
        if event_type is CommunityEventType.MESSAGE_CREATED
        else frame.dedup_key(message_id, *key_parts),
        "actor": actor,
        "object_actor": object_actor,
        "content": Content(
            text=text,
            attachments=[
                _attachment(item) for item in mappings(data, "attachments", "d.attachments")
            ],
            mentions=[
                _snowflake(user, "id", f"d.mentions[{index}].id")
                for index, user in enumerate(mappings(data, "mentions", "d.mentions"))
            ],
            links=unique(_links(text)),
        ),
        "attributes": attributes,
    }


def _message_delete(data: Mapping[str, Any], frame: _Frame) -> Fields:
    message_id = _snowflake(data, "id", "d.id")
    return {
        "type": CommunityEventType.MESSAGE_DELETED,
        "occurred_at": frame.received_at,
        "channel_id": _snowflake(data, "channel_id", "d.channel_id"),
        "source_event_id": message_id,
        "dedup_key": frame.dedup_key(message_id),
        # Actor requires an id; the Gateway says neither who deleted nor who wrote.
        "actor": Actor(platform_user_id=UNKNOWN_ACTOR),
        "attributes": {"actor_unknown": True},
    }


def _reaction(data: Mapping[str, Any], frame: _Frame) -> Fields:
    message_id = _snowflake(data, "message_id", "d.message_id")
    user_id = _snowflake(data, "user_id", "d.user_id")
    emoji = mapping(data, "emoji", "d.emoji")
    reaction = {"name": emoji.get("name"), "id": emoji.get("id")}
    # A custom emoji is known by its id (its name may be null once deleted), Unicode by name.
    emoji_key = reaction["id"] or reaction["name"]
    if not isinstance(emoji_key, str) or not emoji_key:
        raise MalformedPayload("d.emoji: expected an id or a name")
    member = optional_mapping(data, "member", "d.member")
    user = optional_mapping(member, "user", "d.member.user") if member is not None else None
    actor = _user_actor(user, member, "d.member.user") if user else Actor(platform_user_id=user_id)
    author_id = data.get("message_author_id")
    # Snowflake 0 is nobody: some captures blank the author that way.
    object_actor = Actor(platform_user_id=str(author_id)) if author_id not in (None, "0") else None
    is_add = frame.name == "MESSAGE_REACTION_ADD"
    return {
        "type": CommunityEventType.REACTION_ADDED
        if is_add
        else CommunityEventType.REACTION_REMOVED,
        "occurred_at": frame.received_at,
        "channel_id": _snowflake(data, "channel_id", "d.channel_id"),
        "parent_id": message_id,
        "source_event_id": message_id,
        "dedup_key": frame.dedup_key(message_id, user_id, emoji_key, with_seq=True),
        "actor": actor,
        "object_actor": object_actor,
        "attributes": {"reaction": reaction, "burst": data.get("burst") is True},
    }


def _member_add(data: Mapping[str, Any], frame: _Frame) -> Fields:
    actor = _user_actor(mapping(data, "user", "d.user"), data, "d.user")
    joined_at = data.get("joined_at")
    # Discord may repeat GUILD_MEMBER_ADD for a member; a rejoin has a new joined_at.
    if isinstance(joined_at, str):
        dedup_key = frame.dedup_key(actor.platform_user_id, joined_at)
    else:
        dedup_key = frame.dedup_key(actor.platform_user_id, with_seq=True)
    return {
        "type": CommunityEventType.MEMBER_JOINED,
        "occurred_at": iso_time(data, "joined_at", "d.joined_at") or frame.received_at,
        "source_event_id": actor.platform_user_id,
        "dedup_key": dedup_key,
        "actor": actor,
    }


def _member_remove(data: Mapping[str, Any], frame: _Frame) -> Fields:
    actor = _user_actor(mapping(data, "user", "d.user"), None, "d.user")
    return {
        "type": CommunityEventType.MEMBER_LEFT,
        "occurred_at": frame.received_at,
        "source_event_id": actor.platform_user_id,
        "dedup_key": frame.dedup_key(actor.platform_user_id, with_seq=True),
        "actor": actor,
    }


def _thread_create(data: Mapping[str, Any], frame: _Frame) -> Fields | str:
    if data.get("newly_created") is not True:
        return "THREAD_CREATE for an existing thread: the bot was added to it"
    thread_id = _snowflake(data, "id", "d.id")
    metadata = optional_mapping(data, "thread_metadata", "d.thread_metadata") or {}
    created_at = iso_time(metadata, "create_timestamp", "d.thread_metadata.create_timestamp")
    return {
        "type": CommunityEventType.THREAD_CREATED,
        "occurred_at": created_at or snowflake_time(thread_id),
        "channel_id": _snowflake(data, "parent_id", "d.parent_id"),
        "thread_id": thread_id,
        "source_event_id": thread_id,
        "dedup_key": frame.dedup_key(thread_id),
        "actor": Actor(platform_user_id=_snowflake(data, "owner_id", "d.owner_id")),
        "content": Content(title=str_or_none(data.get("name"))),
        "attributes": {"thread_type": data.get("type")},
    }


_BUILDERS: dict[str, Builder] = {
    "MESSAGE_CREATE": _message_create,
    "MESSAGE_UPDATE": _message_update,
    "MESSAGE_DELETE": _message_delete,
    "MESSAGE_REACTION_ADD": _reaction,
    "MESSAGE_REACTION_REMOVE": _reaction,
    "GUILD_MEMBER_ADD": _member_add,
    "GUILD_MEMBER_REMOVE": _member_remove,
    "THREAD_CREATE": _thread_create,
}


def _author(message: Mapping[str, Any], path: str, *, webhook: bool) -> Actor:
    """A message's author; webhook posts count as bots (the author is the webhook)."""
    author = mapping(message, "author", f"{path}.author")
    member = optional_mapping(message, "member", f"{path}.member")
    actor = _user_actor(author, member, f"{path}.author")
    return actor.model_copy(update={"is_bot": True}) if webhook else actor


def _user_actor(user: Mapping[str, Any], member: Mapping[str, Any] | None, path: str) -> Actor:
    """A user, named as the guild shows them: nickname, else global display name."""
    nick = str_or_none(member.get("nick")) if member is not None else None
    return Actor(
        platform_user_id=_snowflake(user, "id", f"{path}.id"),
        username=str_or_none(user.get("username")),
        display_name=nick or str_or_none(user.get("global_name")),
        is_bot=user.get("bot") is True,
    )


def _attachment(item: Mapping[str, Any]) -> Attachment:
    return Attachment(
        url=str_or_none(item.get("url")),
        content_type=str_or_none(item.get("content_type")),
        name=str_or_none(item.get("filename")),
        size_bytes=byte_size(item.get("size")),
    )


def _links(text: str | None) -> list[str]:
    """URLs in message text: Discord marks none, and moderation needs them."""
    return [url.rstrip(".,;:!?'\"") for url in _URL.findall(text or "")]


def _snowflake(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not value.isdigit():
        raise MalformedPayload(f"{path}: expected a snowflake id")
    return value
