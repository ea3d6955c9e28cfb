"""What a cluster's members add up to: sentiment mix, trend, where it was said, core share.

Pure: it takes the cluster's visible members (moderation-removed ones already left out)
and returns counts. Near-identical repeats count once for the sentiment mix and the
trend (as for `size`); every message counts for platforms and channels; members count
once each for the core share.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from services.insights.domain.sentiment import Sentiment


class Direction(StrEnum):
    """How a cluster moved between the previous window and the current one."""

    NEW = "new"
    RISING = "rising"
    STEADY = "steady"
    FALLING = "falling"
    QUIET = "quiet"


class Member(Protocol):
    """The fields of a clustered message a summary reads."""

    @property
    def event_id(self) -> str: ...
    @property
    def member_id(self) -> str | None: ...
    @property
    def platform(self) -> str: ...
    @property
    def channel_id(self) -> str | None: ...
    @property
    def duplicate(self) -> bool: ...
    @property
    def sentiment(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...


@dataclass(frozen=True)
class Trend:
    """Distinct messages in the window ending at `as_of`, against the window before it."""

    window: timedelta
    current: int
    previous: int
    direction: Direction

    @property
    def change(self) -> float | None:
        """(current - previous) / previous; None when the previous window was empty."""
        return (self.current - self.previous) / self.previous if self.previous else None


@dataclass(frozen=True)
class Channel:
    """Messages of the cluster said on one platform's channel."""

    platform: str
    channel_id: str | None
    messages: int


@dataclass(frozen=True)
class Summary:
    """Everything the cluster list shows beside the label and the representatives."""

    sentiment: dict[Sentiment, int]
    trend: Trend
    channels: list[Channel]
    core_share: float | None


def trend(times: Sequence[datetime], *, as_of: datetime, window: timedelta) -> Trend:
    """Count `times` in (as_of - window, as_of] and in the window before that."""
    current = sum(1 for t in times if as_of - window < t <= as_of)
    previous = sum(1 for t in times if as_of - 2 * window < t <= as_of - window)
    if current and not previous:
        direction = Direction.NEW
    elif not current and not previous:
        direction = Direction.QUIET
    elif current > previous:
        direction = Direction.RISING
    elif current < previous:
        direction = Direction.FALLING
    else:
        direction = Direction.STEADY
    return Trend(window, current, previous, direction)


def summarise(
    members: Sequence[Member],
    *,
    as_of: datetime,
    window: timedelta,
    core: set[str] | None,
) -> Summary:
    """The summary of one cluster; `core` is None when the community's core is unknown."""
    counted = [m for m in members if not m.duplicate] or list(members)
    mix = Counter(Sentiment(m.sentiment) for m in counted)
    places = Counter((m.platform, m.channel_id) for m in members)
    channels = [
        Channel(platform, channel, n)
        for (platform, channel), n in sorted(
            places.items(), key=lambda item: (-item[1], item[0][0], item[0][1] or "")
        )
    ]
    voices = {m.member_id for m in members if m.member_id is not None}
    share = None
    if core is not None and voices:
        share = len(voices & core) / len(voices)
    return Summary(
        sentiment={s: mix[s] for s in Sentiment},
        trend=trend([m.occurred_at for m in counted], as_of=as_of, window=window),
        channels=channels,
        core_share=share,
    )
