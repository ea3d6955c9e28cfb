"""Leaderboards as values: which boards a ledger line counts on, and dense ranks.

A board is a community (or one of its channels) over one period bucket: all time, a
calendar year, month, ISO week or day in the community's time zone. A line counts on
every period's current bucket at the instant it was earned, community-wide and in its
channel, so a line moves at most ten boards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

WHOLE_COMMUNITY = ""
"""The channel id of a community-wide board."""

BLOCK = 512
"""Points per score block: a rank counts the blocks above a score, then its own block."""


def block_of(points: int) -> int:
    """The block a positive score falls in."""
    return points // BLOCK


class Period(StrEnum):
    """What a board counts: every point, or those of one calendar period."""

    ALL_TIME = "all_time"
    YEAR = "year"
    MONTH = "month"
    WEEK = "week"
    DAY = "day"


@dataclass(frozen=True, order=True)
class Board:
    """One leaderboard: a community or channel over a period bucket."""

    tenant_id: str
    community_id: str
    channel_id: str
    period: Period
    bucket: str


def bucket(period: Period, at: datetime, time_zone: str) -> str:
    """The bucket of `period` holding the instant `at`, named in local calendar terms.

    `all`, `2026`, `2026-11`, `2026-W45` (ISO week, from Monday), `2026-11-02`; local
    midnight in `time_zone` is the boundary, so a DST day is 23 or 25 hours long.
    """
    if period is Period.ALL_TIME:
        return "all"
    local = at.astimezone(ZoneInfo(time_zone))
    if period is Period.YEAR:
        return f"{local.year:04d}"
    if period is Period.MONTH:
        return f"{local.year:04d}-{local.month:02d}"
    if period is Period.WEEK:
        year, week, _ = local.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return local.date().isoformat()


def _buckets(at: datetime, time_zone: str) -> tuple[tuple[Period, str], ...]:
    """Every period's bucket of `at`, from one conversion to local time."""
    local = at.astimezone(_zone(time_zone))
    year, week, _ = local.isocalendar()
    return (
        (Period.ALL_TIME, "all"),
        (Period.YEAR, f"{local.year:04d}"),
        (Period.MONTH, f"{local.year:04d}-{local.month:02d}"),
        (Period.WEEK, f"{year:04d}-W{week:02d}"),
        (Period.DAY, local.date().isoformat()),
    )


@lru_cache(maxsize=256)
def _zone(time_zone: str) -> ZoneInfo:
    return ZoneInfo(time_zone)


def boards_of(
    tenant_id: str, community_id: str, channel_id: str | None, at: datetime, time_zone: str
) -> list[Board]:
    """Every board a line earned at `at` in this channel counts on."""
    channels = [WHOLE_COMMUNITY] + ([channel_id] if channel_id else [])
    return [
        Board(tenant_id, community_id, channel, period, name)
        for period, name in _buckets(at, time_zone)
        for channel in channels
    ]


@dataclass(frozen=True)
class Line:
    """What a leaderboard needs of a ledger line."""

    tenant_id: str
    community_id: str
    channel_id: str | None
    member_id: str
    points: int
    earned_at: datetime
    time_zone: str
    """The time zone of the community's ruleset in force when the line was earned."""


def deltas(lines: Iterable[Line]) -> dict[tuple[Board, str], int]:
    """(board, member) → the points these lines add there (zeros left out)."""
    found: dict[tuple[Board, str], int] = defaultdict(int)
    for line in lines:
        if not line.points:
            continue
        for board in boards_of(
            line.tenant_id, line.community_id, line.channel_id, line.earned_at, line.time_zone
        ):
            found[(board, line.member_id)] += line.points
    return dict(found)


def score_changes(moves: Iterable[tuple[Board, int, int]]) -> dict[tuple[Board, int], int]:
    """(board, score) → change in how many members hold it, for (board, before, after) moves.

    Only positive scores are counted: a board lists members with more than 0 points.
    """
    found: dict[tuple[Board, int], int] = defaultdict(int)
    for board, before, after in moves:
        if before == after:
            continue
        if before > 0:
            found[(board, before)] -= 1
        if after > 0:
            found[(board, after)] += 1
    return {key: change for key, change in found.items() if change}


def block_changes(
    counts: Iterable[tuple[Board, int, int, int]],
) -> dict[tuple[Board, int], int]:
    """(board, block) → change in its distinct scores, for (board, score, before, after)
    counts of the members holding a score: a score appears at 0 → n, goes at n → 0."""
    found: dict[tuple[Board, int], int] = defaultdict(int)
    for board, points, before, after in counts:
        if before <= 0 < after:
            found[(board, block_of(points))] += 1
        elif after <= 0 < before:
            found[(board, block_of(points))] -= 1
    return {key: change for key, change in found.items() if change}


def dense_ranks(points: Sequence[int], first_rank: int) -> list[int]:
    """Dense ranks of scores in descending order, the first of which has `first_rank`."""
    ranks: list[int] = []
    rank, previous = first_rank, None
    for value in points:
        if previous is not None and value != previous:
            rank += 1
        ranks.append(rank)
        previous = value
    return ranks
