"""A community's retrospective over a period: activity, retention, questions, churn risk.

Pure: it takes member-days (who was active on which UTC day, with how many events and
messages), when each member was first seen, and the questions asked, and returns the
figures. The service adds what other tables know (moderation, core changes, polls,
clusters) and renders it (retrospective_render.py).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

CHURN_WINDOW = timedelta(days=28)
CHURN_DROP = 0.25
"""A member at churn risk did fewer than this share of the events they did the window before."""
CHURN_MIN_BEFORE = 5
COHORT_WEEKS = 8


@dataclass(frozen=True)
class MemberDay:
    """One member active on one UTC day."""

    member: str
    day: date
    events: int
    messages: int


@dataclass(frozen=True)
class Question:
    """A question and when someone else first answered it."""

    asked_at: datetime
    answered_at: datetime | None


@dataclass
class Activity:
    """What the period's member-days add up to."""

    start: date
    end: date
    """Exclusive."""
    daily_active: list[tuple[date, int]]
    dau: float
    """Mean daily active members over the period."""
    wau: int
    """Distinct members active in the period's last 7 days."""
    mau: int
    """Distinct members active in the period."""
    stickiness: float | None
    """DAU / MAU."""
    new: int
    returning: int
    churned: int
    cohorts: list[dict[str, Any]] = field(default_factory=list)
    top_contributors: list[dict[str, Any]] = field(default_factory=list)
    churn_risk: list[dict[str, Any]] = field(default_factory=list)
    questions: dict[str, Any] = field(default_factory=dict)


def month_bounds(month: str) -> tuple[date, date]:
    """`2026-11` -> (2026-11-01, 2026-12-01); raises ValueError for anything else."""
    year, number = (int(part) for part in month.split("-", 1))
    start = date(year, number, 1)
    end = date(year + (number == 12), number % 12 + 1, 1)
    return start, end


def summarise_activity(
    days: Iterable[MemberDay],
    first_seen: dict[str, date],
    questions: Sequence[Question],
    *,
    start: date,
    end: date,
    top: int = 10,
) -> Activity:
    """The period's activity figures; `days` may reach back before `start` (churn, cohorts)."""
    length = (end - start).days
    previous_start = start - timedelta(days=length)
    by_day: dict[date, set[str]] = defaultdict(set)
    events_in: dict[str, int] = defaultdict(int)
    messages_in: dict[str, int] = defaultdict(int)
    active_days: dict[str, int] = defaultdict(int)
    before: set[str] = set()
    everything = list(days)
    for d in everything:
        by_day[d.day].add(d.member)
        if start <= d.day < end:
            events_in[d.member] += d.events
            messages_in[d.member] += d.messages
            active_days[d.member] += 1
        elif previous_start <= d.day < start:
            before.add(d.member)
    period_days = [start + timedelta(days=n) for n in range(length)]
    daily = [(day, len(by_day.get(day, ()))) for day in period_days]
    active = set(events_in)
    last_week = set().union(*(by_day.get(day, set()) for day in period_days[-7:]))
    dau = sum(n for _, n in daily) / length if length else 0.0
    new = {m for m in active if start <= first_seen.get(m, start) < end}
    return Activity(
        start=start,
        end=end,
        daily_active=daily,
        dau=dau,
        wau=len(last_week),
        mau=len(active),
        stickiness=dau / len(active) if active else None,
        new=len(new),
        returning=len(active & before),
        churned=len(before - active),
        cohorts=_cohorts(by_day, first_seen, end),
        top_contributors=[
            {
                "member": m,
                "messages": messages_in[m],
                "events": events_in[m],
                "days": active_days[m],
            }
            for m in sorted(active, key=lambda m: (-messages_in[m], -events_in[m], m))[:top]
        ],
        churn_risk=_churn_risk(everything, end),
        questions=_questions(questions),
    )


def _cohorts(
    by_day: dict[date, set[str]], first_seen: dict[str, date], end: date
) -> list[dict[str, Any]]:
    """Weekly cohorts (by first seen) of the last COHORT_WEEKS weeks: share active per week."""
    last_monday = end - timedelta(days=end.weekday() or 7)
    weeks = [last_monday - timedelta(weeks=n) for n in range(COHORT_WEEKS - 1, -1, -1)]
    active_by_week: dict[date, set[str]] = defaultdict(set)
    for day, members in by_day.items():
        active_by_week[day - timedelta(days=day.weekday())] |= members
    cohorts = []
    for week in weeks:
        members = {m for m, seen in first_seen.items() if week <= seen < week + timedelta(days=7)}
        if not members:
            continue
        later = [w for w in weeks if w >= week and w < end]
        cohorts.append(
            {
                "week": week.isoformat(),
                "members": len(members),
                "retention": [
                    round(len(members & active_by_week.get(w, set())) / len(members), 4)
                    for w in later
                ],
            }
        )
    return cohorts


def _churn_risk(days: Sequence[MemberDay], end: date) -> list[dict[str, Any]]:
    """Members whose events in the last 28 days fell below a quarter of the 28 days before."""
    recent_start = end - CHURN_WINDOW
    earlier_start = recent_start - CHURN_WINDOW
    recent: dict[str, int] = defaultdict(int)
    earlier: dict[str, int] = defaultdict(int)
    last_seen: dict[str, date] = {}
    for d in days:
        if d.day >= end:
            continue
        last_seen[d.member] = max(last_seen.get(d.member, d.day), d.day)
        if d.day >= recent_start:
            recent[d.member] += d.events
        elif d.day >= earlier_start:
            earlier[d.member] += d.events
    risky = [
        m for m, n in earlier.items() if n >= CHURN_MIN_BEFORE and recent.get(m, 0) < CHURN_DROP * n
    ]
    risky.sort(key=lambda m: (recent.get(m, 0) / earlier[m], -earlier[m], m))
    return [
        {
            "member": m,
            "events_before": earlier[m],
            "events_recent": recent.get(m, 0),
            "last_seen": last_seen[m].isoformat(),
        }
        for m in risky[:50]
    ]


def _questions(questions: Sequence[Question]) -> dict[str, Any]:
    waits = [
        (q.answered_at - q.asked_at).total_seconds()
        for q in questions
        if q.answered_at is not None and q.answered_at >= q.asked_at
    ]
    return {
        "asked": len(questions),
        "answered": len(waits),
        "median_first_response_seconds": statistics.median(waits) if waits else None,
    }
