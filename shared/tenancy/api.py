"""Admin REST for a tenant's own API keys and the tenant itself, under /v1/admin/.

Every route needs an `admin` key that covers the whole tenant (not one limited to some
communities) and acts only on that key's tenant; operators manage every tenant with
`hearth admin`. A revocation or deletion is refused from the very next request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from shared.api.auth import SCOPES, Caller, UnknownScopes, require_scopes
from shared.api.problems import PROBLEM_RESPONSES, NotFound, Problem
from shared.db.engine import Database
from shared.tenancy.repository import (
    KeyInfo,
    UnknownTenant,
    create_key,
    delete_tenant,
    list_keys,
    revoke_key,
)

TenantAdmin = Annotated[Caller, Depends(require_scopes("admin", tenant_wide=True))]


class KeyIn(BaseModel):
    """A key to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    scopes: list[str] = Field(min_length=1, max_length=len(SCOPES), description=", ".join(SCOPES))
    community_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="limit the key to these communities; null: every community",
    )


class KeyOut(BaseModel):
    """A key as listed: never its secret or hash."""

    key_id: str
    name: str
    scopes: list[str]
    community_ids: list[str] | None
    revoked: bool
    created_at: datetime
    revoked_at: datetime | None


class CreatedKey(KeyOut):
    """A new key: `key` is the plaintext, shown this once."""

    key: str


def _tenancy_db(request: Request) -> Database:
    db: Database | None = getattr(getattr(request.app.state, "api_keys", None), "db", None)
    if db is None:
        raise RuntimeError("app.state.api_keys has no database; use SqlApiKeyStore")
    return db


TenancyDb = Annotated[Database, Depends(_tenancy_db)]


def _out(info: KeyInfo) -> KeyOut:
    return KeyOut(
        key_id=info.key_id,
        name=info.name,
        scopes=info.scopes,
        community_ids=info.community_ids,
        revoked=info.revoked,
        created_at=info.created_at,
        revoked_at=info.revoked_at,
    )


def admin_router() -> APIRouter:
    """The /v1/admin routes."""
    router = APIRouter(prefix="/v1/admin", tags=["admin: keys and tenant"])

    @router.get("/keys", responses=PROBLEM_RESPONSES, summary="List the tenant's API keys")
    async def get_keys(caller: TenantAdmin, db: TenancyDb) -> list[KeyOut]:
        """Every key of the caller's tenant, revoked ones too."""
        return [_out(info) for info in await list_keys(db, caller.tenant_id)]

    @router.post(
        "/keys",
        status_code=status.HTTP_201_CREATED,
        responses=PROBLEM_RESPONSES,
        summary="Create an API key",
    )
    async def post_key(body: KeyIn, caller: TenantAdmin, db: TenancyDb) -> CreatedKey:
        """A new key of the caller's tenant; 422 for a scope Hearth does not define."""
        try:
            plaintext = await create_key(
                db,
                tenant_id=caller.tenant_id,
                name=body.name,
                scopes=body.scopes,
                community_ids=body.community_ids,
            )
        except UnknownScopes as exc:
            raise Problem(
                str(exc),
                status=422,
                errors=[{"loc": "body.scopes", "msg": str(exc), "type": "value_error"}],
            ) from exc
        except UnknownTenant as exc:  # deleted between authentication and now
            raise NotFound("No such tenant.") from exc
        key_id = plaintext.split("_")[1]
        info = next(i for i in await list_keys(db, caller.tenant_id) if i.key_id == key_id)
        return CreatedKey(**_out(info).model_dump(), key=plaintext)

    @router.delete(
        "/keys/{key_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=PROBLEM_RESPONSES,
        summary="Revoke an API key",
    )
    async def delete_key(key_id: str, caller: TenantAdmin, db: TenancyDb) -> Response:
        """Revoke one of the tenant's keys; it is refused from the next request on."""
        if not await revoke_key(db, key_id, tenant_id=caller.tenant_id):
            raise NotFound(f"No key {key_id!r}.")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.delete(
        "/tenant",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=PROBLEM_RESPONSES,
        summary="Delete the tenant",
    )
    async def delete_own_tenant(caller: TenantAdmin, db: TenancyDb) -> Response:
        """Delete the caller's tenant: every key of it, this one too, is refused from now on."""
        try:
            await delete_tenant(db, caller.tenant_id)
        except UnknownTenant as exc:
            raise NotFound("No such tenant.") from exc
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
