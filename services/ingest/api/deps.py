"""Dependencies every ingest route uses."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import RowMapping

from services.ingest import repository
from services.ingest.context import IngestContext
from shared.api.auth import Principal, require_community, require_scopes
from shared.api.problems import NotFound, Problem


def ingest_context(request: Request) -> IngestContext:
    """The ingest service's context, built at startup."""
    context: IngestContext = request.app.state.ingest
    return context


ContextDep = Annotated[IngestContext, Depends(ingest_context)]
AdminDep = Annotated[Principal, Depends(require_scopes("admin"))]
# Acts on the tenant as a whole (e.g. creates a community): no community-limited keys.
TenantAdminDep = Annotated[Principal, Depends(require_scopes("admin", tenant_wide=True))]
EventsWriteDep = Annotated[Principal, Depends(require_scopes("events:write"))]
EventsReadDep = Annotated[Principal, Depends(require_scopes("events:read"))]
MembersReadDep = Annotated[Principal, Depends(require_scopes("members:read"))]
MembersWriteDep = Annotated[Principal, Depends(require_scopes("members:write"))]


async def community_of(
    context: IngestContext, principal: Principal, community_id: str
) -> RowMapping:
    """The caller's community, or 404 (403 when the key is limited to other communities).

    The read itself is scoped by the caller (repository.readable_communities)."""
    require_community(principal, community_id)
    async with context.db.sessions() as session:
        row = await repository.get_community(session, principal, community_id)
    if row is None:
        raise NotFound(f"No community {community_id!r}.")
    return row


def require_json(request: Request, fix: str = "send it as application/json") -> None:
    """415 for a body declared as anything but JSON (text/plain, forms, multipart).

    No platform ingest speaks to sends webhooks as text/plain, and refusing the CORS
    "simple" types means no browser page can post here without a preflight. A body with
    no Content-Type is read as JSON (some senders omit it)."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return
    raise Problem(
        f"Content-Type {media_type or '(empty)'!r} is not accepted here; {fix}.",
        status=415,
    )
