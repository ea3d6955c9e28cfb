"""HTTP routes of the gamification service, under /v1/gamification/."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from services.gamification.domain import levels
from services.gamification.domain.periods import Period, bounds
from services.gamification.domain.rules import (
    MAX_YAML_BYTES,
    InvalidRuleset,
    RulesetProblem,
    parse_ruleset,
)
from services.gamification.handlers import ruleset_at
from services.gamification.uow import GamificationUoW, TransactionDep
from shared.api.auth import Caller, require_community, require_scopes
from shared.api.pagination import CursorDep, LimitDep, cursor_int, cursor_str, encode_cursor
from shared.api.problems import PROBLEM_RESPONSES, Conflict, NotFound, PayloadTooLarge, Problem

router = APIRouter(prefix="/v1/gamification", tags=["gamification"])

# Standings and leaderboards are read with gamification:read; a community's ruleset,
# which changes what it rewards, is set with gamification:write (shared.api.auth.SCOPES).
ReadDep = Annotated[Caller, Depends(require_scopes("gamification:read"))]
WriteDep = Annotated[Caller, Depends(require_scopes("gamification:write"))]
UoWDep = Annotated[GamificationUoW, TransactionDep]


class CommunityStanding(BaseModel):
    """A member's points and level in one community."""

    community_id: str
    points: int
    level: int
    xp_into_level: int = Field(description="XP earned since the current level was reached")
    xp_for_next_level: int = Field(description="XP the current level takes in all (MEE6 curve)")
    progress: float = Field(ge=0, lt=1, description="xp_into_level / xp_for_next_level")


class MemberStanding(BaseModel):
    """A member's standing in every community the caller may read."""

    member_id: str
    communities: list[CommunityStanding]


class LeaderboardPeriod(StrEnum):
    """Which points a leaderboard ranks; calendar periods in the ruleset's time zone."""

    ALL_TIME = "all_time"
    MONTHLY = "monthly"
    WEEKLY = "weekly"
    DAILY = "daily"


_PERIODS = {
    LeaderboardPeriod.MONTHLY: Period.MONTH,
    LeaderboardPeriod.WEEKLY: Period.WEEK,
    LeaderboardPeriod.DAILY: Period.DAY,
}


class LeaderboardEntry(BaseModel):
    """One member on a leaderboard; equal points share a rank (dense ranking)."""

    rank: int = Field(ge=1)
    member_id: str
    points: int


class Leaderboard(BaseModel):
    """A page of a leaderboard, best first."""

    entries: list[LeaderboardEntry]
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` to get the next page; null on the last page"
    )


class RulesetStored(BaseModel):
    """A ruleset version accepted for a community."""

    community_id: str
    version: int
    effective_from: datetime
    rule_ids: list[str]


@router.get(
    "/members/{member_id}",
    responses=PROBLEM_RESPONSES,
    summary="A member's points, level and progress",
    description="Points, level (MEE6 curve: 5L²+50L+100 XP from level L to L+1) and progress "
    "in every community of the caller's tenant its key may read. 404 when the member has "
    "no standing there.",
)
async def get_member(member_id: str, caller: ReadDep, uow: UoWDep) -> MemberStanding:
    rows = await uow.ledger.totals_of(caller, member_id)
    if not rows:
        raise NotFound("No standing for this member in the communities this key may read.")
    standings = []
    for row in rows:
        reached = levels.progress(int(row.points))
        standings.append(
            CommunityStanding(
                community_id=row.community_id,
                points=int(row.points),
                level=reached.level,
                xp_into_level=reached.xp_into_level,
                xp_for_next_level=reached.xp_for_next_level,
                progress=reached.fraction,
            )
        )
    return MemberStanding(member_id=member_id, communities=standings)


@router.get(
    "/communities/{community_id}/leaderboard",
    responses=PROBLEM_RESPONSES,
    summary="A community's leaderboard",
    description="Members by points, best first, with dense ranks (ties share a rank). "
    "`period` counts all points, or those earned in the current calendar month, ISO week "
    "or day in the time zone of the community's ruleset. Revoked points are not counted.",
)
async def leaderboard(
    community_id: str,
    caller: ReadDep,
    uow: UoWDep,
    limit: LimitDep,
    cursor: CursorDep,
    period: Annotated[LeaderboardPeriod, Query()] = LeaderboardPeriod.ALL_TIME,
) -> Leaderboard:
    require_community(caller, community_id)
    if not await uow.ledger.community_known(caller, community_id):
        raise NotFound("No such community.")
    after_points, after_member = cursor_int(cursor, "p"), cursor_str(cursor, "m")
    rank = cursor_int(cursor, "r") or 0
    after = None
    if after_points is not None and after_member is not None:
        after = (after_points, after_member)
    if period is LeaderboardPeriod.ALL_TIME:
        rows = await uow.ledger.top_all_time(caller, community_id, after=after, limit=limit + 1)
    else:
        now = datetime.now(UTC)
        ruleset = await ruleset_at(uow, caller.tenant_id, community_id, now)
        start, end = bounds(_PERIODS[period], now, ruleset.time_zone)
        rows = await uow.ledger.top_in_period(
            caller, community_id, start, end, after=after, limit=limit + 1
        )
    entries = []
    previous = after_points
    for member_id, points in rows[:limit]:
        if points != previous:
            rank += 1
            previous = points
        entries.append(LeaderboardEntry(rank=rank, member_id=member_id, points=points))
    next_cursor = None
    if len(rows) > limit and entries:
        last = entries[-1]
        next_cursor = encode_cursor({"p": last.points, "m": last.member_id, "r": last.rank})
    return Leaderboard(entries=entries, next_cursor=next_cursor)


_YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {
                "schema": {"type": "string"},
                "example": "time_zone: Europe/Berlin\nrules:\n  - id: message\n"
                "    event: community.message.created\n    points: 10\n"
                "    cooldown_seconds: 60\n",
            }
        },
    }
}


@router.put(
    "/communities/{community_id}/rules",
    responses=PROBLEM_RESPONSES,
    summary="Upload a community's ruleset (YAML)",
    description="Validates the YAML (422 with the line of each problem) and stores it as "
    "the next version. It applies to activity from `effective_from` on (default: now; "
    "never in the past, so replaying old events reproduces their points). See "
    "docs/gamification.md for the format.",
    openapi_extra=_YAML_BODY,
)
async def put_rules(
    community_id: str, request: Request, caller: WriteDep, uow: UoWDep
) -> RulesetStored:
    require_community(caller, community_id)
    known = await uow.ledger.community_known(caller, community_id)
    if not known and caller.community_ids is None:
        # A tenant-wide key names a community gamification has not seen yet: only a key
        # bound to it says it is the tenant's before its first event arrives.
        raise NotFound("No such community.")
    raw = await request.body()
    if len(raw) > MAX_YAML_BYTES:
        raise PayloadTooLarge(f"A ruleset is at most {MAX_YAML_BYTES} bytes.")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise _invalid([RulesetProblem(1, "", "not UTF-8 text")]) from None
    try:
        ruleset = parse_ruleset(text)
    except InvalidRuleset as exc:
        raise _invalid(exc.problems) from None
    now = datetime.now(UTC)
    effective = ruleset.effective_from or now
    if effective.tzinfo is None:
        effective = effective.replace(tzinfo=UTC)
    if effective < now:
        raise _invalid(
            [RulesetProblem(1, "effective_from", "must not be in the past (forward-only)")]
        )
    try:
        version = await uow.rulesets.add(caller, community_id, text, effective)
    except IntegrityError:
        raise Conflict("Another version was stored at the same time; try again.") from None
    return RulesetStored(
        community_id=community_id,
        version=version,
        effective_from=effective,
        rule_ids=[rule.id for rule in ruleset.rules],
    )


def _invalid(problems: list[RulesetProblem]) -> Problem:
    return Problem(
        "The ruleset is not valid.",
        status=422,
        errors=[
            {
                "loc": f"line {p.line}" + (f": {p.path}" if p.path else ""),
                "msg": p.message,
                "type": "ruleset",
                "line": p.line,
            }
            for p in problems
        ],
    )
