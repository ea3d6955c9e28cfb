"""Which exporter wrote a file, told from its first bytes and top-level keys."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterator

from services.ingest.domain.imports.discord_export import parse_discord
from services.ingest.domain.imports.jsonstream import iter_object
from services.ingest.domain.imports.model import ImportFormat, ParseStats, Source
from services.ingest.domain.imports.slack_export import parse_slack
from services.ingest.domain.imports.telegram_export import parse_telegram
from services.ingest.schemas import EventIn

Parser = Callable[..., Iterator[EventIn]]

PARSERS: dict[ImportFormat, Parser] = {
    "telegram": parse_telegram,
    "slack": parse_slack,
    "discord": parse_discord,
}
"""Every export format, and the parser that reads it."""


def detect_format(path: str | os.PathLike[str]) -> ImportFormat:
    """telegram, slack or discord; a ValueError that says why when it is none of them.

    A zip is a Slack export. A JSON object with `messages` is a DiscordChatExporter
    export when it has `guild`, a Telegram chat export when it has `type` or `id`
    instead. Both exporters write their header before `messages`, so the keys read
    up to there usually decide; only an unusual file is read to its end.
    """
    if zipfile.is_zipfile(path):
        return "slack"
    keys: set[str] = set()
    try:
        with open(path, encoding="utf-8-sig") as text:
            for key, value in iter_object(text, stream_key="messages"):
                keys.add(key)
                if key == "messages" and (found := _decide(keys)) is not None:
                    return found
                del value
    except UnicodeDecodeError:
        raise ValueError(f"{os.fspath(path)}: not a zip and not UTF-8 JSON") from None
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)}: not a chat export ({exc})") from None
    if "messages" in keys and (found := _decide(keys)) is not None:
        return found
    if "chats" in keys:
        raise ValueError(
            f"{os.fspath(path)}: a whole-account Telegram export; export one chat instead "
            "(chat menu -> Export chat history -> JSON)"
        )
    raise ValueError(
        f"{os.fspath(path)}: not a Telegram (result.json), Slack (zip) or "
        "DiscordChatExporter (JSON) export"
    )


def _decide(keys: set[str]) -> ImportFormat | None:
    if "guild" in keys:
        return "discord"
    if "type" in keys or "id" in keys:
        return "telegram"
    return None


def parse_export(
    source: Source, fmt: ImportFormat, *, community_id: str, stats: ParseStats | None = None
) -> Iterator[EventIn]:
    """The backfilled events of an export in a known format."""
    return PARSERS[fmt](source, community_id=community_id, stats=stats)
