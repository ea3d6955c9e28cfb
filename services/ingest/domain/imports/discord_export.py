"""DiscordChatExporter's JSON export of one channel -> backfilled events.

The file (JsonMessageWriter in Tyrrrz/DiscordChatExporter) is
`{"guild", "channel", "dateRange", "exportedAt", "messages": [...], "messageCount"}`;
a message's `type` is the name of Discord's message type:

| message type            | event                                                   |
|-------------------------|---------------------------------------------------------|
| Default                 | message.created                                         |
| Reply                   | message.created, parent_id = reference.messageId        |
| GuildMemberJoin         | member.joined (actor: the member)                       |
| ThreadCreated           | thread.created, thread_id = reference.channelId         |
| any other               | skipped with the reason (pins, calls, renames, boosts)  |
| in a direct-message export (guild id "0") | skipped: not community activity       |

Conventions match the live Discord connector: workspace_id is the guild,
channel_id the exported channel; when that channel is a thread, thread_id repeats
it. A message's dedup_key is `discord:message:{channel id}:{message id}`, the key the
gateway gives the same message (domain/dedup.py), so history that overlaps live traffic
counts once; joins and thread creations, which the gateway sees as other dispatches,
keep `import:discord:{channel id}:{message id}`. Reactions are exported as
counts (and, when asked for, the users who reacted, without times), so they are
kept in attributes["reactions"], not turned into reaction events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
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

_THREAD_KINDS = frozenset({"GuildNewsThread", "GuildPublicThread", "GuildPrivateThread"})
_DIRECT_GUILD = "0"  # DiscordChatExporter's pseudo-guild "Direct Messages"
# Discord marks no links in content; moderation and insights need them.
_URL = re.compile(r"https?://[^\s<>]+[^\s<>.,;:!?)\]'\"]")


@dataclass(frozen=True)
class _Channel:
    community_id: str
    guild_id: str
    channel_id: str
    is_thread: bool


def parse_discord(
    source: Source, *, community_id: str, stats: ParseStats | None = None
) -> Iterator[EventIn]:
    """Backfilled events of one DiscordChatExporter channel export, in the file's order."""
    stats = stats if stats is not None else ParseStats()
    with open_text(source) as text:
        try:
            yield from stream_messages(
                text,
                label="DiscordChatExporter export",
                ready=lambda header: "guild" in header and "channel" in header,
                emit=lambda header, messages: _messages(
                    messages, _channel(header, community_id), stats
                ),
            )
        except NoMessages:
            raise ValueError("not a DiscordChatExporter export: no 'messages' list") from None


def _channel(header: Mapping[str, Any], community_id: str) -> _Channel:
    guild, channel = header.get("guild"), header.get("channel")
    if not isinstance(guild, Mapping) or not isinstance(guild.get("id"), str):
        raise ValueError("DiscordChatExporter export: 'guild.id' is missing")
    if not isinstance(channel, Mapping) or not isinstance(channel.get("id"), str):
        raise ValueError("DiscordChatExporter export: 'channel.id' is missing")
    return _Channel(
        community_id=community_id,
        guild_id=guild["id"],
        channel_id=channel["id"],
        is_thread=channel.get("type") in _THREAD_KINDS,
    )


def _messages(items: Iterable[Any], channel: _Channel, stats: ParseStats) -> Iterator[EventIn]:
    for item in items:
        if channel.guild_id == _DIRECT_GUILD:
            stats.skip("direct messages are not community activity")
            continue
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            stats.skip("malformed: a message without an id")
            continue
        event = _message(item, channel, stats)
        if event is not None:
            yield event


def _message(item: Mapping[str, Any], channel: _Channel, stats: ParseStats) -> EventIn | None:
    kind = item.get("type")
    if kind not in ("Default", "Reply", "GuildMemberJoin", "ThreadCreated"):
        stats.skip(f"message type {kind}")
        return None
    actor = _actor(item.get("author"))
    if actor is None:
        stats.skip("malformed: a message without author.id")
        return None
    message_id = item["id"]
    attributes: dict[str, Any] = {"message_id": message_id, "message_type": kind}
    common: dict[str, Any] = {
        "community_id": channel.community_id,
        "platform": Platform.DISCORD,
        "occurred_at": _time(item.get("timestamp")),
        "workspace_id": channel.guild_id,
        "channel_id": channel.channel_id,
        "thread_id": channel.channel_id if channel.is_thread else None,
        "source_event_id": message_id,
        "dedup_key": f"import:discord:{channel.channel_id}:{message_id}",
        "actor": actor,
        "attributes": attributes,
    }
    reference = item.get("reference")
    if not isinstance(reference, Mapping):
        reference = {}
    if kind == "GuildMemberJoin":
        return make_event(stats, type=CommunityEventType.MEMBER_JOINED, **common)
    if kind == "ThreadCreated":
        thread_id = _str(reference.get("channelId")) or message_id
        title = clip(_str(item.get("content")), MAX_TITLE, attributes, "title_truncated")
        common["thread_id"] = thread_id
        return make_event(
            stats, type=CommunityEventType.THREAD_CREATED, content=Content(title=title), **common
        )
    if (edited := _time(item.get("timestampEdited"))) is not None:
        attributes["edited_at"] = edited.isoformat()
    if reactions := _reactions(item.get("reactions")):
        attributes["reactions"] = reactions
    if item.get("isPinned") is True:
        attributes["pinned"] = True
    parent_id = _str(reference.get("messageId")) if kind == "Reply" else None
    common["dedup_key"] = message_key(Platform.DISCORD, channel.channel_id, message_id)
    return make_event(
        stats,
        type=CommunityEventType.MESSAGE_CREATED,
        parent_id=parent_id,
        content=_content(item, attributes),
        **common,
    )


def _actor(author: Any) -> ActorIn | None:
    """The author as the guild showed them: nickname (else display name) and username."""
    if not isinstance(author, Mapping) or not _str(author.get("id")):
        return None
    return ActorIn(
        platform_user_id=author["id"],
        username=_str(author.get("name")),
        display_name=_str(author.get("nickname")),
        is_bot=author.get("isBot") is True,
    )


def _content(item: Mapping[str, Any], attributes: dict[str, Any]) -> Content:
    text = _str(item.get("content"))
    mentions = [m["id"] for m in _objects(item.get("mentions")) if _str(m.get("id"))]
    return Content(
        text=clip(text, MAX_TEXT, attributes, "text_truncated"),
        attachments=[_attachment(a) for a in _objects(item.get("attachments"))],
        mentions=list(dict.fromkeys(mentions)),
        links=list(dict.fromkeys(_URL.findall(text or ""))),
    )


def _attachment(item: Mapping[str, Any]) -> Attachment:
    size = item.get("fileSizeBytes")
    valid_size = isinstance(size, int) and not isinstance(size, bool) and size >= 0
    return Attachment(
        url=_str(item.get("url")),
        name=_str(item.get("fileName")),
        size_bytes=size if valid_size else None,
    )


def _reactions(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    found = []
    for reaction in raw:
        emoji = reaction.get("emoji") if isinstance(reaction, Mapping) else None
        if not isinstance(emoji, Mapping):
            continue
        summary: dict[str, Any] = {"emoji": emoji.get("name"), "count": reaction.get("count")}
        if _str(emoji.get("id")):
            summary["emoji_id"] = emoji["id"]
        found.append(summary)
    return found


def _time(raw: Any) -> datetime | None:
    """An ISO 8601 time (written with the exporter's offset) in UTC; naive ones taken as UTC."""
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _objects(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
