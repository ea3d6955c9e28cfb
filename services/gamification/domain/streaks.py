"""Streaks: runs of consecutive local days or ISO weeks with activity, with a grace.

A period is a calendar day (local midnight to local midnight, so a DST day lasts 23 or
25 hours) or an ISO week (from Monday) in the community's time zone. `grace` missed
periods in a row do not break a streak (they do not count towards it either).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Per = Literal["day", "week"]


def period_index(at: datetime, per: Per, time_zone: str) -> int:
    """A number per local day (or week): consecutive periods have consecutive numbers."""
    day = at.astimezone(ZoneInfo(time_zone)).date()
    if per == "day":
        return day.toordinal()
    # Day 1 of the proleptic calendar (1 January of year 1) is a Monday.
    return (day.toordinal() - 1) // 7


def period_start(index: int, per: Per) -> date:
    """The local date a period starts on (the inverse of `period_index`)."""
    return date.fromordinal(index if per == "day" else index * 7 + 1)


def runs(periods: Iterable[int], grace: int) -> list[tuple[int, int, int]]:
    """(first period, last period, active periods) of each streak, oldest first."""
    found: list[tuple[int, int, int]] = []
    for index in sorted(set(periods)):
        if found and index - found[-1][1] - 1 <= grace:
            first, _, count = found[-1]
            found[-1] = (first, index, count + 1)
        else:
            found.append((index, index, 1))
    return found


def longest(periods: Iterable[int], grace: int) -> int:
    """The most active periods in one streak (0 without activity)."""
    return max((count for _, _, count in runs(periods, grace)), default=0)


def current(periods: Iterable[int], grace: int, now: int) -> int:
    """The active periods of the streak still alive at period `now` (0 if it broke)."""
    found = runs(periods, grace)
    if not found or now - found[-1][1] - 1 > grace:
        return 0
    return found[-1][2]


def span(per: Per, length: int, grace: int) -> timedelta:
    """How far back (and ahead) of an activity a streak through it can reach."""
    periods = length + (length - 1) * grace + 1
    return timedelta(days=periods * (1 if per == "day" else 7))
