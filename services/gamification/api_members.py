"""HTTP routes about a member's badges and manual grants, under /v1/gamification/."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from services.gamification.uow import GamificationUoW, TransactionDep
from shared.api.auth import Caller, require_scopes
from shared.api.problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1/gamification", tags=["gamification"])

ReadDep = Annotated[Caller, Depends(require_scopes("gamification:read"))]
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
