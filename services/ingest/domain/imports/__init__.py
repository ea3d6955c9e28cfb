"""Chat-history exports (Telegram Desktop, Slack, DiscordChatExporter) -> backfilled EventIn.

Pure parsers: they read the file object they are given (never open one), stream where
the format allows, and yield `EventIn` with backfilled=True and a dedup_key that is the
same every time the same export is read. The I/O edge is services/ingest/importer.py.
"""

from services.ingest.domain.imports.detect import PARSERS, detect_format, parse_export
from services.ingest.domain.imports.discord_export import parse_discord
from services.ingest.domain.imports.model import ImportFormat, ParseStats, Source
from services.ingest.domain.imports.slack_export import parse_slack
from services.ingest.domain.imports.telegram_export import parse_telegram

__all__ = [
    "PARSERS",
    "ImportFormat",
    "ParseStats",
    "Source",
    "detect_format",
    "parse_discord",
    "parse_export",
    "parse_slack",
    "parse_telegram",
]
