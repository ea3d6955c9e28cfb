"""HTTP routes of the gamification service, under /v1/gamification/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from services.gamification.domain import levels, streaks
from services.gamification.domain.leaderboard import (
    WHOLE_COMMUNITY,
    Board,
    Period,
    bucket,
    dense_ranks,
)
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
from shared.api.problems import (
    PROBLEM_RESPONSES,
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    Problem,
)

router = APIRouter(prefix="/v1/gamification", tags=["gamification"])

# Standings and leaderboards are read with gamification:read; a community's ruleset,
# which changes what it rewards, is set with gamification:write (shared.api.auth.SCOPES).
ReadDep = Annotated[Caller, Depends(require_scopes("gamification:read"))]
WriteDep = Annotated[Caller, Depends(require_scopes("gamification:write"))]
UoWDep = Annotated[GamificationUoW, TransactionDep]


STREAK_LOOKBACK_DAYS = 60


class BadgeHeld(BaseModel):
    """A badge (tier) a member holds."""

    badge_id: str
    tier: str | None = Field(description="bronze/silver/gold, a ranked badge's period, or null")
    awarded_at: datetime


class CommunityStanding(BaseModel):
    """A member's points and level in one community."""

    community_id: str
    points: int
    level: int
    xp_into_level: int = Field(description="XP earned since the current level was reached")
    xp_for_next_level: int = Field(description="XP the current level takes in all (MEE6 curve)")
    progress: float = Field(ge=0, lt=1, description="xp_into_level / xp_for_next_level")
    badges: list[BadgeHeld] = Field(default_factory=list, description="held now")
    streak_days: int = Field(
        default=0,
        description="local days in a row, up to today or yesterday, with activity that "
        f"earned points (looking back at most {STREAK_LOOKBACK_DAYS} days)",
    )


class MemberStanding(BaseModel):
    """A member's standing in every community the caller may read."""

    member_id: str
    communities: list[CommunityStanding]


class LeaderboardPeriod(StrEnum):
    """Which points a leaderboard ranks; calendar periods in the ruleset's time zone."""

    ALL_TIME = "all_time"
    YEARLY = "yearly"
    MONTHLY = "monthly"
    WEEKLY = "weekly"
    DAILY = "daily"


_PERIODS = {
    LeaderboardPeriod.ALL_TIME: Period.ALL_TIME,
    LeaderboardPeriod.YEARLY: Period.YEAR,
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

    period: LeaderboardPeriod
    bucket: str = Field(
        description="the calendar period counted, in the community's time zone: `all`, "
        "`2026`, `2026-11`, `2026-W45` (ISO week) or `2026-11-02`"
    )
    channel: str | None = Field(default=None, description="the channel, or null: everywhere")
    entries: list[LeaderboardEntry]
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` to get the next page; null on the last page"
    )


class LeaderboardPosition(BaseModel):
    """A member's place on a leaderboard and the members around them."""

    period: LeaderboardPeriod
    bucket: str
    channel: str | None = None
    member: LeaderboardEntry
    above: list[LeaderboardEntry] = Field(description="the members just above, best first")
    below: list[LeaderboardEntry] = Field(description="the members just below, best first")


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
    description="Points, level (MEE6 curve: 5L²+50L+100 XP from level L to L+1), progress, "
    "the badges held and the current daily streak (local days) in every community of the "
    "caller's tenant its key may read. 404 when the member has no standing there.",
)
async def get_member(member_id: str, caller: ReadDep, uow: UoWDep) -> MemberStanding:
    rows = await uow.ledger.totals_of(caller, member_id)
    if not rows:
        raise NotFound("No standing for this member in the communities this key may read.")
    held: dict[str, list[BadgeHeld]] = {}
    for badge in await uow.badges.of_member(caller, member_id):
        held.setdefault(badge.community_id, []).append(
            BadgeHeld(badge_id=badge.badge_id, tier=badge.tier or None, awarded_at=badge.awarded_at)
        )
    now = datetime.now(UTC)
    standings = []
    for row in rows:
        reached = levels.progress(int(row.points))
        zone = (await ruleset_at(uow, caller.tenant_id, row.community_id, now)).time_zone
        earned = await uow.badges.earnings(
            caller.tenant_id,
            row.community_id,
            {member_id},
            now - timedelta(days=STREAK_LOOKBACK_DAYS),
            now + timedelta(days=1),
        )
        days = [
            streaks.period_index(at, "day", zone) for _, at, p in earned.get(member_id, []) if p > 0
        ]
        standings.append(
            CommunityStanding(
                community_id=row.community_id,
                points=int(row.points),
                level=reached.level,
                xp_into_level=reached.xp_into_level,
                xp_for_next_level=reached.xp_for_next_level,
                progress=reached.fraction,
                badges=held.get(row.community_id, []),
                streak_days=streaks.current(days, 0, streaks.period_index(now, "day", zone)),
            )
        )
    return MemberStanding(member_id=member_id, communities=standings)


ChannelQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="rank only what was earned in this channel (default: the whole community)",
    ),
]


async def _board(
    uow: GamificationUoW,
    caller: Caller,
    community_id: str,
    period: LeaderboardPeriod,
    channel: str | None,
) -> Board:
    """The board a request names, in its current bucket (the community's time zone now)."""
    require_community(caller, community_id)
    if not await uow.ledger.community_known(caller, community_id):
        raise NotFound("No such community.")
    ruleset = await ruleset_at(uow, caller.tenant_id, community_id, datetime.now(UTC))
    kind = _PERIODS[period]
    return Board(
        caller.tenant_id,
        community_id,
        channel or WHOLE_COMMUNITY,
        kind,
        bucket(kind, datetime.now(UTC), ruleset.time_zone),
    )


def _pinned(board: Board, position: dict[str, Any] | None) -> tuple[Board, tuple[int, str] | None]:
    """The board and position a cursor continues; 400 when it is not one of this board's.

    A cursor keeps its bucket, so paging across midnight stays on the same day's board.
    It carries no rank: ranks are counted again for every page.
    """
    if position is None:
        return board, None
    points, member = cursor_int(position, "p"), cursor_str(position, "m", max_length=64)
    pinned = cursor_str(position, "b", max_length=10)
    if (
        points is None
        or member is None
        or pinned is None
        or position.get("k") != str(board.period)
        or position.get("c") != board.channel_id
        or (board.period is Period.ALL_TIME and pinned != "all")
        or len(pinned) != len(board.bucket)
    ):
        raise BadRequest("Invalid pagination cursor: it is not one of this leaderboard's.")
    return Board(board.tenant_id, board.community_id, board.channel_id, board.period, pinned), (
        points,
        member,
    )


async def _entries(
    uow: GamificationUoW, caller: Caller, board: Board, rows: list[tuple[str, int]]
) -> list[LeaderboardEntry]:
    if not rows:
        return []
    first = await uow.leaderboards.rank_of(caller, board, rows[0][1])
    ranks = dense_ranks([points for _member, points in rows], first)
    return [
        LeaderboardEntry(rank=rank, member_id=member, points=points)
        for rank, (member, points) in zip(ranks, rows, strict=True)
    ]


@router.get(
    "/communities/{community_id}/leaderboard",
    responses=PROBLEM_RESPONSES,
    summary="A community's or a channel's leaderboard",
    description="Members with more than 0 points, best first, with dense ranks (equal "
    "points share a rank, the next rank follows on), ties by member id. `period` counts "
    "every point or those earned in the current calendar year, month, ISO week or day in "
    "the time zone of the community's ruleset; `channel` only what was earned there. "
    "Revoked points are not counted. A read model kept with the ledger: the top of a board "
    "and each page are index ranges at any size. A cursor from another board is a 400.",
)
async def leaderboard(
    community_id: str,
    caller: ReadDep,
    uow: UoWDep,
    limit: LimitDep,
    cursor: CursorDep,
    period: Annotated[LeaderboardPeriod, Query()] = LeaderboardPeriod.ALL_TIME,
    channel: ChannelQuery = None,
) -> Leaderboard:
    board, after = _pinned(await _board(uow, caller, community_id, period, channel), cursor)
    rows = await uow.leaderboards.top(caller, board, after=after, limit=limit + 1)
    entries = await _entries(uow, caller, board, rows[:limit])
    next_cursor = None
    if len(rows) > limit and entries:
        last = entries[-1]
        next_cursor = encode_cursor(
            {
                "p": last.points,
                "m": last.member_id,
                "b": board.bucket,
                "k": str(board.period),
                "c": board.channel_id,
            }
        )
    return Leaderboard(
        period=period,
        bucket=board.bucket,
        channel=channel,
        entries=entries,
        next_cursor=next_cursor,
    )


@router.get(
    "/communities/{community_id}/leaderboard/members/{member_id}",
    responses=PROBLEM_RESPONSES,
    summary="A member's rank on a leaderboard, with their neighbours",
    description="The member's dense rank and points on the board `period` and `channel` "
    "name (as for the leaderboard), and up to `neighbours` members just above and just "
    "below. 404 when the member has no points above 0 on that board.",
)
async def leaderboard_position(
    community_id: str,
    member_id: str,
    caller: ReadDep,
    uow: UoWDep,
    period: Annotated[LeaderboardPeriod, Query()] = LeaderboardPeriod.ALL_TIME,
    channel: ChannelQuery = None,
    neighbours: Annotated[int, Query(ge=0, le=50, description="members on each side")] = 2,
) -> LeaderboardPosition:
    board = await _board(uow, caller, community_id, period, channel)
    points = await uow.leaderboards.points_of(caller, board, member_id)
    if points is None:
        raise NotFound("This member has no points on this leaderboard.")
    above, below = await uow.leaderboards.neighbours(caller, board, points, member_id, neighbours)
    entries = await _entries(uow, caller, board, [*above, (member_id, points), *below])
    return LeaderboardPosition(
        period=period,
        bucket=board.bucket,
        channel=channel,
        member=entries[len(above)],
        above=entries[: len(above)],
        below=entries[len(above) + 1 :],
    )


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
