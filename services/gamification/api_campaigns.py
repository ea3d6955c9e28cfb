"""Campaign routes: /v1/gamification/communities/{community_id}/campaigns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from services.gamification.campaigns import Campaigns, StoredCampaign, standings_of
from services.gamification.domain.campaigns import CampaignSpec
from services.gamification.uow import GamificationUoW, TransactionDep
from shared.api.auth import Caller, require_community, require_scopes
from shared.api.problems import PROBLEM_RESPONSES, Conflict, NotFound, Problem

router = APIRouter(prefix="/v1/gamification", tags=["gamification"])

ReadDep = Annotated[Caller, Depends(require_scopes("gamification:read"))]
WriteDep = Annotated[Caller, Depends(require_scopes("gamification:write"))]
UoWDep = Annotated[GamificationUoW, TransactionDep]


class Place(BaseModel):
    """A place in a campaign: the entry, its author and its score (entries, votes or the
    jury's rank, by the campaign's scoring)."""

    place: int = Field(ge=1)
    member_id: str
    entry_id: str = Field(description="the event id of the entry message")
    score: int


class Campaign(BaseModel):
    """A campaign, where it stands and, once closed, its winners."""

    campaign_id: str
    community_id: str
    spec: CampaignSpec
    status: str = Field(description="scheduled, running, ended (not closed yet) or closed")
    standings: list[Place] = Field(description="the first 50 places now")
    winners: list[Place] | None = Field(default=None, description="set when closed")


class CampaignList(BaseModel):
    """A community's campaigns, the latest start first."""

    items: list[Campaign]


class JuryPicks(BaseModel):
    """The jury's choice, best first."""

    picks: list[str] = Field(max_length=100, description="entry ids, best first")


def _campaigns(uow: GamificationUoW) -> Campaigns:
    return Campaigns(uow.session)


def _status(stored: StoredCampaign, now: datetime) -> str:
    if stored.closed_at is not None:
        return "closed"
    if now < stored.spec.starts_at:
        return "scheduled"
    return "running" if now < stored.spec.ends_at else "ended"


async def _view(uow: GamificationUoW, caller: Caller, stored: StoredCampaign) -> Campaign:
    entries = await _campaigns(uow).entries(caller.tenant_id, stored.campaign_id)
    places = [Place(**vars(s)) for s in standings_of(stored.spec, entries)[:50]]
    return Campaign(
        campaign_id=stored.campaign_id,
        community_id=stored.community_id,
        spec=stored.spec,
        status=_status(stored, datetime.now(UTC)),
        standings=places,
        winners=[Place(**w) for w in stored.winners] if stored.winners is not None else None,
    )


async def _known(uow: GamificationUoW, caller: Caller, community_id: str) -> None:
    require_community(caller, community_id)
    known = await uow.ledger.community_known(caller, community_id)
    if not known and caller.community_ids is None:
        raise NotFound("No such community.")


async def _campaign(
    uow: GamificationUoW, caller: Caller, community_id: str, campaign_id: str, *, lock: bool
) -> StoredCampaign:
    require_community(caller, community_id)
    stored = await _campaigns(uow).get(caller, community_id, campaign_id, lock=lock)
    if stored is None:
        raise NotFound("No such campaign.")
    return stored


@router.post(
    "/communities/{community_id}/campaigns",
    status_code=201,
    responses=PROBLEM_RESPONSES,
    summary="Start a campaign (contest, AMA, UGC challenge)",
    description="Entries are the community's messages while it runs that carry its #tag, "
    "are in its channels or in its thread; they score by entries per member, by votes "
    "(reactions from distinct members other than the author, one per member per entry) "
    "or by a jury's picks. See docs/gamification.md.",
)
async def create_campaign(
    community_id: str, spec: CampaignSpec, caller: WriteDep, uow: UoWDep
) -> Campaign:
    await _known(uow, caller, community_id)
    campaign_id = await _campaigns(uow).create(caller, community_id, spec)
    return await _view(
        uow, caller, await _campaign(uow, caller, community_id, campaign_id, lock=False)
    )


@router.get(
    "/communities/{community_id}/campaigns",
    responses=PROBLEM_RESPONSES,
    summary="A community's campaigns",
    description="Every campaign of the community with its status and current standings.",
)
async def list_campaigns(community_id: str, caller: ReadDep, uow: UoWDep) -> CampaignList:
    require_community(caller, community_id)
    stored = await _campaigns(uow).of_community(caller, community_id)
    return CampaignList(items=[await _view(uow, caller, s) for s in stored])


@router.get(
    "/communities/{community_id}/campaigns/{campaign_id}",
    responses=PROBLEM_RESPONSES,
    summary="One campaign, its standings and winners",
    description="Standings are computed from the entries and votes recorded so far; "
    "winners once the campaign is closed.",
)
async def get_campaign(
    community_id: str, campaign_id: str, caller: ReadDep, uow: UoWDep
) -> Campaign:
    return await _view(
        uow, caller, await _campaign(uow, caller, community_id, campaign_id, lock=False)
    )


@router.put(
    "/communities/{community_id}/campaigns/{campaign_id}/jury",
    responses=PROBLEM_RESPONSES,
    summary="Set a jury's picks",
    description="Entry ids, best first, replacing earlier picks; for campaigns scored by "
    "jury. 422 names the ids that are not entries of the campaign; 409 once closed.",
)
async def set_jury(
    community_id: str, campaign_id: str, body: JuryPicks, caller: WriteDep, uow: UoWDep
) -> Campaign:
    stored = await _campaign(uow, caller, community_id, campaign_id, lock=True)
    if stored.closed_at is not None:
        raise Conflict("The campaign is closed.")
    if len(set(body.picks)) != len(body.picks):
        raise Problem("An entry is picked twice.", status=422)
    missing = await _campaigns(uow).pick(caller.tenant_id, campaign_id, body.picks)
    if missing:
        raise Problem(
            "Some picks are not entries of this campaign.",
            status=422,
            errors=[{"loc": "picks", "msg": f"not an entry: {e}"} for e in sorted(missing)],
        )
    return await _view(uow, caller, stored)


@router.post(
    "/communities/{community_id}/campaigns/{campaign_id}/close",
    responses=PROBLEM_RESPONSES,
    summary="Close an ended campaign and crown its winners",
    description="Computes the winners (one place per member, as many as the spec says), "
    "stores them, and sends through ingest an `announce` action to the announcement "
    "channel and a `grant_role` action per winner when the spec names a role "
    "(moderation.actions.v1). 409 while it still runs or once closed.",
)
async def close_campaign(
    community_id: str, campaign_id: str, caller: WriteDep, uow: UoWDep
) -> Campaign:
    stored = await _campaign(uow, caller, community_id, campaign_id, lock=True)
    now = datetime.now(UTC)
    if stored.closed_at is not None:
        raise Conflict("The campaign is already closed.")
    if now < stored.spec.ends_at:
        raise Conflict("The campaign is still running; close it after ends_at.")
    await _campaigns(uow).close(caller.tenant_id, stored, uow.outbox, now)
    return await _view(
        uow, caller, await _campaign(uow, caller, community_id, campaign_id, lock=False)
    )
