"""Admin REST for communities and their platform bindings."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from services.ingest import repository
from services.ingest.api.deps import AdminDep, ContextDep, TenantAdminDep, community_of
from services.ingest.domain import bounds
from services.ingest.domain.bindings import binding_errors
from shared.api.pagination import CursorDep, LimitDep, Page, cursor_str, encode_cursor
from shared.api.problems import PROBLEM_RESPONSES, Conflict, NotFound, Problem
from shared.events.community import Platform
from shared.events.envelope import new_event_id

router = APIRouter(prefix="/v1/ingest/communities", tags=["ingest: communities"])


MAX_OPTIONS_BYTES = 16_384


def _small_options(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and bounds.depth(value) > bounds.MAX_DEPTH:
        raise ValueError(f"options nest at most {bounds.MAX_DEPTH} levels deep")
    if value is not None and len(json.dumps(value, default=str)) > MAX_OPTIONS_BYTES:
        raise ValueError(f"options take at most {MAX_OPTIONS_BYTES} bytes of JSON")
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


class CommunityIn(BaseModel):
    """A community to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    time_zone: str = Field(default="UTC", description="IANA zone, e.g. Europe/Berlin")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone(value)


class CommunityPatch(BaseModel):
    """Fields of a community to change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    time_zone: str | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else _zone(value)


class CommunityOut(BaseModel):
    """A community."""

    id: str
    name: str
    time_zone: str
    created_at: datetime
    updated_at: datetime


class BindingIn(BaseModel):
    """A platform space bound to a community, with the secrets to verify its webhooks."""

    model_config = ConfigDict(extra="forbid")

    platform: Platform
    external_id: str = Field(
        min_length=1,
        max_length=512,
        description="Slack team id, Telegram chat id, Discord guild id, GitHub `org/repo`, "
        "or Discourse base URL",
    )
    secrets: dict[str, str] = Field(
        description="slack: signing_secret (+bot_token); github: webhook_secret (+token); "
        "telegram: secret_token, bot_token; discord: public_key, bot_token; "
        "discourse: webhook_secret (+api_key). Never returned."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="connector options, e.g. {'core_member_role_id': '…'} or "
        "{'telegram_mode': 'polling'}; at most 16 KiB of JSON",
    )

    @field_validator("options")
    @classmethod
    def _options_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _small_options(value)


class BindingPatch(BaseModel):
    """Fields of a binding to change; given secrets replace those of the same name."""

    model_config = ConfigDict(extra="forbid")

    external_id: str | None = Field(default=None, min_length=1, max_length=512)
    secrets: dict[str, str] | None = None
    options: dict[str, Any] | None = None

    @field_validator("options")
    @classmethod
    def _options_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _small_options(value)


class BindingOut(BaseModel):
    """A binding as the API shows it: secret names only, never values."""

    id: str
    community_id: str
    platform: Platform
    external_id: str
    secret_names: list[str]
    options: dict[str, Any]
    webhook_path: str = Field(description="where the platform must send its webhooks")
    created_at: datetime
    updated_at: datetime


def _community(row: RowMapping) -> CommunityOut:
    return CommunityOut.model_validate(dict(row))


def _binding(row: RowMapping) -> BindingOut:
    return BindingOut(
        id=row["id"],
        community_id=row["community_id"],
        platform=Platform(row["platform"]),
        external_id=row["external_id"],
        secret_names=sorted(row["secret_names"]),
        options=row["options"],
        webhook_path=f"/v1/ingest/webhooks/{row['platform']}/{row['id']}",
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _invalid(errors: list[dict[str, str]]) -> Problem:
    return Problem(
        "The binding is invalid: " + "; ".join(f"{e['loc']}: {e['msg']}" for e in errors),
        status=422,
        errors=[
            {"loc": f"body.{e['loc']}", "msg": e["msg"], "type": "value_error"} for e in errors
        ],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=PROBLEM_RESPONSES,
    summary="Create a community",
)
async def create_community(
    body: CommunityIn, principal: TenantAdminDep, ctx: ContextDep
) -> CommunityOut:
    """Create a community of the caller's tenant; bind platform spaces to it next.

    Needs an admin key for every community of the tenant (403 for a key limited to some,
    before anything is written)."""
    community_id = new_event_id()
    async with ctx.db.transaction() as session:
        await repository.insert_community(
            session,
            principal,
            community_id=community_id,
            name=body.name,
            time_zone=body.time_zone,
        )
    return await get_community(community_id, principal, ctx)


@router.get("", responses=PROBLEM_RESPONSES, summary="List communities")
async def list_communities(
    principal: AdminDep, ctx: ContextDep, limit: LimitDep, cursor: CursorDep
) -> Page[CommunityOut]:
    """Communities of the caller's tenant, by id."""
    after = cursor_str(cursor, "after")
    async with ctx.db.sessions() as session:
        rows = await repository.list_communities(
            session, principal, after_id=after, limit=limit + 1
        )
    items = [_community(row) for row in rows[:limit]]
    more = len(rows) > limit
    return Page(items=items, next_cursor=encode_cursor({"after": items[-1].id}) if more else None)


@router.get("/{community_id}", responses=PROBLEM_RESPONSES, summary="Get a community")
async def get_community(community_id: str, principal: AdminDep, ctx: ContextDep) -> CommunityOut:
    """One community."""
    return _community(await community_of(ctx, principal, community_id))


@router.patch("/{community_id}", responses=PROBLEM_RESPONSES, summary="Change a community")
async def patch_community(
    community_id: str, body: CommunityPatch, principal: AdminDep, ctx: ContextDep
) -> CommunityOut:
    """Rename a community or change its time zone."""
    await community_of(ctx, principal, community_id)
    values = body.model_dump(exclude_none=True)
    if values:
        async with ctx.db.transaction() as session:
            if not await repository.update_community(session, principal, community_id, values):
                raise NotFound(f"No community {community_id!r}.")
    return await get_community(community_id, principal, ctx)


@router.delete(
    "/{community_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=PROBLEM_RESPONSES,
    summary="Delete a community",
)
async def delete_community(community_id: str, principal: AdminDep, ctx: ContextDep) -> Response:
    """Delete a community and its bindings; its webhooks stop being accepted at once."""
    await community_of(ctx, principal, community_id)
    async with ctx.db.transaction() as session:
        if not await repository.delete_community(session, principal, community_id):
            raise NotFound(f"No community {community_id!r}.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{community_id}/bindings",
    status_code=status.HTTP_201_CREATED,
    responses=PROBLEM_RESPONSES,
    summary="Bind a platform space to a community",
)
async def create_binding(
    community_id: str, body: BindingIn, principal: AdminDep, ctx: ContextDep
) -> BindingOut:
    """Bind a Slack workspace, Telegram chat, Discord guild, GitHub org/repo or Discourse site.

    The answer's `webhook_path` is the URL path to configure on the platform.
    """
    await community_of(ctx, principal, community_id)
    errors = binding_errors(body.platform, body.external_id, body.secrets)
    if errors:
        raise _invalid(errors)
    binding_id = new_event_id()
    try:
        async with ctx.db.transaction() as session:
            await repository.insert_binding(
                session,
                principal,
                id=binding_id,
                community_id=community_id,
                platform=body.platform.value,
                external_id=body.external_id,
                secrets=ctx.secrets.seal(body.secrets),
                secret_names=sorted(body.secrets),
                options=body.options,
            )
    except IntegrityError as exc:
        # Unique per tenant (another tenant may bind the same id): this names no one else.
        raise Conflict(
            f"{body.platform} {body.external_id!r} is already bound to a community of this tenant."
        ) from exc
    return await get_binding(community_id, binding_id, principal, ctx)


@router.get("/{community_id}/bindings", responses=PROBLEM_RESPONSES, summary="List bindings")
async def list_bindings(
    community_id: str, principal: AdminDep, ctx: ContextDep
) -> Page[BindingOut]:
    """Every binding of a community (a community has few, so one page)."""
    await community_of(ctx, principal, community_id)
    async with ctx.db.sessions() as session:
        rows = await repository.list_bindings(session, principal, community_id)
    return Page(items=[_binding(row) for row in rows], next_cursor=None)


async def _binding_row(
    community_id: str, binding_id: str, principal: AdminDep, ctx: ContextDep
) -> RowMapping:
    await community_of(ctx, principal, community_id)
    async with ctx.db.sessions() as session:
        row = await repository.get_binding(session, principal, community_id, binding_id)
    if row is None:
        raise NotFound(f"No binding {binding_id!r} in community {community_id!r}.")
    return row


@router.get(
    "/{community_id}/bindings/{binding_id}", responses=PROBLEM_RESPONSES, summary="Get a binding"
)
async def get_binding(
    community_id: str, binding_id: str, principal: AdminDep, ctx: ContextDep
) -> BindingOut:
    """One binding, without its secrets."""
    return _binding(await _binding_row(community_id, binding_id, principal, ctx))


@router.patch(
    "/{community_id}/bindings/{binding_id}",
    responses=PROBLEM_RESPONSES,
    summary="Change a binding or rotate its secrets",
)
async def patch_binding(
    community_id: str, binding_id: str, body: BindingPatch, principal: AdminDep, ctx: ContextDep
) -> BindingOut:
    """Change the external id or options, or rotate secrets (given names replace old values)."""
    row = await _binding_row(community_id, binding_id, principal, ctx)
    platform = Platform(row["platform"])
    external_id = body.external_id or row["external_id"]
    secrets = {**ctx.secrets.open(row["secrets"]), **(body.secrets or {})}
    errors = binding_errors(platform, external_id, secrets)
    if errors:
        raise _invalid(errors)
    values: dict[str, Any] = {"external_id": external_id}
    if body.secrets:
        values |= {"secrets": ctx.secrets.seal(secrets), "secret_names": sorted(secrets)}
    if body.options is not None:
        values["options"] = body.options
    try:
        async with ctx.db.transaction() as session:
            await repository.update_binding(session, principal, community_id, binding_id, values)
    except IntegrityError as exc:
        raise Conflict(
            f"{platform} {external_id!r} is already bound to a community of this tenant."
        ) from exc
    return await get_binding(community_id, binding_id, principal, ctx)


@router.delete(
    "/{community_id}/bindings/{binding_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=PROBLEM_RESPONSES,
    summary="Delete a binding",
)
async def delete_binding(
    community_id: str, binding_id: str, principal: AdminDep, ctx: ContextDep
) -> Response:
    """Unbind a platform space; its webhooks are refused from now on."""
    await _binding_row(community_id, binding_id, principal, ctx)
    async with ctx.db.transaction() as session:
        await repository.delete_binding(session, principal, community_id, binding_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
