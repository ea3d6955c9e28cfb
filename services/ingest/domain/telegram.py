"""Telegram Bot API updates -> canonical community events.

An Update holds `update_id` and one optional field whose name is its kind:

| update                              | events                                            |
|-------------------------------------|---------------------------------------------------|
| message with text, caption or media | message.created                                   |
| message.new_chat_members            | member.joined, one per member (actor: the member) |
| message.left_chat_member            | member.left (actor: the member who left)          |
| message.forum_topic_created         | thread.created                                    |
| any other service message           | ignored (pins, title changes, video chats, ...)   |
| edited_message                      | message.edited, occurred_at = edit_date           |
| message_reaction                    | reaction.added / reaction.removed per emoji       |
| chat_member                         | member.joined / member.left on a membership flip  |
| poll_answer                         | poll.answered; no chat, so no workspace/channel   |
| my_chat_member and anything else    | ignored with the reason                           |

workspace_id and channel_id are the chat id. Telegram message ids are unique only
within a chat: a message is (channel_id, attributes["message_id"]), and replies and
reactions name it in parent_id. source_event_id is the update id. Update ids are
unique per bot, hence dedup_key `telegram:{binding external id}:{update_id}`; an
update that yields several events (several new members, several changed reactions)
appends `:{index}` so each event keeps a key of its own. A new message's key is
`telegram:message:{chat id}:{message id}` instead (domain/dedup.py), the key its import
from a chat export gets too, so overlapping history counts once.

A bot that is an admin and asks for `chat_member` updates hears a join twice: as
that update and as the `new_chat_members` service message (when the group shows
those). The two are different updates, so both are published.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from services.ingest.domain.dedup import message_key
from services.ingest.domain.model import BindingContext, MalformedPayload, Normalized
from services.ingest.domain.payload import (
    Fields,
    byte_size,
    drafted_events,
    is_int,
    mapping,
    mappings,
    optional_mapping,
    required_int,
    required_str,
    str_or_none,
    unique,
    unix_time,
)
from shared.events.community import Actor, Attachment, CommunityEventType, Content, Platform

Builder = Callable[[Mapping[str, Any], str, datetime], "list[Fields] | str"]

# Messages carrying these are member content; a message with none of them and no
# text or caption is a service message (new ones appear in every Bot API release).
_FILE_KEYS = ("photo", "document", "video", "audio", "voice", "animation", "video_note", "sticker")
_OTHER_CONTENT_KEYS = (
    "poll",
    "dice",
    "location",
    "venue",
    "contact",
    "story",
    "game",
    "paid_media",
    "checklist",
    "giveaway",
)
_MEMBER_STATUSES = frozenset({"creator", "administrator", "member"})

_IGNORED_KINDS = {
    "my_chat_member": "my_chat_member is about the bot's own membership, not a community member",
}


def telegram_update_id(update: Mapping[str, Any]) -> int | None:
    """The update's id, or None when the payload has no integer update_id."""
    if not isinstance(update, Mapping):
        return None
    update_id = update.get("update_id")
    return update_id if is_int(update_id) else None


def normalize_telegram(
    update: Mapping[str, Any], ctx: BindingContext, *, received_at: datetime
) -> Normalized:
    """Turn one Bot API Update into canonical events, or say why it yields none."""
    if not isinstance(update, Mapping):
        raise MalformedPayload("update: expected a JSON object")
    update_id = telegram_update_id(update)
    if update_id is None:
        raise MalformedPayload("update_id: missing or not an integer")
    kind = next((key for key in update if key != "update_id"), None)
    if kind is None:
        return Normalized(ignored="update carries nothing besides update_id")
    if kind in _IGNORED_KINDS:
        return Normalized(ignored=_IGNORED_KINDS[kind])
    build = _BUILDERS.get(kind)
    if build is None:
        return Normalized(ignored=f"update kind {kind} is not community activity")
    drafts = build(mapping(update, kind, kind), kind, received_at)
    if isinstance(drafts, str):
        return Normalized(ignored=drafts)
    dedup_key = f"telegram:{ctx.external_id}:{update_id}"
    for index, fields in enumerate(drafts):
        fields["source_event_id"] = str(update_id)
        fields["dedup_key"] = f"{dedup_key}:{index}" if len(drafts) > 1 else dedup_key
        message_id = (fields.get("attributes") or {}).get("message_id")
        if fields.get("type") is CommunityEventType.MESSAGE_CREATED and message_id is not None:
            fields["dedup_key"] = message_key(Platform.TELEGRAM, fields["channel_id"], message_id)
    return drafted_events(ctx, Platform.TELEGRAM, drafts, received_at=received_at, what=kind)


def _message(msg: Mapping[str, Any], path: str, received_at: datetime) -> list[Fields] | str:
    common = _in_chat(msg, path, unix_time(msg, "date", f"{path}.date") or received_at)
    message_id = required_int(msg, "message_id", f"{path}.message_id")
    if "new_chat_members" in msg:
        return _members_joined(msg, path, message_id, common)
    if "left_chat_member" in msg:
        left = f"{path}.left_chat_member"
        member = _user_actor(mapping(msg, "left_chat_member", left), left)
        attributes = {"message_id": message_id, **_done_by(msg, member, path)}
        return [
            dict(common, type=CommunityEventType.MEMBER_LEFT, actor=member, attributes=attributes)
        ]
    if "forum_topic_created" in msg:
        topic = mapping(msg, "forum_topic_created", f"{path}.forum_topic_created")
        return [
            dict(
                common,
                type=CommunityEventType.THREAD_CREATED,
                thread_id=_thread_id(msg, path),
                actor=_required_sender(msg, path),
                content=Content(title=str_or_none(topic.get("name"))),
                attributes={"message_id": message_id},
            )
        ]
    return _content_message(msg, path, CommunityEventType.MESSAGE_CREATED, common)


def _edited_message(msg: Mapping[str, Any], path: str, received_at: datetime) -> list[Fields] | str:
    edited_at = unix_time(msg, "edit_date", f"{path}.edit_date")
    common = _in_chat(msg, path, edited_at or unix_time(msg, "date", f"{path}.date") or received_at)
    return _content_message(msg, path, CommunityEventType.MESSAGE_EDITED, common)


def _in_chat(body: Mapping[str, Any], path: str, occurred_at: datetime) -> Fields:
    """Where and when: Telegram's chat is both the workspace and the channel."""
    chat_id = str(required_int(mapping(body, "chat", f"{path}.chat"), "id", f"{path}.chat.id"))
    return {"workspace_id": chat_id, "channel_id": chat_id, "occurred_at": occurred_at}


def _content_message(
    msg: Mapping[str, Any], path: str, event_type: CommunityEventType, common: Fields
) -> list[Fields] | str:
    message_id = required_int(msg, "message_id", f"{path}.message_id")
    media = [key for key in (*_FILE_KEYS, *_OTHER_CONTENT_KEYS) if key in msg]
    if not (str_or_none(msg.get("text")) or str_or_none(msg.get("caption")) or media):
        return f"{path} {message_id} has no text, caption or media: a service message"
    attributes: Fields = {"message_id": message_id}
    if media:
        attributes["media"] = media
    if "sender_chat" in msg:
        attributes["sender_is_chat"] = True
    if msg.get("is_topic_message") is True:
        attributes["is_topic_message"] = True
    parent_id = object_actor = None
    reply = optional_mapping(msg, "reply_to_message", f"{path}.reply_to_message")
    # In a forum, a message that answers nobody still points at its topic's opening
    # service message; that is the topic (thread_id), not a reply.
    if reply is not None and "forum_topic_created" not in reply:
        reply_path = f"{path}.reply_to_message"
        parent_id = str(required_int(reply, "message_id", f"{reply_path}.message_id"))
        object_actor = _sender(reply, reply_path)
    return [
        dict(
            common,
            type=event_type,
            thread_id=_thread_id(msg, path),
            parent_id=parent_id,
            actor=_required_sender(msg, path),
            object_actor=object_actor,
            content=_content(msg, path),
            attributes=attributes,
        )
    ]


def _members_joined(
    msg: Mapping[str, Any], path: str, message_id: int, common: Fields
) -> list[Fields] | str:
    members = mappings(msg, "new_chat_members", f"{path}.new_chat_members")
    if not members:
        return f"{path}.new_chat_members is empty"
    drafts = []
    for index, user in enumerate(members):
        member = _user_actor(user, f"{path}.new_chat_members[{index}]")
        attributes = {"message_id": message_id, **_done_by(msg, member, path)}
        drafts.append(
            dict(common, type=CommunityEventType.MEMBER_JOINED, actor=member, attributes=attributes)
        )
    return drafts


def _done_by(msg: Mapping[str, Any], member: Actor, path: str) -> Fields:
    """`by`: who added or removed the member, when that was someone else."""
    by = optional_mapping(msg, "from", f"{path}.from")
    by_id = by.get("id") if by is not None else None
    if isinstance(by_id, int) and str(by_id) != member.platform_user_id:
        return {"by": str(by_id)}
    return {}


def _message_reaction(
    body: Mapping[str, Any], path: str, received_at: datetime
) -> list[Fields] | str:
    common = _in_chat(body, path, unix_time(body, "date", f"{path}.date") or received_at)
    message_id = required_int(body, "message_id", f"{path}.message_id")
    actor, attributes = _user_or_chat(body, path, "actor_chat")
    attributes["message_id"] = message_id
    old = _reactions(body, "old_reaction", path)
    new = _reactions(body, "new_reaction", path)
    changes = [(CommunityEventType.REACTION_ADDED, new[key]) for key in new if key not in old]
    changes += [(CommunityEventType.REACTION_REMOVED, old[key]) for key in old if key not in new]
    if not changes:
        return f"{path} changed no reaction"
    return [
        dict(
            common,
            type=event_type,
            parent_id=str(message_id),
            actor=actor,
            attributes={**attributes, "reaction": reaction},
        )
        for event_type, reaction in changes
    ]


def _user_or_chat(body: Mapping[str, Any], path: str, chat_key: str) -> tuple[Actor, Fields]:
    """Who acted: a user, or for anonymous group admins the chat they act as."""
    if (user := optional_mapping(body, "user", f"{path}.user")) is not None:
        return _user_actor(user, f"{path}.user"), {}
    if (chat := optional_mapping(body, chat_key, f"{path}.{chat_key}")) is not None:
        return _chat_actor(chat, f"{path}.{chat_key}"), {"actor_is_chat": True}
    raise MalformedPayload(f"{path}.user: missing, and no {chat_key} either")


def _reactions(body: Mapping[str, Any], key: str, path: str) -> dict[tuple[str, str], Fields]:
    """Reactions by identity: (type, emoji or custom emoji id) -> what the event reports."""
    found: dict[tuple[str, str], Fields] = {}
    for index, reaction in enumerate(mappings(body, key, f"{path}.{key}")):
        kind = reaction.get("type")
        if not isinstance(kind, str):
            raise MalformedPayload(f"{path}.{key}[{index}].type: expected a string")
        value_key = {"emoji": "emoji", "custom_emoji": "custom_emoji_id"}.get(kind)
        value = reaction.get(value_key) if value_key else None
        report: Fields = {"type": kind}
        if value_key and isinstance(value, str):
            report[value_key] = value
        found[(kind, value if isinstance(value, str) else "")] = report
    return found


def _chat_member(body: Mapping[str, Any], path: str, received_at: datetime) -> list[Fields] | str:
    common = _in_chat(body, path, unix_time(body, "date", f"{path}.date") or received_at)
    old = mapping(body, "old_chat_member", f"{path}.old_chat_member")
    new = mapping(body, "new_chat_member", f"{path}.new_chat_member")
    old_status, was_member = _membership(old, f"{path}.old_chat_member")
    new_status, is_member = _membership(new, f"{path}.new_chat_member")
    if was_member == is_member:
        return f"{path} {old_status} -> {new_status} is neither a join nor a leave"
    user_path = f"{path}.new_chat_member.user"
    member = _user_actor(mapping(new, "user", user_path), user_path)
    attributes: Fields = {"old_status": old_status, "new_status": new_status}
    attributes |= _done_by(body, member, path)
    if body.get("via_join_request") is True:
        attributes["via_join_request"] = True
    joined_or_left = (
        CommunityEventType.MEMBER_JOINED if is_member else CommunityEventType.MEMBER_LEFT
    )
    return [dict(common, type=joined_or_left, actor=member, attributes=attributes)]


def _membership(chat_member: Mapping[str, Any], path: str) -> tuple[str, bool]:
    """A ChatMember's status, and whether that status has them in the chat."""
    status = chat_member.get("status")
    if not isinstance(status, str):
        raise MalformedPayload(f"{path}.status: expected a string")
    # A restricted user may or may not be in the chat; Telegram says which in is_member.
    if status == "restricted":
        return status, chat_member.get("is_member") is True
    return status, status in _MEMBER_STATUSES


def _poll_answer(body: Mapping[str, Any], path: str, received_at: datetime) -> list[Fields] | str:
    poll_id = required_str(body, "poll_id", f"{path}.poll_id")
    option_ids = body.get("option_ids")
    if not isinstance(option_ids, list) or not all(is_int(option) for option in option_ids):
        raise MalformedPayload(f"{path}.option_ids: expected a list of integers")
    actor, attributes = _user_or_chat(body, path, "voter_chat")
    # A PollAnswer names no chat and no time: the poll's chat is known only to whoever
    # sent the poll, so workspace and channel stay None (attributes["chat_unknown"]).
    attributes |= {"poll_id": poll_id, "option_ids": option_ids, "chat_unknown": True}
    if not option_ids:
        attributes["retracted"] = True
    answered = CommunityEventType.POLL_ANSWERED
    return [dict(type=answered, occurred_at=received_at, actor=actor, attributes=attributes)]


_BUILDERS: dict[str, Builder] = {
    "message": _message,
    "edited_message": _edited_message,
    "message_reaction": _message_reaction,
    "chat_member": _chat_member,
    "poll_answer": _poll_answer,
}


def _content(msg: Mapping[str, Any], path: str) -> Content:
    """Text or caption, with the mentions and links its entities mark."""
    text = str_or_none(msg.get("text"))
    entities_key = "entities"
    if text is None:
        text = str_or_none(msg.get("caption"))
        entities_key = "caption_entities"
    mentions: list[str] = []
    links: list[str] = []
    for index, entity in enumerate(mappings(msg, entities_key, f"{path}.{entities_key}")):
        where = f"{path}.{entities_key}[{index}]"
        kind = entity.get("type")
        if kind in ("mention", "url") and text is not None:
            (mentions if kind == "mention" else links).append(_entity_text(text, entity, where))
        elif kind == "text_mention":
            user = mapping(entity, "user", f"{where}.user")
            mentions.append(str(required_int(user, "id", f"{where}.user.id")))
        elif kind == "text_link" and isinstance(entity.get("url"), str):
            links.append(entity["url"])
    return Content(
        text=text,
        attachments=_attachments(msg),
        mentions=unique(mentions),
        links=unique(links),
    )


def _entity_text(text: str, entity: Mapping[str, Any], path: str) -> str:
    # Entity offsets and lengths count UTF-16 code units, not Python characters.
    start = 2 * required_int(entity, "offset", f"{path}.offset")
    end = start + 2 * required_int(entity, "length", f"{path}.length")
    return text.encode("utf-16-le")[start:end].decode("utf-16-le", errors="replace")


def _attachments(msg: Mapping[str, Any]) -> list[Attachment]:
    """Files by metadata only: Telegram hands out file ids, and a download URL needs the token."""
    found = []
    for key in _FILE_KEYS:
        item = msg.get(key)
        if key == "photo" and isinstance(item, list) and item:
            item = item[-1]  # sizes come smallest first; the largest stands for the photo
        if isinstance(item, Mapping):
            found.append(
                Attachment(
                    name=str_or_none(item.get("file_name")),
                    content_type=str_or_none(item.get("mime_type")),
                    size_bytes=byte_size(item.get("file_size")),
                )
            )
    return found


def _thread_id(msg: Mapping[str, Any], path: str) -> str | None:
    if msg.get("message_thread_id") is None:
        return None
    return str(required_int(msg, "message_thread_id", f"{path}.message_thread_id"))


def _required_sender(msg: Mapping[str, Any], path: str) -> Actor:
    actor = _sender(msg, path)
    if actor is None:
        raise MalformedPayload(f"{path}.from: missing, and no sender_chat either")
    return actor


def _sender(msg: Mapping[str, Any], path: str) -> Actor | None:
    """Who sent a message; a chat when someone posts as a channel or an anonymous admin."""
    # Then `from` is a placeholder bot (GroupAnonymousBot, Channel_Bot), not the sender.
    if (chat := optional_mapping(msg, "sender_chat", f"{path}.sender_chat")) is not None:
        return _chat_actor(chat, f"{path}.sender_chat")
    if (user := optional_mapping(msg, "from", f"{path}.from")) is not None:
        return _user_actor(user, f"{path}.from")
    return None


def _user_actor(user: Mapping[str, Any], path: str) -> Actor:
    names = (str_or_none(user.get("first_name")), str_or_none(user.get("last_name")))
    return Actor(
        platform_user_id=str(required_int(user, "id", f"{path}.id")),
        username=str_or_none(user.get("username")),
        display_name=" ".join(name for name in names if name) or None,
        is_bot=user.get("is_bot") is True,
    )


def _chat_actor(chat: Mapping[str, Any], path: str) -> Actor:
    return Actor(
        platform_user_id=str(required_int(chat, "id", f"{path}.id")),
        username=str_or_none(chat.get("username")),
        display_name=str_or_none(chat.get("title")),
    )
