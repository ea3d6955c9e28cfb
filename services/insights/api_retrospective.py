"""Routes of retrospectives: a month (or any period) of a community, as JSON, Markdown or HTML."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from services.insights.domain.retrospective import month_bounds
from services.insights.retrospective import build
from services.insights.retrospective_render import html_report, markdown
from services.insights.uow import InsightsUoW, TransactionDep
from shared.api.auth import Caller, require_community, require_scopes
from shared.api.problems import PROBLEM_RESPONSES, Problem

router = APIRouter(prefix="/v1/insights", tags=["insights"])

ReadDep = Annotated[Caller, Depends(require_scopes("insights:read"))]
UoWDep = Annotated[InsightsUoW, TransactionDep]
MAX_DAYS = 366


class Locale(StrEnum):
    """Languages a retrospective is written in."""

    EN = "en"
    RU = "ru"


class Format(StrEnum):
    """How a retrospective is returned."""

    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


class BadPeriod(Problem):
    """The period asked for is not a month, or its bounds are out of order or too far apart."""

    status = 422
    title = "Invalid period"


class Retrospective(BaseModel):
    """A community's retrospective over `[start, end)`."""

    community_id: str
    start: date
    end: date = Field(description="exclusive")
    activity: dict[str, Any] = Field(
        description="daily_active [[day, members]], dau (mean daily actives), wau (distinct in "
        "the last 7 days), mau (distinct in the period), stickiness (dau / mau), new, "
        "returning (active in the period before too), churned (active before, not now), "
        "cohorts (weekly, by first seen: share active per week since), top_contributors, "
        "churn_risk, questions (asked, answered, median_first_response_seconds)"
    )
    core: dict[str, list[str]] = Field(
        description="joined and left: members whose core change falls in the period"
    )
    moderation: dict[str, int] = Field(description="verdicts, removed and restored, counted")
    polls: list[dict[str, Any]] = Field(
        description="polls answered in the period: voters, leading option, votes"
    )
    clusters: list[dict[str, Any]] = Field(
        description="top feedback clusters by distinct messages in the period, with the "
        "period before and the movement"
    )


def period(month: str | None, start: date | None, end: date | None) -> tuple[date, date]:
    """The period asked for: a month, explicit bounds, or the last full month."""
    if month is not None:
        if start is not None or end is not None:
            raise BadPeriod("Name either `month` or `start` and `end`, not both.")
        try:
            return month_bounds(month)
        except ValueError:
            raise BadPeriod("`month` is YYYY-MM, e.g. 2026-11.") from None
    if start is not None and end is not None:
        if not start < end or (end - start).days > MAX_DAYS:
            raise BadPeriod(f"`start` must come before `end`, at most {MAX_DAYS} days apart.")
        return start, end
    if start is not None or end is not None:
        raise BadPeriod("Name both `start` and `end`.")
    first_of_this_month = datetime.now(UTC).date().replace(day=1)
    return (first_of_this_month - timedelta(days=1)).replace(day=1), first_of_this_month


@router.get(
    "/communities/{community_id}/retrospective",
    response_model=Retrospective,
    summary="A community's retrospective (JSON, Markdown or HTML)",
    description=(
        "Activity (DAU, WAU, MAU, stickiness), new, returning and churned members, weekly "
        "retention cohorts, questions and the median time to their first response, top "
        "contributors, core-member changes, a moderation summary, polls, the top feedback "
        "clusters and how they moved against the period before, and the churn-risk list. "
        "The period: `month` (YYYY-MM), or `start` and `end` (end exclusive, at most 366 "
        "days), or by default the last full month (UTC). `format=markdown` or `html` (charts "
        "inline as SVG) renders it in `locale` (`en` or `ru`). Computed on demand from what "
        "insights has read; nothing is stored."
    ),
    responses={
        **PROBLEM_RESPONSES,
        200: {"content": {"text/markdown": {}, "text/html": {}}},
    },
)
async def get_retrospective(
    community_id: str,
    caller: ReadDep,
    uow: UoWDep,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    start: date | None = None,
    end: date | None = None,
    format: Format = Format.JSON,
    locale: Locale = Locale.EN,
) -> Any:
    """The community's retrospective."""
    require_community(caller, community_id)
    first, last = period(month, start, end)
    report = await build(uow, caller.tenant_id, community_id, first, last)
    if format is Format.MARKDOWN:
        return PlainTextResponse(markdown(report, locale.value), media_type="text/markdown")
    if format is Format.HTML:
        page = await asyncio.to_thread(html_report, report, locale.value)
        return HTMLResponse(page)
    return Response(
        Retrospective.model_validate(report).model_dump_json(), media_type="application/json"
    )


class ChurnRisk(BaseModel):
    """A member whose activity dropped sharply."""

    member: str = Field(description="the member id, or platform:user id until ingest knows it")
    events_before: int = Field(description="events in the 28 days before the last 28")
    events_recent: int = Field(description="events in the last 28 days (under a quarter of before)")
    last_seen: date


class ChurnRiskList(BaseModel):
    """Members at risk of leaving, sharpest drop first."""

    as_of: date
    items: list[ChurnRisk]


@router.get(
    "/communities/{community_id}/churn-risk",
    response_model=ChurnRiskList,
    summary="Members at risk of leaving",
    description=(
        "Members who did at least 5 events in the 28 days before the last 28 and fewer than "
        "a quarter of that since, sharpest drop first (at most 50), for community managers "
        "to reach out to. `as_of` (a day, exclusive) defaults to tomorrow (UTC), so today counts."
    ),
    responses=PROBLEM_RESPONSES,
)
async def get_churn_risk(
    community_id: str, caller: ReadDep, uow: UoWDep, as_of: date | None = None
) -> ChurnRiskList:
    """The community's churn-risk list."""
    require_community(caller, community_id)
    end = as_of or datetime.now(UTC).date() + timedelta(days=1)
    report = await build(uow, caller.tenant_id, community_id, end - timedelta(days=28), end)
    return ChurnRiskList(
        as_of=end, items=[ChurnRisk.model_validate(c) for c in report["activity"]["churn_risk"]]
    )


class PublishedRetrospective(BaseModel):
    """A month's retrospective as it was published at the month's end."""

    period: str = Field(description="YYYY-MM")
    published_at: datetime
    retrospective: Retrospective


class PublishedList(BaseModel):
    """The community's published retrospectives, newest month first."""

    items: list[PublishedRetrospective]


@router.get(
    "/communities/{community_id}/retrospectives",
    response_model=PublishedList,
    summary="A community's published monthly retrospectives",
    description=(
        "Shortly after each month ends (checked every HEARTH_INSIGHTS_RETROSPECTIVE_INTERVAL_"
        "SECONDS), the month's retrospective of every community active in it is stored and "
        "announced by an `insights.retrospective.published` event on insights.v1. This lists "
        "them as published, newest first; `/retrospective?month=` recomputes any month."
    ),
    responses=PROBLEM_RESPONSES,
)
async def list_retrospectives(community_id: str, caller: ReadDep, uow: UoWDep) -> PublishedList:
    """The community's published retrospectives."""
    require_community(caller, community_id)
    rows = await uow.activity.retrospectives_of(caller.tenant_id, community_id)
    return PublishedList(
        items=[
            PublishedRetrospective(
                period=r["period"],
                published_at=r["published_at"]
                if r["published_at"].tzinfo
                else r["published_at"].replace(tzinfo=UTC),
                retrospective=Retrospective.model_validate(r["body"]),
            )
            for r in rows
        ]
    )
