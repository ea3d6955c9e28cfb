"""HTTP routes about a member's badges and manual grants, under /v1/gamification/."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, field_validator

from services.gamification import grants, simulation
from services.gamification.api import _YAML_BODY, _invalid
from services.gamification.domain.rules import (
    MAX_YAML_BYTES,
    InvalidRuleset,
    RulesetProblem,
    parse_ruleset,
)
from services.gamification.uow import GamificationUoW, TransactionDep
from shared.api.auth import Caller, require_community, require_scopes
from shared.api.problems import PROBLEM_RESPONSES, Conflict, NotFound, PayloadTooLarge
from shared.events.envelope import new_event_id, utcnow

router = APIRouter(prefix="/v1/gamification", tags=["gamification"])

ReadDep = Annotated[Caller, Depends(require_scopes("gamification:read"))]
WriteDep = Annotated[Caller, Depends(require_scopes("gamification:write"))]
UoWDep = Annotated[GamificationUoW, TransactionDep]


class HeldBadge(BaseModel):
    """A badge (tier) a member holds in a community."""

    community_id: str
    badge_id: str
    tier: str | None
    awarded_at: datetime


class MemberBadges(BaseModel):
    """The badges a member holds in the communities the caller may read."""

    member_id: str
    badges: list[HeldBadge]


@router.get(
    "/members/{member_id}/badges",
    responses=PROBLEM_RESPONSES,
    summary="The badges a member holds",
    description="Every badge tier the member holds now in the communities of the caller's "
    "tenant its key may read (a badge a recheck withdrew is not listed). `tier` is bronze, "
    "silver or gold for a tiered threshold badge, null otherwise.",
)
async def member_badges(member_id: str, caller: ReadDep, uow: UoWDep) -> MemberBadges:
    rows = await uow.badges.of_member(caller, member_id)
    return MemberBadges(
        member_id=member_id,
        badges=[
            HeldBadge(
                community_id=row.community_id,
                badge_id=row.badge_id,
                tier=row.tier or None,
                awarded_at=row.awarded_at,
            )
            for row in rows
        ],
    )


class GrantRequest(BaseModel):
    """Points to give (positive) or take (negative), and why."""

    points: int = Field(ge=-100_000, le=100_000, description="not 0; negative deducts")
    reason: str = Field(min_length=1, max_length=500, description="kept in the audit")

    @field_validator("points")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("a grant of 0 points changes nothing")
        return value

    @field_validator("reason")
    @classmethod
    def _said(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("say why")
        return value.strip()


class Grant(BaseModel):
    """A manual grant or deduction as audited."""

    grant_id: str
    community_id: str
    member_id: str
    points: int
    reason: str
    granted_by: str = Field(description="the id of the API key that made it")
    created_at: datetime


class GrantRecorded(Grant):
    """A grant just recorded, with the member's standing after it."""

    total: int = Field(description="the member's points in the community after the grant")
    level: int


class Grants(BaseModel):
    """A community's grants and deductions, newest first."""

    grants: list[Grant]


@router.post(
    "/communities/{community_id}/members/{member_id}/grants",
    status_code=201,
    responses=PROBLEM_RESPONSES,
    summary="Grant or deduct points by hand, with a reason",
    description="Adds a ledger line of its own (rule `manual`) for the member, moves their "
    "total, level, leaderboards and badges, publishes it on gamification.awards.v1, and "
    "audits who (the API key) did it and why. Scope gamification:write (or admin). 404 "
    "for a community gamification has not seen; 422 for 0 points or no reason.",
)
async def create_grant(
    community_id: str, member_id: str, body: GrantRequest, caller: WriteDep, uow: UoWDep
) -> GrantRecorded:
    require_community(caller, community_id)
    if not await uow.ledger.community_known(caller, community_id):
        raise NotFound("No such community.")
    done = await grants.grant(uow, caller, community_id, member_id, body.points, body.reason)
    row = await uow.grants.get(caller, done.grant_id)
    assert row is not None
    return GrantRecorded(**_grant(row).model_dump(), total=done.total, level=done.level)


@router.get(
    "/communities/{community_id}/grants",
    responses=PROBLEM_RESPONSES,
    summary="The audit of manual grants and deductions",
    description="Newest first; `member_id` narrows to one member, `before` (a grant id) "
    "pages on. Scope gamification:read.",
)
async def list_grants(
    community_id: str,
    caller: ReadDep,
    uow: UoWDep,
    member_id: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Grants:
    require_community(caller, community_id)
    rows = await uow.grants.of_community(
        caller, community_id, member_id, before=before, limit=limit
    )
    return Grants(grants=[_grant(row) for row in rows])


def _grant(row: Any) -> Grant:
    return Grant(
        grant_id=row.grant_id,
        community_id=row.community_id,
        member_id=row.member_id,
        points=row.points,
        reason=row.reason,
        granted_by=row.granted_by,
        created_at=row.created_at,
    )


class CoreMember(BaseModel):
    """A core member of a community, and since when."""

    member_id: str
    since: datetime


class CoreMembers(BaseModel):
    """A community's core members now."""

    community_id: str
    members: list[CoreMember]


class CoreEvaluation(BaseModel):
    """What an evaluation on request found."""

    community_id: str
    core: list[str] = Field(description="the core members after the evaluation")
    entered: list[str]
    left: list[str]


@router.get(
    "/communities/{community_id}/core",
    responses=PROBLEM_RESPONSES,
    summary="A community's core members",
    description="The members the community's `core` rules (top N by points over a rolling "
    "window, with hysteresis) count as core now. Empty without a `core` section.",
)
async def core_members(community_id: str, caller: ReadDep, uow: UoWDep) -> CoreMembers:
    require_community(caller, community_id)
    if not await uow.ledger.community_known(caller, community_id):
        raise NotFound("No such community.")
    rows = await uow.core_members.of_community(caller, community_id)
    return CoreMembers(
        community_id=community_id,
        members=[CoreMember(member_id=row.member_id, since=row.changed_at) for row in rows],
    )


@router.post(
    "/communities/{community_id}/core/evaluations",
    responses=PROBLEM_RESPONSES,
    summary="Evaluate a community's core members now",
    description="One evaluation of the window ending now, besides the daily one at local "
    "midnight: it counts towards the hysteresis (enter_after, leave_after) like any, and "
    "publishes each change on gamification.core_members.v1. 409 when the community's "
    "ruleset has no `core` section. Scope gamification:write.",
)
async def evaluate_core(community_id: str, caller: WriteDep, uow: UoWDep) -> CoreEvaluation:
    require_community(caller, community_id)
    if not await uow.ledger.community_known(caller, community_id):
        raise NotFound("No such community.")
    now = utcnow()
    ruleset = await uow.core.ruleset(caller.tenant_id, community_id, now)
    if ruleset.core is None:
        raise Conflict("The community's ruleset has no `core` section.")
    found = await uow.core.evaluate(
        caller.tenant_id, community_id, ruleset, f"r:{new_event_id()}", now
    )
    return CoreEvaluation(
        community_id=community_id, core=found.core, entered=found.entered, left=found.left
    )


class MemberEffect(BaseModel):
    """One member's points from the simulated activity: in the ledger now, and simulated."""

    member_id: str
    current: int
    simulated: int
    difference: int
    level_now: int = Field(description="the member's level with their whole total now")
    level_simulated: int = Field(description="their level had the candidate been in force")


class PointsSum(BaseModel):
    current: int
    simulated: int


class TopN(BaseModel):
    current: list[str] = Field(description="the best members by points over the span now")
    simulated: list[str]


class SimulationReport(BaseModel):
    """What a candidate ruleset would change over the community's recent activity."""

    community_id: str
    since: datetime
    events: int = Field(description="activities and deletions replayed")
    truncated: bool = Field(description=f"true when only the latest {simulation.MAX_FACTS} were")
    points: PointsSum
    members: list[MemberEffect] = Field(description="largest differences first")
    top: TopN


@router.post(
    "/communities/{community_id}/rules/simulate",
    responses=PROBLEM_RESPONSES,
    summary="Simulate a candidate ruleset on recent activity (changes nothing)",
    description="Replays the community's activity of the last `days` days (at most "
    f"{simulation.SIMULATE_DAYS}; removals by moderation as known now) through the real "
    "scorer with the candidate YAML, and answers the difference per member in points and "
    "levels, and the top N, against what the same activity nets in the ledger now. "
    "Nothing is stored: no version, no ledger line, no event. 422 with the line of each "
    "problem for an invalid ruleset. Scope gamification:write.",
    openapi_extra=_YAML_BODY,
)
async def simulate_rules(
    community_id: str,
    request: Request,
    caller: WriteDep,
    uow: UoWDep,
    days: Annotated[int, Query(ge=1, le=simulation.SIMULATE_DAYS)] = 7,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SimulationReport:
    require_community(caller, community_id)
    if not await uow.ledger.community_known(caller, community_id):
        raise NotFound("No such community.")
    raw = await request.body()
    if len(raw) > MAX_YAML_BYTES:
        raise PayloadTooLarge(f"A ruleset is at most {MAX_YAML_BYTES} bytes.")
    try:
        text = raw.decode()
        parse_ruleset(text)
    except UnicodeDecodeError:
        raise _invalid([RulesetProblem(1, "", "not UTF-8 text")]) from None
    except InvalidRuleset as exc:
        raise _invalid(exc.problems) from None
    found = await simulation.simulate(
        uow.recent_facts, uow.badges, caller, community_id, text, days=days, top=top
    )
    return SimulationReport.model_validate(
        {"community_id": community_id, **simulation.as_json(found)}
    )
