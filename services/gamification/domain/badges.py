"""Badges: which of a ruleset's badges a member holds, and what changes when that moves.

Pure: the service reads a member's standing (totals, points per rule, the activities
in the span a badge looks at) and the badges they hold; `held` says which tiers they
qualify for now and `changes` what to award or withdraw under the badge's revoke policy.
Untiered badges have the tier "".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.gamification.domain import streaks
from services.gamification.domain.periods import Period, bounds
from services.gamification.domain.rules import Badge


@dataclass(frozen=True)
class Earning:
    """What one activity nets a member under one rule (revoked activities net 0)."""

    rule_id: str
    earned_at: datetime
    points: int


@dataclass(frozen=True)
class Standing:
    """A member's points, per rule, and the earnings in the span the badges look at."""

    total: int
    by_rule: Mapping[str, int]
    earnings: Sequence[Earning] = ()


@dataclass(frozen=True)
class Change:
    """A tier of a badge awarded (or withdrawn, when `awarded` is false)."""

    badge_id: str
    tier: str
    awarded: bool


def _counts(badge: Badge, rule_id: str) -> bool:
    return badge.rules is None or rule_id in badge.rules


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def last_period(badge: Badge, now: datetime, time_zone: str) -> tuple[str, datetime, datetime]:
    """A ranked badge's last closed period before `now`: (its label, start, end).

    Labels are local: `2026-11-02` (day), `2026-W45` (ISO week), `2026-11` (month).
    """
    assert badge.per is not None
    period = {"day": Period.DAY, "week": Period.WEEK, "month": Period.MONTH}[badge.per]
    current, _ = bounds(period, now, time_zone)
    start, end = bounds(period, current - timedelta(microseconds=1), time_zone)
    local = start.astimezone(ZoneInfo(time_zone)).date()
    if period is Period.DAY:
        label = local.isoformat()
    elif period is Period.WEEK:
        year, week, _ = local.isocalendar()
        label = f"{year}-W{week:02d}"
    else:
        label = f"{local.year}-{local.month:02d}"
    return label, start, end


def ranked_winners(badge: Badge, best: Sequence[tuple[str, int]]) -> list[str]:
    """The top `top` members of a period by points (ties at the cut all win; 0 never does)."""
    assert badge.top is not None
    positive = [(member, points) for member, points in best if points > 0]
    if len(positive) <= badge.top:
        return [member for member, _ in positive]
    cut = positive[badge.top - 1][1]
    return [member for member, points in positive if points >= cut]


def window(badge: Badge, around: Sequence[datetime]) -> tuple[datetime, datetime] | None:
    """The earnings a badge must see to be judged after changes at `around`.

    None when the changes cannot affect it (a time-bounded badge's window holds none
    of them) or it needs no single earnings (first-time and threshold badges).
    """
    if not around:
        return None
    if badge.kind == "streak":
        assert badge.per in ("day", "week") and badge.length is not None
        reach = streaks.span(badge.per, badge.length, badge.grace)
        return min(around) - reach, max(around) + reach
    if badge.kind == "time_bounded":
        assert badge.starts is not None and badge.ends is not None
        starts, ends = _utc(badge.starts), _utc(badge.ends)
        if any(starts <= at < ends for at in around):
            return starts, ends
    return None


def held(badge: Badge, standing: Standing, time_zone: str) -> set[str]:
    """The tiers of `badge` the member qualifies for now."""
    if badge.kind == "first":
        earned = sum(p for rule, p in standing.by_rule.items() if _counts(badge, rule))
        return {""} if earned > 0 else set()
    if badge.kind == "threshold":
        if badge.rules is None:
            points = standing.total
        else:
            points = sum(p for rule, p in standing.by_rule.items() if _counts(badge, rule))
        if badge.tiers is not None:
            return {tier for tier, needed in badge.tiers.levels() if points >= needed}
        assert badge.points is not None
        return {""} if points >= badge.points else set()
    earnings = [e for e in standing.earnings if e.points > 0 and _counts(badge, e.rule_id)]
    if badge.kind == "streak":
        assert badge.per in ("day", "week") and badge.length is not None
        periods = [streaks.period_index(e.earned_at, badge.per, time_zone) for e in earnings]
        return {""} if streaks.longest(periods, badge.grace) >= badge.length else set()
    assert badge.starts is not None and badge.ends is not None
    starts, ends = _utc(badge.starts), _utc(badge.ends)
    points = sum(e.points for e in earnings if starts <= e.earned_at < ends)
    return {""} if points >= (badge.points or 1) else set()


def tiers_of(badge: Badge) -> list[str]:
    """Every tier the badge has, lowest first."""
    if badge.kind == "threshold" and badge.tiers is not None:
        return [tier for tier, _ in badge.tiers.levels()]
    return [""]


def changes(badge: Badge, now: set[str], stored: Mapping[str, bool]) -> list[Change]:
    """What to award (held now, not held before) and withdraw (under `recheck` only)."""
    found = []
    for tier in tiers_of(badge):
        was, is_ = stored.get(tier, False), tier in now
        if is_ and not was:
            found.append(Change(badge.id, tier, awarded=True))
        elif was and not is_ and badge.revoke == "recheck":
            found.append(Change(badge.id, tier, awarded=False))
    return found
