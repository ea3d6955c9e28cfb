"""Platform webhooks: verified on the raw body, acknowledged only once durably published."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.ingest import repository
from services.ingest.accept import accept
from services.ingest.api.deps import ContextDep, require_json
from services.ingest.domain import bounds, webhooks
from services.ingest.domain.model import BindingContext, MalformedPayload, SignatureInvalid
from services.ingest.metrics import EVENTS_TOTAL, WEBHOOKS_TOTAL
from shared.api.problems import (
    PROBLEM_RESPONSES,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
)
from shared.api.ratelimit import BINDING_POLICY, TooManyRequests, limit_request
from shared.bus.port import BusUnavailable
from shared.events.community import Platform
from shared.events.envelope import utcnow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/ingest/webhooks", tags=["ingest: webhooks"])
WEBHOOK_PLATFORMS = {p for p in Platform if p is not Platform.API}
RETRY_AFTER_SECONDS = 5


@router.post(
    "/{platform}/{binding_id}",
    responses=PROBLEM_RESPONSES,
    summary="Receive a platform webhook",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": {}}}}},
)
async def receive_webhook(
    platform: str, binding_id: str, request: Request, ctx: ContextDep
) -> JSONResponse:
    """Verify a delivery's signature on its raw body, normalize it and publish it.

    Answers 200 only after the events are acknowledged by Kafka (acks=all); 401 for a
    bad, missing or stale signature; 503 with Retry-After when the broker is down, so
    the platform redelivers. A redelivered event is published once.
    """
    try:
        kind = Platform(platform)
    except ValueError:
        kind = None
    if kind not in WEBHOOK_PLATFORMS:
        raise NotFound(f"No webhooks for platform {platform!r}.")
    assert kind is not None
    require_json(request, "configure the platform's webhook to send application/json")
    body = await request.body()
    if len(body) > ctx.settings.max_body_bytes:
        WEBHOOKS_TOTAL.labels(platform=kind, outcome="too_large").inc()
        raise PayloadTooLarge(f"Body exceeds {ctx.settings.max_body_bytes} bytes.")
    async with ctx.db.sessions() as session:
        binding = await repository.binding_for_delivery(session, kind.value, binding_id)
    if binding is None:
        WEBHOOKS_TOTAL.labels(platform=kind, outcome="unknown_binding").inc()
        raise NotFound(f"No {kind} binding {binding_id!r}.")
    headers = {name.lower(): value for name, value in request.headers.items()}
    now = utcnow()
    try:
        webhooks.verify(
            kind,
            ctx.secrets.open(binding["secrets"]),
            body,
            headers,
            now=now,
            window_s=ctx.settings.replay_window_seconds,
        )
    except SignatureInvalid as exc:
        WEBHOOKS_TOTAL.labels(platform=kind, outcome="bad_signature").inc()
        log.warning("rejected %s webhook for binding %s: %s", kind, binding_id, exc)
        raise Unauthorized(f"Signature check failed: {exc}") from exc
    # Counted once the delivery is known to be the binding's own, so strangers cannot
    # spend a binding's quota; a flood from one binding is answered 429, not queued.
    try:
        limit_request(request, BINDING_POLICY, binding_id)
    except TooManyRequests:
        WEBHOOKS_TOTAL.labels(platform=kind, outcome="rate_limited").inc()
        raise
    binding_ctx = BindingContext(
        tenant_id=binding["tenant_id"],
        community_id=binding["community_id"],
        binding_id=binding_id,
        platform=kind,
        external_id=binding["external_id"],
    )
    try:
        normalized = webhooks.normalize(kind, body, headers, binding_ctx, received_at=now)
    except MalformedPayload as exc:
        WEBHOOKS_TOTAL.labels(platform=kind, outcome="malformed").inc()
        raise BadRequest(f"Malformed {kind} payload: {exc}") from exc
    foreign = [e for e in normalized.events if not webhooks.in_binding_workspace(e, binding_ctx)]
    if foreign:
        WEBHOOKS_TOTAL.labels(platform=kind, outcome="foreign_workspace").inc()
        log.warning(
            "ignored %d %s event(s) of another workspace than binding %s's",
            len(foreign),
            kind,
            binding_id,
        )
        kept = tuple(e for e in normalized.events if e not in foreign)
        normalized = replace(
            normalized,
            events=kept,
            ignored=normalized.ignored or "the payload's workspace is not the binding's",
        )
    if normalized.reply is not None and not normalized.events:
        WEBHOOKS_TOTAL.labels(platform=kind, outcome="replied").inc()
        return JSONResponse(normalized.reply)
    if not normalized.events:
        WEBHOOKS_TOTAL.labels(platform=kind, outcome="ignored").inc()
        return JSONResponse({"accepted": 0, "duplicates": 0, "ignored": normalized.ignored})
    # Checked before anything is published: a delivery is taken whole or not at all.
    for event in normalized.events:
        problems = bounds.event_problems(event, now=now)
        if problems:
            WEBHOOKS_TOTAL.labels(platform=kind, outcome="malformed").inc()
            said = "; ".join(f"{p['loc']}: {p['msg']}" for p in problems)
            raise BadRequest(f"Malformed {kind} payload: {said}")
    try:
        outcomes = await accept(
            ctx.db,
            ctx.bus,
            normalized.events,
            traceparent=getattr(request.state, "traceparent", None),
        )
    except BusUnavailable as exc:
        WEBHOOKS_TOTAL.labels(platform=kind, outcome="bus_unavailable").inc()
        log.error("could not publish %s webhook: %s", kind, exc)
        raise ServiceUnavailable(
            "The event could not be stored durably; retry later.", retry_after=RETRY_AFTER_SECONDS
        ) from exc
    accepted = [o.event_id for o in outcomes if o.status == "accepted"]
    duplicates = len(outcomes) - len(accepted)
    WEBHOOKS_TOTAL.labels(platform=kind, outcome="accepted" if accepted else "duplicate").inc()
    EVENTS_TOTAL.labels(source="webhook", outcome="accepted").inc(len(accepted))
    EVENTS_TOTAL.labels(source="webhook", outcome="duplicate").inc(duplicates)
    answer: dict[str, Any] = {
        "accepted": len(accepted),
        "duplicates": duplicates,
        "event_ids": [o.event_id for o in outcomes],
    }
    if normalized.reply is not None:
        answer = {**normalized.reply}
    return JSONResponse(answer)
