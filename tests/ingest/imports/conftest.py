"""Where our sample exports live, and helpers the import tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.ingest.schemas import EventIn

SAMPLES = Path(__file__).resolve().parents[1] / "payloads" / "imports"
COMMUNITY = "community-1"


def dumped(events: list[EventIn]) -> list[dict[str, Any]]:
    """Events as the importer sends them, to compare two parses field by field."""
    return [event.model_dump(mode="json") for event in events]
