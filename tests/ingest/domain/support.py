"""What the normalizer tests share: payloads on disk, a binding, and checks on results."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.ingest.domain.model import BindingContext, Normalized
from shared.events.community import CommunityEvent, Platform

PLATFORM_PAYLOADS = (
    Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "platform-payloads"
)
"""Real captures from ../shared/fixtures, never copied into the project."""
OUR_PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"
"""Payloads we wrote from each platform's documentation."""

RECEIVED = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

Payload = dict[str, Any]
Loader = Callable[[str], Payload]


def payloads(platform: Platform) -> tuple[Loader, Loader]:
    """Loaders, by file name, of the platform's real captures and of our own payloads."""
    return (
        lambda name: _load(PLATFORM_PAYLOADS / platform.value / name),
        lambda name: _load(OUR_PAYLOADS / platform.value / name),
    )


def binding(platform: Platform, external_id: str) -> BindingContext:
    """The binding of community-1 (tenant-1) to `external_id` on the platform."""
    return BindingContext(
        tenant_id="tenant-1",
        community_id="community-1",
        binding_id="binding-1",
        platform=platform,
        external_id=external_id,
    )


def the_event(result: Normalized) -> CommunityEvent:
    """The one event a payload became; it must not be ignored or answered."""
    assert result.ignored is None
    assert result.reply is None
    (event,) = result.events
    return event


def ignored(result: Normalized) -> str:
    """Why a payload became no event; it must have become none."""
    assert result.events == ()
    assert result.ignored is not None
    return result.ignored


def without(payload: Payload, *path: str) -> Payload:
    """A copy of the payload with the key at `path` removed."""
    trimmed = copy.deepcopy(payload)
    target = trimmed
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return trimmed


def at(unix: float) -> datetime:
    """A unix time as an aware UTC datetime."""
    return datetime.fromtimestamp(unix, UTC)


def utc(text: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def _load(path: Path) -> Payload:
    payload: Payload = json.loads(path.read_text(encoding="utf-8"))
    return payload
