"""Telegram Desktop's "Export chat history" (JSON, result.json) -> backfilled events.

The file is one chat: `{"name", "type", "id", "messages": [...]}`, written by
tdesktop's export_output_json.cpp. Each element of `messages` is:

| element                                          | event                                       |
|--------------------------------------------------|---------------------------------------------|
| type "message"                                   | message.created (parent_id: the reply)      |
| service join_group_by_link / join_group_by_request | member.joined (actor: who joined)         |
| service invite_members naming the actor itself   | member.joined (a user who added themselves) |
| service invite_members naming others             | skipped: the export names them, no ids      |
| service remove_members naming the actor itself   | member.left (a user who left)               |
| service remove_members naming someone else       | skipped: the export names them, no ids      |
| service topic_created                            | thread.created (thread_id: its message id)  |
| any other service action, type "unsupported"     | skipped with the reason                     |

Ids follow the Bot API, so imported history and live events share channels and
members: the export's bare chat id becomes -100{id} for supergroups and channels
and -{id} for basic groups; `from_id` "user123" is member "123", "channel123" the
chat -100123. Telegram message ids are unique only within a chat: a message's dedup_key
is `telegram:message:{chat id}:{message id}`, the key the live connector gives the same
message (domain/dedup.py), so history that overlaps live traffic counts once; joins and
topics, which live traffic sees as other updates, keep `import:telegram:{chat}:{id}`.

A message in a forum topic answers the topic's opening service message, so a reply
to a topic_created message names the thread (thread_id), not a parent; a reply to
a message inside a topic inherits that topic. Times come from `date_unixtime`
(UTC); `date` is the exporting computer's local time without an offset, used as
UTC only when an old export has nothing else (attributes["time_assumed_utc"]).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.ingest.domain.dedup import message_key
from services.ingest.domain.imports.jsonstream import NoMessages, stream_messages
from services.ingest.domain.imports.model import (
    MAX_TEXT,
    MAX_TITLE,
    ParseStats,
    Source,
    clip,
    make_event,
    open_text,
)
from services.ingest.domain.incoming import ActorIn, EventIn
from shared.events.community import Attachment, CommunityEventType, Content, Platform

_CHANNEL_TYPES = frozenset(
    {"private_supergroup", "public_supergroup", "private_channel", "public_channel"}
)
_JOIN_ACTIONS = frozenset({"join_group_by_link", "join_group_by_request"})
# What a message can carry besides text; reported in attributes["media"].
_MEDIA_KEYS = (
    "photo",
    "file",
    "poll",
    "location_information",
    "contact_information",
    "place_name",
    "game_title",
    "invoice_information",
)
# tdesktop writes this instead of a path for files it did not download.
_NOT_EXPORTED = "("


@dataclass
class _Chat:
    """The exported chat and what its messages so far tell about its threads."""

    id: str
    community_id: str
    topics: set[int] = field(default_factory=set)
    thread_of: dict[int, int] = field(default_factory=dict)


def parse_telegram(
    source: Source, *, community_id: str, stats: ParseStats | None = None
) -> Iterator[EventIn]:
    """Backfilled events of one Telegram Desktop chat export, in the file's order."""
    stats = stats if stats is not None else ParseStats()
    with open_text(source) as text:
        try:
            yield from stream_messages(
                text,
                label="Telegram export",
                ready=lambda header: "id" in header and "type" in header,
                emit=lambda header, messages: _messages(
                    messages, _chat(header, community_id), stats
                ),
            )
        except NoMessages as missing:
            if "chats" in missing.header:
                raise ValueError(
                    "this is a whole-account Telegram export; export one chat instead "
                    "(chat menu -> Export chat history -> JSON)"
                ) from None
            raise ValueError("not a Telegram chat export: no 'messages' list") from None


def _chat(header: Mapping[str, Any], community_id: str) -> _Chat:
    bare = header.get("id")
    if isinstance(bare, bool) or not isinstance(bare, int):
        raise ValueError("Telegram export: the chat 'id' is missing or not a number")
    kind = header.get("type")
    peer = "channel" if kind in _CHANNEL_TYPES else "chat" if kind == "private_group" else "user"
    return _Chat(id=_bot_api_id(peer, bare), community_id=community_id)


def _bot_api_id(peer: str, bare: int) -> str:
    """The Bot API's id of a peer the export names by kind and bare id."""
    if peer == "channel":  # supergroups and channels
        return str(-(1_000_000_000_000 + bare))
    if peer == "chat":  # basic groups
        return str(-bare)
    return str(bare)


def _messages(items: Iterable[Any], chat: _Chat, stats: ParseStats) -> Iterator[EventIn]:
    for item in items:
        if not isinstance(item, Mapping):
            stats.skip("malformed: a message is not an object")
            continue
        message_id = item.get("id")
        if isinstance(message_id, bool) or not isinstance(message_id, int):
            stats.skip("malformed: a message has no integer id")
            continue
        kind = item.get("type")
        if kind == "message":
            event = _message(item, message_id, chat, stats)
        elif kind == "service":
            event = _service(item, message_id, chat, stats)
        else:
            stats.skip(f"message type {kind}")
            continue
        if event is not None:
            yield event


def _message(
    item: Mapping[str, Any], message_id: int, chat: _Chat, stats: ParseStats
) -> EventIn | None:
    actor = _actor(item, "from")
    if actor is None:
        stats.skip("message without a sender (from_id)")
        return None
    attributes: dict[str, Any] = {"message_id": message_id}
    if actor.platform_user_id.startswith("-"):
        attributes["sender_is_chat"] = True
    thread_id, parent_id = _thread(item, message_id, chat, attributes)
    text, mentions, links = _text(item)
    media = [key for key in _MEDIA_KEYS if key in item]
    if media:
        attributes["media"] = media
    for key in ("media_type", "forwarded_from", "via_bot", "author"):
        if isinstance(item.get(key), str):
            attributes[key] = item[key]
    if (edited := _unix(item, "edited_unixtime")) is not None:
        attributes["edited_at"] = edited.isoformat()
    if reactions := _reactions(item.get("reactions")):
        attributes["reactions"] = reactions
    content = Content(
        text=clip(text, MAX_TEXT, attributes, "text_truncated"),
        attachments=_attachments(item),
        mentions=mentions,
        links=links,
    )
    common = _common(item, message_id, chat, attributes)
    common["dedup_key"] = message_key(Platform.TELEGRAM, chat.id, message_id)
    return make_event(
        stats,
        type=CommunityEventType.MESSAGE_CREATED,
        thread_id=thread_id,
        parent_id=parent_id,
        actor=actor,
        content=content,
        **common,
    )


def _service(
    item: Mapping[str, Any], message_id: int, chat: _Chat, stats: ParseStats
) -> EventIn | None:
    action = item.get("action")
    actor = _actor(item, "actor")
    members = [name for name in item.get("members") or [] if isinstance(name, str)]
    attributes: dict[str, Any] = {"message_id": message_id, "action": action}
    if action == "topic_created":
        if actor is None:
            stats.skip("service topic_created without an actor")
            return None
        chat.topics.add(message_id)
        title = item.get("title") if isinstance(item.get("title"), str) else None
        return make_event(
            stats,
            type=CommunityEventType.THREAD_CREATED,
            thread_id=str(message_id),
            actor=actor,
            content=Content(title=clip(title, MAX_TITLE, attributes, "title_truncated")),
            **_common(item, message_id, chat, attributes),
        )
    if action in _JOIN_ACTIONS:
        event_type = CommunityEventType.MEMBER_JOINED
        if isinstance(item.get("inviter"), str):
            attributes["inviter"] = item["inviter"]
    elif action in ("invite_members", "remove_members"):
        # Only names are exported for the members: the event can say who joined or
        # left only when that is the actor, i.e. someone who added or removed themselves.
        if actor is None or members != [actor.display_name]:
            stats.skip(f"service {action} naming others: the export gives their names, no ids")
            return None
        joined = action == "invite_members"
        event_type = CommunityEventType.MEMBER_JOINED if joined else CommunityEventType.MEMBER_LEFT
    else:
        stats.skip(f"service action {action}")
        return None
    if actor is None:
        stats.skip(f"service {action} without an actor (actor_id)")
        return None
    return make_event(
        stats, type=event_type, actor=actor, **_common(item, message_id, chat, attributes)
    )


def _common(
    item: Mapping[str, Any], message_id: int, chat: _Chat, attributes: dict[str, Any]
) -> dict[str, Any]:
    """Fields every event of this chat shares: where, when, and its stable keys."""
    occurred_at = _unix(item, "date_unixtime")
    if occurred_at is None:
        occurred_at = _naive(item.get("date"))
        attributes["time_assumed_utc"] = True
    return {
        "community_id": chat.community_id,
        "platform": Platform.TELEGRAM,
        "occurred_at": occurred_at,
        "workspace_id": chat.id,
        "channel_id": chat.id,
        "source_event_id": str(message_id),
        "dedup_key": f"import:telegram:{chat.id}:{message_id}",
        "attributes": attributes,
    }


def _thread(
    item: Mapping[str, Any], message_id: int, chat: _Chat, attributes: dict[str, Any]
) -> tuple[str | None, str | None]:
    """(thread_id, parent_id) from reply_to_message_id, the only link the export keeps."""
    reply_to = item.get("reply_to_message_id")
    if isinstance(reply_to, bool) or not isinstance(reply_to, int):
        return None, None
    if item.get("reply_to_peer_id") is not None:
        attributes["reply_to_peer_id"] = item["reply_to_peer_id"]
        attributes["reply_to_message_id"] = reply_to
        return None, None  # answers a message of another chat
    if reply_to in chat.topics:
        chat.thread_of[message_id] = reply_to
        return str(reply_to), None
    topic = chat.thread_of.get(reply_to)
    if topic is not None:
        chat.thread_of[message_id] = topic
    return (str(topic) if topic is not None else None), str(reply_to)


def _actor(item: Mapping[str, Any], role: str) -> ActorIn | None:
    """The member behind `from`/`actor`: its Bot API id and the name the export shows."""
    raw_id = item.get(f"{role}_id")
    name = item.get(role) if isinstance(item.get(role), str) else None
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):  # exports before 2021
        return ActorIn(platform_user_id=str(raw_id), display_name=name)
    if not isinstance(raw_id, str):
        return None
    for peer in ("user", "channel", "chat"):
        if raw_id.startswith(peer) and raw_id[len(peer) :].isdigit():
            platform_id = _bot_api_id(peer, int(raw_id[len(peer) :]))
            return ActorIn(platform_user_id=platform_id, display_name=name)
    return None


def _text(item: Mapping[str, Any]) -> tuple[str | None, list[str], list[str]]:
    """Plain text, mentions and links; `text_entities` always lists parts as objects."""
    parts = item.get("text_entities")
    if not isinstance(parts, list):
        raw = item.get("text")
        parts = raw if isinstance(raw, list) else [raw]
    texts: list[str] = []
    mentions: list[str] = []
    links: list[str] = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, Mapping) or not isinstance(part.get("text"), str):
            continue
        texts.append(part["text"])
        kind = part.get("type")
        if kind == "mention":
            mentions.append(part["text"])
        elif kind == "mention_name" and part.get("user_id") is not None:
            mentions.append(str(part["user_id"]))
        elif kind == "link":
            links.append(part["text"])
        elif kind == "text_link" and isinstance(part.get("href"), str):
            links.append(part["href"])
    return "".join(texts) or None, list(dict.fromkeys(mentions)), list(dict.fromkeys(links))


def _attachments(item: Mapping[str, Any]) -> list[Attachment]:
    """Photos and files by name and type; the export holds relative paths, not URLs."""
    found = []
    for key, size_key in (("photo", "photo_file_size"), ("file", "file_size")):
        path = item.get(key)
        if not isinstance(path, str):
            continue
        name = item.get("file_name") if key == "file" else None
        if not isinstance(name, str) or not name:
            name = None if path.startswith(_NOT_EXPORTED) else os.path.basename(path)
        size = item.get(size_key)
        mime = item.get("mime_type") if key == "file" else None
        found.append(
            Attachment(
                name=name,
                content_type=mime if isinstance(mime, str) else None,
                size_bytes=size if isinstance(size, int) and size >= 0 else None,
            )
        )
    return found


def _reactions(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    found = []
    for reaction in raw:
        if not isinstance(reaction, Mapping):
            continue
        summary = {
            key: reaction[key]
            for key in ("type", "emoji", "document_id", "count")
            if key in reaction and not isinstance(reaction[key], list | dict)
        }
        if summary:
            found.append(summary)
    return found


def _unix(item: Mapping[str, Any], key: str) -> datetime | None:
    raw = item.get(key)
    if isinstance(raw, str) and raw.isdigit():
        return datetime.fromtimestamp(int(raw), UTC)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return datetime.fromtimestamp(raw, UTC)
    return None


def _naive(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
