"""Calendar periods (day, ISO week, month) in a community's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Period(StrEnum):
    """A calendar period a cap or a leaderboard covers."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def bounds(period: Period, at: datetime, time_zone: str) -> tuple[datetime, datetime]:
    """The [start, end) of the period holding `at`, as UTC instants.

    Boundaries are local midnights, so a day across a DST change lasts 23 or 25 hours.
    """
    zone = ZoneInfo(time_zone)
    local = at.astimezone(zone)
    day = local.date()
    if period is Period.DAY:
        start, end = day, day + timedelta(days=1)
    elif period is Period.WEEK:
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    else:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    return _midnight(start, zone), _midnight(end, zone)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
