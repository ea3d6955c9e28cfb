"""Routes of insights' routing: rules per community, routed insights and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.insights.domain.routing import RulesInvalid, parse_rules
from services.insights.uow import InsightsUoW, TransactionDep
from shared.api.auth import Caller, require_community, require_scopes
from shared.api.problems import PROBLEM_RESPONSES, NotFound, PayloadTooLarge, Problem

router = APIRouter(prefix="/v1/insights", tags=["insights"])

ReadDep = Annotated[Caller, Depends(require_scopes("insights:read"))]
WriteDep = Annotated[Caller, Depends(require_scopes("insights:write"))]
UoWDep = Annotated[InsightsUoW, TransactionDep]
LimitQuery = Annotated[int, Query(ge=1, le=500, description="newest first, at most this many")]

MAX_RULES_BYTES = 64 * 1024
_YAML_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/yaml": {"schema": {"type": "string"}}},
    }
}


class InvalidRoutingRules(Problem):
    """Uploaded routing rules do not validate; `errors` name the line and field of each."""

    status = 422
    title = "Invalid routing rules"


class RoutingRulesOut(BaseModel):
    """A community's routing rules, webhook secrets shown as ***."""

    community_id: str
    rules: dict[str, Any]


class RoutedOut(BaseModel):
    """An insight a rule routed to a team."""

    id: str = Field(description="also the id of its insights.insight.routed event")
    cluster_id: str | None = Field(description="null for a digest")
    rule: str
    team: str
    trigger: str
    kind: str = Field(description="alert, insight, content_idea or digest")
    delivery: str = Field(description="instant, daily or weekly")
    period: str | None = Field(description="the digest period it belongs to")
    digest_id: str | None = Field(description="the digest that carried it, once sent")
    body: dict[str, Any] = Field(description="the insight as destinations receive it")
    created_at: datetime


class DeliveryOut(BaseModel):
    """A webhook delivery of a routed insight."""

    id: str = Field(description="the X-Hearth-Delivery header: the same on every attempt")
    insight_id: str
    destination: str
    url: str
    format: str
    status: str = Field(description="pending, in_flight, delivered or failed")
    attempts: int
    next_attempt_at: datetime
    last_status: int | None = Field(description="the receiver's last HTTP status")
    last_error: str | None = Field(description="the last network error's kind")
    created_at: datetime
    delivered_at: datetime | None


class RoutedList(BaseModel):
    """Routed insights, newest first."""

    items: list[RoutedOut]


class DeliveryList(BaseModel):
    """Deliveries, newest first."""

    items: list[DeliveryOut]


@router.put(
    "/communities/{community_id}/routing",
    summary="Set a community's routing rules",
    description=(
        "Upload the community's routing rules as YAML (docs/insights.md, 'Routing'): named "
        "webhook destinations (URL, `slack` or `json` body, HMAC-SHA256 secret) and rules "
        "(team, intents, trigger `size` / `spike` / `sentiment_swing`, thresholds, delivery "
        "`instant` / `daily` / `weekly`, destinations). Validated first: a 422 problem lists "
        "every error with its line and field. Replaces the previous rules. Needs "
        "`insights:write`."
    ),
    response_model=RoutingRulesOut,
    responses=PROBLEM_RESPONSES,
    openapi_extra=_YAML_BODY,
)
async def put_routing(
    community_id: str, request: Request, caller: WriteDep, uow: UoWDep
) -> RoutingRulesOut:
    """Validate and store the community's routing rules."""
    require_community(caller, community_id)
    raw = await request.body()
    if len(raw) > MAX_RULES_BYTES:
        raise PayloadTooLarge(f"Routing rules are at most {MAX_RULES_BYTES:,} bytes.")
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRoutingRules("The rules must be UTF-8 text.") from None
    try:
        rules = parse_rules(source)
    except RulesInvalid as error:
        raise InvalidRoutingRules(
            f"{len(error.problems)} problem(s); the first: {error.problems[0].message}"
            + (f" (line {error.problems[0].line})" if error.problems[0].line else ""),
            errors=[
                {"loc": p.path, "line": p.line, "msg": p.message, "type": "invalid_routing"}
                for p in error.problems
            ],
        ) from None
    await uow.routing.set_rules(caller.tenant_id, community_id, source)
    return RoutingRulesOut(community_id=community_id, rules=rules.redacted())


@router.get(
    "/communities/{community_id}/routing",
    summary="Get a community's routing rules",
    description="The rules last uploaded, parsed, with webhook secrets shown as `***`. "
    "404 while the community has none (nothing is routed then).",
    response_model=RoutingRulesOut,
    responses=PROBLEM_RESPONSES,
)
async def get_routing(community_id: str, caller: ReadDep, uow: UoWDep) -> RoutingRulesOut:
    """The community's routing rules."""
    require_community(caller, community_id)
    source = await uow.routing.rules_of(caller.tenant_id, community_id)
    if source is None:
        raise NotFound("This community has no routing rules.")
    return RoutingRulesOut(community_id=community_id, rules=parse_rules(source).redacted())


@router.get(
    "/communities/{community_id}/routed",
    summary="Insights routed to teams",
    description="What the community's rules routed, newest first: instant alerts, insights "
    "waiting for (or carried by) a digest, and digests, each with the body destinations "
    "receive (cluster label, figures, source links).",
    response_model=RoutedList,
    responses=PROBLEM_RESPONSES,
)
async def list_routed(
    community_id: str, caller: ReadDep, uow: UoWDep, limit: LimitQuery = 100
) -> RoutedList:
    """The community's routed insights."""
    require_community(caller, community_id)
    rows = await uow.routing.routed_of(caller, community_id, limit)
    return RoutedList(items=[RoutedOut.model_validate(dict(r)) for r in rows])


@router.get(
    "/communities/{community_id}/deliveries",
    summary="Webhook deliveries of routed insights",
    description="Every webhook call recorded for the community's routed insights, newest "
    "first: status (pending, in_flight, delivered, failed), attempts, the receiver's last "
    "status, when it was delivered. The delivery id is the X-Hearth-Delivery header a "
    "receiver dedupes on.",
    response_model=DeliveryList,
    responses=PROBLEM_RESPONSES,
)
async def list_deliveries(
    community_id: str, caller: ReadDep, uow: UoWDep, limit: LimitQuery = 100
) -> DeliveryList:
    """The community's deliveries."""
    require_community(caller, community_id)
    rows = await uow.routing.deliveries_of(caller, community_id, limit)
    return DeliveryList(items=[DeliveryOut.model_validate(dict(r)) for r in rows])
