"""What the export parsers share: their stats, the sources they read and how they make events."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Literal, cast

from pydantic import ValidationError

from services.ingest.domain.incoming import EventIn

ImportFormat = Literal["telegram", "slack", "discord"]

Source = IO[bytes] | IO[str]
"""A file object open on an export, binary or text: the caller opens (and closes) it."""

MAX_TEXT = 100_000
MAX_TITLE = 1_000


@dataclass
class ParseStats:
    """What a parser made of an export: events produced, and source items skipped by reason."""

    parsed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str, count: int = 1) -> None:
        """Count `count` source items that yield no event, under a short, stable reason."""
        self.skipped[reason] += count

    @property
    def skipped_total(self) -> int:
        """Source items skipped, whatever the reason."""
        return sum(self.skipped.values())


def make_event(stats: ParseStats, **fields: Any) -> EventIn | None:
    """A backfilled EventIn, or None (counted as skipped) when the fields do not validate."""
    try:
        event = EventIn(backfilled=True, **fields)
    except ValidationError as exc:
        # The reason names the fields, never their values: those may be message text.
        where = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        stats.skip(f"invalid event: {where}")
        return None
    stats.parsed += 1
    return event


def clip(text: str | None, limit: int, attributes: dict[str, Any], flag: str) -> str | None:
    """Empty text as None; text over `limit` cut there, saying so in attributes[flag]."""
    if not text:
        return None
    if len(text) > limit:
        attributes[flag] = True
        return text[:limit]
    return text


@contextmanager
def open_text(source: Source) -> Iterator[IO[str]]:
    """The source as UTF-8 text; the caller's file object stays open."""
    if isinstance(source.read(0), str):
        yield cast(IO[str], source)
        return
    wrapper = io.TextIOWrapper(cast(IO[bytes], source), encoding="utf-8-sig")
    try:
        yield wrapper
    finally:
        if not source.closed:
            wrapper.detach()  # leave the caller's file open
