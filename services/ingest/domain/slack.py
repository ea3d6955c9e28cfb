"""Slack Events API payloads to canonical community events.

The body's `type` says what it is: `url_verification` is answered with its challenge,
`event_callback` carries one event dispatched on `event.type` (and `event.subtype` for
messages). Everything else is ignored with a reason, never an error.

Conventions of this module:
- dedup_key is `slack:{team_id}:{event_id}`: Slack keeps event_id across retries. A new
  message's is `slack:message:{channel}:{ts}` instead (domain/dedup.py), the key its
  import from an export gets too, so overlapping history counts once.
- occurred_at is the event's own `event_ts`/`ts` (sub-second, the time on Slack), else the
  envelope's `event_time`.
- attributes["message_id"] is the `ts` of the message the event is about (the new, edited,
  deleted or reacted-to message); with the channel it identifies the message on Slack.
- a thread reply gets thread_id = parent_id = `thread_ts`; a thread's root message only
  thread_id.
- message_deleted is attributed to the deleted message's author: Slack does not say who
  deleted it, and the author is whose activity it changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Unpack

from services.ingest.domain.dedup import message_key
from services.ingest.domain.model import BindingContext, MalformedPayload, Normalized
from services.ingest.domain.payload import (
    EventFields,
    byte_size,
    clip,
    handled,
    mapping,
    one_event,
    required_str,
    str_or_none,
    truncation,
    unique,
    unix_time,
)
from shared.events.community import Actor, Attachment, CommunityEventType, Content, Platform

# Slack's mrkdwn: <@U123> or <@U123|name> for users, <https://x|label> or <https://x> for links.
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<(https?://[^|>\s]+)(?:\|[^>]*)?>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))

# Message subtypes that are something a member wrote; the rest (channel_join, channel_topic,
# message_replied …) are Slack's own notices or duplicates of events handled elsewhere.
_MESSAGE_SUBTYPES = frozenset({None, "thread_broadcast", "bot_message", "file_share", "me_message"})


def slack_event_id(payload: Mapping[str, Any]) -> str | None:
    """Return the envelope's event_id, the key Slack keeps when it retries a delivery."""
    return str_or_none(payload.get("event_id"))


def normalize_slack(
    payload: Mapping[str, Any], ctx: BindingContext, *, received_at: datetime
) -> Normalized:
    """Turn one Events API request body into canonical events, a reply, or a reason to ignore."""
    body_type = payload.get("type")
    if body_type == "url_verification":
        return Normalized(reply={"challenge": required_str(payload, "challenge", "challenge")})
    if body_type != "event_callback":
        return Normalized(ignored=f"Slack body type {body_type!r} carries no community activity")
    callback = _Callback.parse(payload, ctx, received_at)
    kind = callback.event.get("type")
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        return Normalized(ignored=f"Slack event type {kind!r} is not mapped")
    return handled(handler, callback, what="Slack event")


@dataclass(frozen=True)
class _Callback:
    """One event_callback envelope and what every event made from it shares."""

    envelope: Mapping[str, Any]
    team_id: str
    event_id: str
    event: Mapping[str, Any]
    ctx: BindingContext
    received_at: datetime

    @classmethod
    def parse(
        cls, payload: Mapping[str, Any], ctx: BindingContext, received_at: datetime
    ) -> _Callback:
        event = mapping(payload, "event", "event")
        required_str(event, "type", "event.type")
        return cls(
            envelope=payload,
            team_id=required_str(payload, "team_id", "team_id"),
            event_id=required_str(payload, "event_id", "event_id"),
            event=event,
            ctx=ctx,
            received_at=received_at,
        )

    def occurred_at(self) -> datetime | None:
        return (
            unix_time(self.event, "event_ts", "event.event_ts")
            or unix_time(self.event, "ts", "event.ts")
            or unix_time(self.envelope, "event_time", "event_time")
        )

    def build(
        self,
        type_: CommunityEventType,
        *,
        actor: Actor,
        channel_id: str | None = None,
        dedup_key: str | None = None,
        **fields: Unpack[EventFields],
    ) -> Normalized:
        return one_event(
            self.ctx,
            Platform.SLACK,
            type_,
            received_at=self.received_at,
            occurred_at=self.occurred_at(),
            workspace_id=self.team_id,
            channel_id=channel_id,
            source_event_id=self.event_id,
            dedup_key=dedup_key or f"slack:{self.team_id}:{self.event_id}",
            actor=actor,
            **fields,
        )


def _message(callback: _Callback) -> Normalized:
    event = callback.event
    subtype = event.get("subtype")
    if subtype == "message_changed":
        return _message_changed(callback)
    if subtype == "message_deleted":
        return _message_deleted(callback)
    if subtype not in _MESSAGE_SUBTYPES:
        return Normalized(ignored=f"Slack message subtype {subtype!r} is not member activity")
    return _about_message(
        callback, CommunityEventType.MESSAGE_CREATED, event, "event", event.get("ts")
    )


def _message_changed(callback: _Callback) -> Normalized:
    event = callback.event
    message = mapping(event, "message", "event.message")
    previous = event.get("previous_message")
    if isinstance(previous, Mapping) and previous.get("text") == message.get("text"):
        return Normalized(
            ignored="Slack message_changed without a text change (unfurl or metadata)"
        )
    ts = message.get("ts") or (previous.get("ts") if isinstance(previous, Mapping) else None)
    edited = message.get("edited")
    return _about_message(
        callback,
        CommunityEventType.MESSAGE_EDITED,
        message,
        "event.message",
        ts,
        subtype="message_changed",
        edited_ts=edited.get("ts") if isinstance(edited, Mapping) else None,
    )


def _message_deleted(callback: _Callback) -> Normalized:
    event = callback.event
    previous = mapping(event, "previous_message", "event.previous_message")
    ts = event.get("deleted_ts") or previous.get("ts")
    return _about_message(
        callback,
        CommunityEventType.MESSAGE_DELETED,
        previous,
        "event.previous_message",
        ts,
        subtype="message_deleted",
    )


def _about_message(
    callback: _Callback,
    type_: CommunityEventType,
    message: Mapping[str, Any],
    path: str,
    ts: Any,
    **attributes: Any,
) -> Normalized:
    """An event about one message (at `path`, known by `ts`), by that message's author."""
    thread_id, parent_id = _thread(message)
    channel = callback.event.get("channel")
    key = None
    if type_ is CommunityEventType.MESSAGE_CREATED and isinstance(channel, str):
        key = message_key(Platform.SLACK, channel, ts) if isinstance(ts, str) else None
    return callback.build(
        type_,
        actor=_author(message, path),
        channel_id=channel,
        dedup_key=key,
        thread_id=thread_id,
        parent_id=parent_id,
        content=None if type_ is CommunityEventType.MESSAGE_DELETED else _content(message),
        attributes={
            "ts": ts,
            "message_id": ts,
            "subtype": message.get("subtype"),
            "client_msg_id": message.get("client_msg_id"),
            "channel_type": message.get("channel_type"),
            "bot_id": message.get("bot_id"),
            **truncation(message.get("text")),
            **attributes,
        },
    )


def _reaction(type_: CommunityEventType) -> Callable[[_Callback], Normalized]:
    def handle(callback: _Callback) -> Normalized:
        event = callback.event
        item = mapping(event, "item", "event.item")
        item_user = event.get("item_user")
        return callback.build(
            type_,
            actor=Actor(platform_user_id=required_str(event, "user", "event.user")),
            channel_id=item.get("channel"),
            parent_id=item.get("ts"),
            object_actor=Actor(platform_user_id=item_user) if item_user else None,
            attributes={
                "reaction": required_str(event, "reaction", "event.reaction"),
                "item_type": item.get("type"),
                "message_id": item.get("ts"),
                "event_ts": event.get("event_ts"),
            },
        )

    return handle


def _membership(type_: CommunityEventType) -> Callable[[_Callback], Normalized]:
    def handle(callback: _Callback) -> Normalized:
        event = callback.event
        return callback.build(
            type_,
            actor=Actor(platform_user_id=required_str(event, "user", "event.user")),
            channel_id=event.get("channel"),
            attributes={"channel_type": event.get("channel_type"), "inviter": event.get("inviter")},
        )

    return handle


def _app_mention(callback: _Callback) -> Normalized:
    return Normalized(
        ignored="Slack app_mention duplicates the message event with the same ts; "
        "the message event is the one normalized"
    )


_HANDLERS: dict[str, Callable[[_Callback], Normalized]] = {
    "message": _message,
    "app_mention": _app_mention,
    "reaction_added": _reaction(CommunityEventType.REACTION_ADDED),
    "reaction_removed": _reaction(CommunityEventType.REACTION_REMOVED),
    "member_joined_channel": _membership(CommunityEventType.MEMBER_JOINED),
    "member_left_channel": _membership(CommunityEventType.MEMBER_LEFT),
}


def _author(message: Mapping[str, Any], path: str) -> Actor:
    """Who wrote a message: a user, or a bot (bot_id, subtype bot_message) that may have none."""
    bot_id = message.get("bot_id") or None
    user_id = message.get("user") or bot_id
    if not isinstance(user_id, str):
        raise MalformedPayload(f"{path}.user: expected a user or bot id")
    profile = message.get("user_profile")
    profile = profile if isinstance(profile, Mapping) else {}
    return Actor(
        platform_user_id=user_id,
        username=message.get("username") or profile.get("name") or None,
        display_name=profile.get("display_name") or profile.get("real_name") or None,
        is_bot=bot_id is not None or message.get("subtype") == "bot_message",
    )


def _thread(message: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(thread_id, parent_id): a reply points at its thread's root, a root only names it."""
    thread_ts = message.get("thread_ts") or None
    if thread_ts is None:
        return None, None
    if thread_ts == message.get("ts"):
        return thread_ts, None
    return thread_ts, thread_ts


def _content(message: Mapping[str, Any]) -> Content:
    raw = message.get("text")
    text = raw if isinstance(raw, str) else ""
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    files = message.get("files")
    return Content(
        text=clip(text),
        mentions=unique(_MENTION.findall(text)),
        links=unique(_LINK.findall(text)),
        attachments=[_attachment(f) for f in files if isinstance(f, Mapping)]
        if isinstance(files, list)
        else [],
    )


def _attachment(file: Mapping[str, Any]) -> Attachment:
    return Attachment(
        url=file.get("url_private") or file.get("permalink"),
        content_type=file.get("mimetype"),
        name=file.get("name"),
        size_bytes=byte_size(file.get("size")),
    )
