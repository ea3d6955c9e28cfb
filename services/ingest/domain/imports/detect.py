"""Which exporter wrote a file, told from its first bytes and top-level keys."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Generator, Iterator
from typing import IO

from services.ingest.domain.imports.discord_export import parse_discord
from services.ingest.domain.imports.jsonstream import iter_object
from services.ingest.domain.imports.model import ImportFormat, ParseStats, Source, open_text
from services.ingest.domain.imports.slack_export import parse_slack
from services.ingest.domain.imports.telegram_export import parse_telegram
from services.ingest.domain.incoming import EventIn

Parser = Callable[..., Iterator[EventIn]]

PARSERS: dict[ImportFormat, Parser] = {
    "telegram": parse_telegram,
    "slack": parse_slack,
    "discord": parse_discord,
}
"""Every export format, and the parser that reads it."""


def detect_format(file: IO[bytes]) -> ImportFormat:
    """telegram, slack or discord; a ValueError that says why when it is none of them.

    `file` is open in binary mode and seekable; it is left open, at its start.

    A zip is a Slack export. A JSON object with `messages` is a DiscordChatExporter
    export when it has `guild`, a Telegram chat export when it has `type` or `id`
    instead. Both exporters write their header before `messages`, so the keys read
    up to there usually decide; only an unusual file is read to its end.
    """
    try:
        return _detect(file)
    finally:
        file.seek(0)


def _detect(file: IO[bytes]) -> ImportFormat:
    if zipfile.is_zipfile(file):
        return "slack"
    file.seek(0)
    keys: set[str] = set()
    try:
        with open_text(file) as text:
            for key, value in iter_object(text, stream_key="messages"):
                keys.add(key)
                if key == "messages" and (found := _decide(keys)) is not None:
                    return found
                del value
    except UnicodeDecodeError:
        raise ValueError("not a zip and not UTF-8 JSON") from None
    except ValueError as exc:
        raise ValueError(f"not a chat export ({exc})") from None
    if "messages" in keys and (found := _decide(keys)) is not None:
        return found
    if "chats" in keys:
        raise ValueError(
            "a whole-account Telegram export; export one chat instead "
            "(chat menu -> Export chat history -> JSON)"
        )
    raise ValueError(
        "not a Telegram (result.json), Slack (zip) or DiscordChatExporter (JSON) export"
    )


def _decide(keys: set[str]) -> ImportFormat | None:
    if "guild" in keys:
        return "discord"
    if "type" in keys or "id" in keys:
        return "telegram"
    return None


def parse_export(
    source: Source, fmt: ImportFormat, *, community_id: str, stats: ParseStats | None = None
) -> Generator[EventIn]:
    """The backfilled events of an export in a known format; close() stops the parser."""
    yield from PARSERS[fmt](source, community_id=community_id, stats=stats)
