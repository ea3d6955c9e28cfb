"""Members and their platform identities: look up, link, suggest, merge and unmerge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from services.ingest import identity, repository
from services.ingest.api.deps import ContextDep, MembersReadDep, MembersWriteDep
from services.ingest.domain.identity import KnownIdentity, suggest_links
from services.ingest.repository import TenantScope
from shared.api.pagination import Page
from shared.api.problems import PROBLEM_RESPONSES, Conflict, NotFound
from shared.events.community import Platform

router = APIRouter(prefix="/v1/ingest", tags=["ingest: members"])


class IdentityOut(BaseModel):
    """One platform account of a member."""

    platform: Platform
    platform_user_id: str
    username: str | None
    display_name: str | None
    is_bot: bool
    linked_by: str = Field(description="auto (first seen), api (linked by hand)")
    created_at: datetime


class MemberOut(BaseModel):
    """A Hearth member and every platform account linked to it."""

    id: str
    merged_into: str | None
    is_bot: bool
    identities: list[IdentityOut]
    created_at: datetime


class IdentityIn(BaseModel):
    """A platform account to link to a member."""

    model_config = ConfigDict(extra="forbid")

    platform: Platform
    platform_user_id: str = Field(min_length=1, max_length=256)
    username: str | None = Field(default=None, max_length=256)
    display_name: str | None = Field(default=None, max_length=512)


class MergeIn(BaseModel):
    """Fold `source_member_id` into `target_member_id`."""

    model_config = ConfigDict(extra="forbid")

    target_member_id: str
    source_member_id: str
    reason: str | None = Field(default=None, max_length=1000)


class MergeOut(BaseModel):
    """A merge; `POST /v1/ingest/merges/{id}/undo` reverses it."""

    merge_id: str
    target: MemberOut
    source: MemberOut


class UnmergeOut(BaseModel):
    """Both members as they are after the undo."""

    target: MemberOut
    source: MemberOut


class SuggestionOut(BaseModel):
    """Another member that is probably the same person."""

    member_id: str
    confidence: float = Field(ge=0, le=1)
    reason: str


async def _member(ctx: ContextDep, caller: TenantScope, member_id: str) -> MemberOut:
    async with ctx.db.sessions() as session:
        member = await repository.get_member(session, caller, member_id)
        if member is None:
            raise NotFound(f"No member {member_id!r}.")
        rows = await repository.identities_of(session, caller, [member_id])
    found = [IdentityOut.model_validate(dict(row)) for row in rows]
    return MemberOut(
        id=member_id,
        merged_into=member["merged_into"],
        is_bot=any(i.is_bot for i in found),
        identities=found,
        created_at=member["created_at"],
    )


@router.get("/members", responses=PROBLEM_RESPONSES, summary="Find a member by platform account")
async def find_member(
    principal: MembersReadDep,
    ctx: ContextDep,
    platform: Annotated[Platform, Query()],
    platform_user_id: Annotated[str, Query(min_length=1)],
) -> Page[MemberOut]:
    """The member owning a platform account (zero or one item)."""
    async with ctx.db.sessions() as session:
        row = await repository.identity_row(session, principal, platform.value, platform_user_id)
    items = [await _member(ctx, principal, row["member_id"])] if row else []
    return Page(items=items, next_cursor=None)


@router.get("/members/{member_id}", responses=PROBLEM_RESPONSES, summary="Get a member")
async def get_member(member_id: str, principal: MembersReadDep, ctx: ContextDep) -> MemberOut:
    """A member with all its identities."""
    return await _member(ctx, principal, member_id)


@router.post(
    "/members/{member_id}/identities",
    status_code=status.HTTP_201_CREATED,
    responses=PROBLEM_RESPONSES,
    summary="Link a platform account to a member",
)
async def link_identity(
    member_id: str, body: IdentityIn, principal: MembersWriteDep, ctx: ContextDep
) -> MemberOut:
    """Link e.g. a GitHub login to the member of a Discord user; 409 if another member has it."""
    try:
        async with ctx.db.transaction() as session:
            await identity.link_identity(
                session,
                principal,
                member_id,
                platform=body.platform.value,
                platform_user_id=body.platform_user_id,
                username=body.username,
                display_name=body.display_name,
            )
    except identity.UnknownMember as exc:
        raise NotFound(f"No member {member_id!r}.") from exc
    except (identity.IdentityConflict, IntegrityError) as exc:
        raise Conflict(
            str(exc)
            if isinstance(exc, identity.IdentityConflict)
            else "That account was linked concurrently; retry."
        ) from exc
    return await _member(ctx, principal, member_id)


@router.get(
    "/members/{member_id}/suggestions",
    responses=PROBLEM_RESPONSES,
    summary="Members that are probably the same person",
)
async def suggestions(
    member_id: str, principal: MembersReadDep, ctx: ContextDep
) -> Page[SuggestionOut]:
    """Candidates to link or merge, best first, each with a confidence and the reason."""
    member = await _member(ctx, principal, member_id)
    mine = [
        KnownIdentity(member_id, i.platform.value, i.platform_user_id, i.username, i.display_name)
        for i in member.identities
    ]
    async with ctx.db.sessions() as session:
        others = await repository.lookalike_identities(
            session,
            principal,
            [i.username for i in member.identities if i.username],
            [i.display_name for i in member.identities if i.display_name],
        )
    found = suggest_links(mine, others)
    return Page(
        items=[
            SuggestionOut(member_id=s.member_id, confidence=s.confidence, reason=s.reason)
            for s in found
        ],
        next_cursor=None,
    )


@router.post(
    "/members/merge",
    status_code=status.HTTP_201_CREATED,
    responses=PROBLEM_RESPONSES,
    summary="Merge two members",
)
async def merge(body: MergeIn, principal: MembersWriteDep, ctx: ContextDep) -> MergeOut:
    """Move every identity of the source member to the target; reversible with undo."""
    try:
        async with ctx.db.transaction() as session:
            merge_id = await identity.merge_members(
                session,
                principal,
                target=body.target_member_id,
                source=body.source_member_id,
                reason=body.reason,
            )
    except identity.UnknownMember as exc:
        raise NotFound(f"No member {exc}.") from exc
    except identity.IdentityConflict as exc:
        raise Conflict(str(exc)) from exc
    return MergeOut(
        merge_id=merge_id,
        # Both were the caller's to merge; the source, now without identities, is
        # shown although no community places it any more.
        target=await _member(ctx, principal.tenant_id, body.target_member_id),
        source=await _member(ctx, principal.tenant_id, body.source_member_id),
    )


@router.post("/merges/{merge_id}/undo", responses=PROBLEM_RESPONSES, summary="Undo a merge")
async def undo_merge(merge_id: str, principal: MembersWriteDep, ctx: ContextDep) -> UnmergeOut:
    """Give the source member back the identities the merge moved."""
    try:
        async with ctx.db.transaction() as session:
            target, source = await identity.unmerge(session, principal, merge_id)
    except identity.UnknownMember as exc:
        raise NotFound(f"No {exc}.") from exc
    except identity.IdentityConflict as exc:
        raise Conflict(str(exc)) from exc
    return UnmergeOut(
        target=await _member(ctx, principal.tenant_id, target),
        source=await _member(ctx, principal.tenant_id, source),
    )
