"""Slack's workspace export (a zip) -> backfilled events.

The zip holds users.json, channels.json (public channels), groups.json (private
channels, in exports that include them), dms.json / mpims.json (direct messages)
and one folder per conversation, named after the channel, with one
`YYYY-MM-DD.json` per day: a list of messages as the Web API returns them.

| message                                                   | event                     |
|-----------------------------------------------------------|---------------------------|
| no subtype, thread_broadcast, bot_message, file_share, me_message | message.created   |
| channel_join / group_join                                 | member.joined             |
| channel_leave / group_leave                               | member.left               |
| any other subtype (topic, purpose, pins, renames, ...)    | skipped with the reason   |
| in a direct-message folder (dms.json, mpims.json)         | skipped: not community activity |

Conventions match the live Slack connector: workspace_id is the team id,
attributes["message_id"] the message's `ts`; a thread reply (thread_ts != ts) gets
thread_id = parent_id = thread_ts, a thread's root only thread_id. The folder name
maps to the channel id through channels.json / groups.json. A message's `ts` is
unique within its channel: a message's dedup_key is `slack:message:{channel id}:{ts}`,
the key the live connector gives the same message (domain/dedup.py), so an export that
overlaps webhooks counts once; joins and leaves keep `import:slack:{channel id}:{ts}`.
Members come from users.json (username, display name, is_bot); a bot_message's
actor is its bot_id and always a bot.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.ingest.domain.dedup import message_key
from services.ingest.domain.imports.model import MAX_TEXT, ParseStats, Source, clip, make_event
from services.ingest.domain.incoming import ActorIn, EventIn
from shared.events.community import Attachment, CommunityEventType, Content, Platform

_MESSAGE_SUBTYPES = frozenset({None, "thread_broadcast", "bot_message", "file_share", "me_message"})
_JOINED = frozenset({"channel_join", "group_join"})
_LEFT = frozenset({"channel_leave", "group_leave"})
_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
# Slack's mrkdwn: <@U123> or <@U123|name> for users, <https://x|label> or <https://x> for links.
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<(https?://[^|>\s]+)(?:\|[^>]*)?>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
_SLACKBOT = "USLACKBOT"


def parse_slack(
    source: Source, *, community_id: str, stats: ParseStats | None = None
) -> Iterator[EventIn]:
    """Backfilled events of a Slack export zip: channel by channel, day by day."""
    stats = stats if stats is not None else ParseStats()
    try:
        archive = zipfile.ZipFile(source)  # type: ignore[arg-type]
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a Slack export: {exc}") from None
    with archive:
        root = _root(archive)
        users = _list(archive, root, "users.json")
        team_id = _team(users)
        actors = {u["id"]: _user_actor(u) for u in users if isinstance(u.get("id"), str)}
        channels = {
            c["name"]: c["id"]
            for listing in ("channels.json", "groups.json")
            for c in _list(archive, root, listing)
            if isinstance(c.get("name"), str) and isinstance(c.get("id"), str)
        }
        direct = {
            str(c.get("name") or c.get("id"))
            for listing in ("dms.json", "mpims.json")
            for c in _list(archive, root, listing)
        }
        days = _day_files(archive, root)
        known = [name for name in channels if name in days]
        for folder in [*known, *sorted(set(days) - set(known))]:
            channel_id = channels.get(folder)
            for name in days[folder]:
                try:
                    messages = _read_json(archive, name)
                except ValueError:
                    messages = None
                if not isinstance(messages, list):
                    stats.skip("malformed: a day file is not a JSON list of messages")
                    continue
                if channel_id is None:
                    reason = (
                        "direct messages are not community activity"
                        if folder in direct
                        else "folder not in channels.json or groups.json"
                    )
                    stats.skip(reason, len(messages))
                    continue
                where = _Where(community_id, team_id, channel_id, actors)
                for message in messages:
                    event = _message(message, where, stats)
                    if event is not None:
                        yield event


@dataclass(frozen=True)
class _Where:
    """One channel of the export, and the members users.json describes."""

    community_id: str
    team_id: str | None
    channel_id: str
    actors: Mapping[str, ActorIn]


def _message(message: Any, where: _Where, stats: ParseStats) -> EventIn | None:
    if not isinstance(message, Mapping):
        stats.skip("malformed: a message is not an object")
        return None
    ts = message.get("ts")
    occurred_at = _ts(ts)
    if not isinstance(ts, str) or occurred_at is None:
        stats.skip("malformed: a message has no valid ts")
        return None
    if message.get("type", "message") != "message":
        stats.skip(f"item type {message.get('type')}")
        return None
    subtype = message.get("subtype")
    attributes: dict[str, Any] = {"message_id": ts, "ts": ts}
    if subtype is not None:
        attributes["subtype"] = subtype
    actor = _author(message, where)
    if actor is None:
        stats.skip("message without user or bot_id")
        return None
    common: dict[str, Any] = {
        "community_id": where.community_id,
        "platform": Platform.SLACK,
        "occurred_at": occurred_at,
        "workspace_id": where.team_id,
        "channel_id": where.channel_id,
        "source_event_id": ts,
        "dedup_key": f"import:slack:{where.channel_id}:{ts}",
        "actor": actor,
        "attributes": attributes,
    }
    if subtype in _JOINED or subtype in _LEFT:
        if isinstance(message.get("inviter"), str):
            attributes["inviter"] = message["inviter"]
        joined = subtype in _JOINED
        event_type = CommunityEventType.MEMBER_JOINED if joined else CommunityEventType.MEMBER_LEFT
        return make_event(stats, type=event_type, **common)
    if subtype not in _MESSAGE_SUBTYPES:
        stats.skip(f"message subtype {subtype}")
        return None
    thread_id, parent_id = _thread(message)
    edited = message.get("edited")
    if isinstance(edited, Mapping) and (edited_at := _ts(edited.get("ts"))) is not None:
        attributes["edited_at"] = edited_at.isoformat()
    if reactions := _reactions(message.get("reactions")):
        attributes["reactions"] = reactions
    if isinstance(message.get("bot_id"), str):
        attributes["bot_id"] = message["bot_id"]
    common["dedup_key"] = message_key(Platform.SLACK, where.channel_id, ts)
    return make_event(
        stats,
        type=CommunityEventType.MESSAGE_CREATED,
        thread_id=thread_id,
        parent_id=parent_id,
        content=_content(message, attributes),
        **common,
    )


def _author(message: Mapping[str, Any], where: _Where) -> ActorIn | None:
    """users.json's view of the author; a bot_message (which may have no user) is its bot."""
    bot_id = message.get("bot_id") if isinstance(message.get("bot_id"), str) else None
    user_id = message.get("user") if isinstance(message.get("user"), str) else None
    is_bot_message = message.get("subtype") == "bot_message"
    platform_user_id = (bot_id or user_id) if is_bot_message else (user_id or bot_id)
    if not platform_user_id:
        return None
    known = where.actors.get(platform_user_id)
    if known is None:
        profile = message.get("user_profile")
        profile = profile if isinstance(profile, Mapping) else {}
        known = ActorIn(
            platform_user_id=platform_user_id,
            username=_str(message.get("username")) or _str(profile.get("name")),
            display_name=_str(profile.get("display_name")) or _str(profile.get("real_name")),
        )
    if is_bot_message or (bot_id is not None and user_id is None):
        return known.model_copy(update={"is_bot": True})
    return known


def _user_actor(user: Mapping[str, Any]) -> ActorIn:
    profile = user.get("profile")
    profile = profile if isinstance(profile, Mapping) else {}
    return ActorIn(
        platform_user_id=user["id"],
        username=_str(user.get("name")),
        display_name=_str(profile.get("display_name"))
        or _str(profile.get("real_name"))
        or _str(user.get("real_name")),
        is_bot=user.get("is_bot") is True or user["id"] == _SLACKBOT,
    )


def _team(users: list[Mapping[str, Any]]) -> str | None:
    """The workspace's team id: the one most of users.json belongs to (guests may differ)."""
    teams = Counter(u["team_id"] for u in users if isinstance(u.get("team_id"), str))
    return teams.most_common(1)[0][0] if teams else None


def _thread(message: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(thread_id, parent_id): a reply points at its thread's root, a root only names it."""
    thread_ts = _str(message.get("thread_ts"))
    if thread_ts is None:
        return None, None
    if thread_ts == message.get("ts"):
        return thread_ts, None
    return thread_ts, thread_ts


def _content(message: Mapping[str, Any], attributes: dict[str, Any]) -> Content:
    text = _str(message.get("text")) or ""
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    files = message.get("files")
    return Content(
        text=clip(text, MAX_TEXT, attributes, "text_truncated"),
        mentions=list(dict.fromkeys(_MENTION.findall(text))),
        links=list(dict.fromkeys(_LINK.findall(text))),
        attachments=[_attachment(f) for f in files if isinstance(f, Mapping)]
        if isinstance(files, list)
        else [],
    )


def _attachment(file: Mapping[str, Any]) -> Attachment:
    size = file.get("size")
    return Attachment(
        url=_str(file.get("url_private")) or _str(file.get("permalink")),
        content_type=_str(file.get("mimetype")),
        name=_str(file.get("name")),
        size_bytes=size if isinstance(size, int) and size >= 0 else None,
    )


def _reactions(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    return [
        {"name": r["name"], "count": r.get("count")}
        for r in raw
        if isinstance(r, Mapping) and isinstance(r.get("name"), str)
    ]


def _ts(raw: Any) -> datetime | None:
    """A Slack ts ("1717243200.000100") as an exact UTC time, or None."""
    if not isinstance(raw, str):
        return None
    seconds, _, fraction = raw.partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()):
        return None
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=micros)


def _root(archive: zipfile.ZipFile) -> str:
    """The folder inside the zip that holds the export (re-zipped exports add one)."""
    listings = [
        name
        for name in archive.namelist()
        if name.rsplit("/", 1)[-1] in ("channels.json", "users.json")
    ]
    if not listings:
        raise ValueError("not a Slack export: the zip has no channels.json or users.json")
    shortest = min(listings, key=lambda name: name.count("/"))
    return shortest.rsplit("/", 1)[0] + "/" if "/" in shortest else ""


def _day_files(archive: zipfile.ZipFile, root: str) -> dict[str, list[str]]:
    """Day files by conversation folder, each folder's days in date order."""
    days: dict[str, list[str]] = {}
    for name in archive.namelist():
        if not name.startswith(root):
            continue
        parts = name[len(root) :].split("/")
        if len(parts) == 2 and _DAY_FILE.match(parts[1]):
            days.setdefault(parts[0], []).append(name)
    return {folder: sorted(names) for folder, names in days.items()}


def _list(archive: zipfile.ZipFile, root: str, name: str) -> list[Mapping[str, Any]]:
    if root + name not in archive.namelist():
        return []
    found = _read_json(archive, root + name)
    if not isinstance(found, list):
        raise ValueError(f"Slack export: {name} is not a list")
    return [item for item in found if isinstance(item, Mapping)]


def _read_json(archive: zipfile.ZipFile, name: str) -> Any:
    try:
        return json.loads(archive.read(name).decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"Slack export: {name} is not valid JSON: {exc}") from None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
