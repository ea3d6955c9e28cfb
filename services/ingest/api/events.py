"""Integrator REST: send events in (one or a batch of up to 1,000), list what was received."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from services.ingest import repository
from services.ingest.accept import (
    PLATFORM_SCOPE,
    Idempotency,
    IdempotencyTaken,
    Outcome,
    accept,
    account_of,
)
from services.ingest.api.deps import (
    ContextDep,
    EventsReadDep,
    EventsWriteDep,
    community_of,
    require_json,
)
from services.ingest.domain import bounds
from services.ingest.metrics import EVENTS_TOTAL
from services.ingest.schemas import MAX_BATCH, BatchIn, EventIn
from shared.api.auth import Caller, Principal
from shared.api.limits import declared_cap
from shared.api.openapi import inline_schema
from shared.api.pagination import CursorDep, LimitDep, Page, cursor_int, encode_cursor
from shared.api.problems import (
    PROBLEM_RESPONSES,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    Problem,
    ServiceUnavailable,
    field_errors,
)
from shared.bus.port import BusUnavailable
from shared.events.community import Actor, CommunityEvent, CommunityEventType, Platform
from shared.events.envelope import utcnow

router = APIRouter(prefix="/v1/ingest/events", tags=["ingest: events"])
API_NAMESPACE = "api:"
"""Where an integrator's dedup keys live, unless its key holds events:platform."""
MAX_BODY = 8 * 1024 * 1024  # a batch of 1,000 events; enforced while it streams in


class ItemResult(BaseModel):
    """What became of one event of the request, by its position."""

    index: int
    status: str
    event_id: str | None = None
    errors: list[dict[str, Any]] | None = None


class EventsAccepted(BaseModel):
    """One result per event sent, in order."""

    items: list[ItemResult]


_BODY_SCHEMA = inline_schema(EventIn, BatchIn)


@router.post(
    "",
    responses={**PROBLEM_RESPONSES, 207: {"model": EventsAccepted, "description": "some rejected"}},
    response_model=EventsAccepted,
    summary="Send community events",
    openapi_extra=declared_cap(
        {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _BODY_SCHEMA}},
            }
        },
        MAX_BODY,
    ),
)
async def send_events(
    request: Request,
    principal: EventsWriteDep,
    ctx: ContextDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JSONResponse:
    """Accept one event (`EventIn`) or a batch `{"events": [...]}` of up to 1,000.

    Each event is answered on its own: `accepted` (published now), `duplicate` (its
    dedup key was received before) or `rejected` with the reasons; 207 when any was
    rejected. A repeated `Idempotency-Key` with the same body replays the first answer.
    The answer comes only after Kafka acknowledged the accepted events.
    """
    require_json(request)
    body = await request.body()
    if len(body) > MAX_BODY:
        raise PayloadTooLarge(f"Body exceeds {MAX_BODY} bytes.")
    request_hash = hashlib.sha256(body).hexdigest()
    if idempotency_key:
        replay = await _replay(ctx, principal, idempotency_key, request_hash)
        if replay is not None:
            return replay
    raw_items, single = _items_of(body)
    results: list[ItemResult | None] = [None] * len(raw_items)
    drafts: list[tuple[int, CommunityEvent]] = []
    known_communities: dict[str, bool] = {}
    now = utcnow()
    for index, raw in enumerate(raw_items):
        try:
            item = EventIn.model_validate(raw)
        except ValidationError as exc:
            results[index] = ItemResult(
                index=index, status="rejected", errors=field_errors(exc.errors())
            )
            continue
        if item.community_id not in known_communities:
            known_communities[item.community_id] = await _accessible(
                ctx, principal, item.community_id
            )
        if not known_communities[item.community_id]:
            results[index] = ItemResult(
                index=index,
                status="rejected",
                errors=[{"loc": "community_id", "msg": "unknown community", "type": "not_found"}],
            )
            continue
        draft = _draft(item, principal.tenant_id, principal)
        problems = bounds.event_problems(draft, now=now) + _asserted_problems(draft, principal)
        if problems:
            results[index] = ItemResult(index=index, status="rejected", errors=list(problems))
            continue
        drafts.append((index, draft))
    rejected = any(r is not None and r.status == "rejected" for r in results)
    if rejected and single:
        errors = next(r.errors for r in results if r is not None) or []
        if any(e.get("type") == "not_found" for e in errors):
            raise NotFound("No such community for this key.")
        raise Problem("The event was rejected.", status=422, errors=errors)

    def answer_of(outcomes: list[Outcome]) -> tuple[int, dict[str, Any]]:
        for (index, _), outcome in zip(drafts, outcomes, strict=True):
            results[index] = ItemResult(
                index=index, status=outcome.status, event_id=outcome.event_id, errors=outcome.errors
            )
        items = [r for r in results if r is not None]
        status_code = 207 if any(r.status == "rejected" for r in items) else 200
        return status_code, EventsAccepted(items=items).model_dump(mode="json", exclude_none=True)

    claim = (
        Idempotency(principal.tenant_id, idempotency_key, request_hash, answer_of)
        if idempotency_key
        else None
    )
    try:
        outcomes = await accept(
            ctx.db,
            ctx.bus,
            [draft for _, draft in drafts],
            traceparent=getattr(request.state, "traceparent", None),
            caller=principal,
            idempotency=claim,
        )
    except BusUnavailable as exc:
        raise ServiceUnavailable(
            "Events could not be stored durably; nothing was accepted. Retry later.",
            retry_after=5,
        ) from exc
    except IdempotencyTaken:
        # A concurrent request with this key committed its answer while this one waited.
        replay = await _replay(ctx, principal, idempotency_key or "", request_hash)
        if replay is None:
            raise ServiceUnavailable(
                "Another request with this Idempotency-Key is in progress; retry later.",
                retry_after=1,
            ) from None
        return replay
    status_code, answer = answer_of(outcomes)
    for item in answer["items"]:
        EVENTS_TOTAL.labels(source="api", outcome=item["status"]).inc()
    return JSONResponse(answer, status_code=status_code)


def _loads(body: bytes) -> Any:
    try:
        return bounds.loads(body)
    except bounds.TooDeep as exc:
        raise BadRequest(f"Body {exc}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"Body is not valid JSON: {exc}") from exc


def _items_of(body: bytes) -> tuple[list[Any], bool]:
    """The events sent, and whether the body was a single event rather than a batch."""
    payload = _loads(body)
    if isinstance(payload, dict) and "events" in payload:
        extra = sorted(set(payload) - {"events"})
        if extra:
            raise BadRequest(f"Unknown fields beside 'events': {extra}.")
        events = payload["events"]
        if not isinstance(events, list) or not events:
            raise BadRequest("'events' must be a non-empty list.")
        if len(events) > MAX_BATCH:
            raise PayloadTooLarge(f"A batch holds at most {MAX_BATCH} events, got {len(events)}.")
        return events, False
    if isinstance(payload, dict):
        return [payload], True
    raise BadRequest('Send one event object or {"events": [...]}.')


async def _accessible(ctx: ContextDep, principal: Principal, community_id: str) -> bool:
    async with ctx.db.sessions() as session:
        return await repository.get_community(session, principal, community_id) is not None


async def _replay(
    ctx: ContextDep, principal: Principal, key: str, request_hash: str
) -> JSONResponse | None:
    async with ctx.db.sessions() as session:
        stored = await repository.get_idempotent(session, principal, key)
    if stored is None:
        return None
    if stored["request_hash"] != request_hash:
        raise Problem(
            "This Idempotency-Key was used with a different body.",
            status=422,
            title="Idempotency-Key reused",
        )
    return JSONResponse(
        stored["response"],
        status_code=stored["status_code"],
        headers={"Idempotent-Replayed": "true"},
    )


def _draft(item: EventIn, tenant_id: str, caller: Caller | None = None) -> CommunityEvent:
    """The canonical event of an integrator's item. Unless the key may speak for the
    platform (accept.speaks_for_platform), its dedup key is put in the `api:` namespace,
    where no verified delivery's key lives: an integrator cannot pre-empt a webhook."""
    dedup = item.dedup_key
    if dedup is None and item.source_event_id:
        dedup = f"{item.platform.value}:{item.source_event_id}"
    if dedup is None:
        canonical = json.dumps(item.model_dump(mode="json"), sort_keys=True)
        dedup = "api:sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    elif not dedup.startswith(API_NAMESPACE) and not (
        caller is not None and caller.has_scope(PLATFORM_SCOPE)
    ):
        dedup = API_NAMESPACE + dedup
    return CommunityEvent(
        type=item.type,
        occurred_at=item.occurred_at,
        tenant_id=tenant_id,
        community_id=item.community_id,
        platform=item.platform,
        workspace_id=item.workspace_id,
        channel_id=item.channel_id,
        thread_id=item.thread_id,
        parent_id=item.parent_id,
        source_event_id=item.source_event_id,
        dedup_key=dedup,
        actor=Actor(**item.actor.model_dump()),
        object_actor=Actor(**item.object_actor.model_dump()) if item.object_actor else None,
        content=item.content,
        attributes=item.attributes,
        backfilled=item.backfilled,
    )


def _asserted_problems(event: CommunityEvent, caller: Caller) -> list[bounds.Problem]:
    """An integrator-asserted identity (`api`, `{platform}:{id}`) must fit the identity."""
    found: list[bounds.Problem] = []
    for loc, actor in (("actor", event.actor), ("object_actor", event.object_actor)):
        if actor is None:
            continue
        _, user_id = account_of(caller, event.platform.value, actor.platform_user_id)
        if len(user_id) > bounds.MAX_USER_ID:
            found.append(
                bounds.problem(
                    f"{loc}.platform_user_id",
                    f"with its platform, longer than {bounds.MAX_USER_ID} characters",
                )
            )
    return found


@router.get("", responses=PROBLEM_RESPONSES, summary="List received events")
async def list_events(
    principal: EventsReadDep,
    ctx: ContextDep,
    limit: LimitDep,
    cursor: CursorDep,
    community_id: Annotated[str, Query(description="the community to list")],
    type: Annotated[CommunityEventType | None, Query(description="only this event type")] = None,
    platform: Annotated[Platform | None, Query()] = None,
    member_id: Annotated[str | None, Query(description="only this member's events")] = None,
    since: Annotated[datetime | None, Query(description="occurred at or after")] = None,
    until: Annotated[datetime | None, Query(description="occurred before")] = None,
) -> Page[CommunityEvent]:
    """Recent normalized events of a community, newest first: what Hearth received."""
    await community_of(ctx, principal, community_id)
    before = cursor_int(cursor, "before")
    async with ctx.db.sessions() as session:
        rows = await repository.list_received(
            session,
            principal,
            community_id,
            before_seq=before,
            limit=limit + 1,
            event_type=type.value if type else None,
            platform=platform.value if platform else None,
            member_id=member_id,
            since=since,
            until=until,
        )
    page = rows[:limit]
    next_cursor = encode_cursor({"before": page[-1]["seq"]}) if len(rows) > limit else None
    return Page(
        items=[CommunityEvent.model_validate(row["payload"]) for row in page],
        next_cursor=next_cursor,
    )
