"""A community's retrospective, assembled from every table insights keeps.

Activity, retention, questions and churn risk come from domain/retrospective.py; this
module adds the moderation summary, core changes, polls and the top feedback clusters
with their movement against the period before, and gives one JSON-ready dict.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.insights.context import InsightsContext
from services.insights.domain.intents import Intent
from services.insights.domain.labels import label_clusters
from services.insights.domain.polls import Answer, tally
from services.insights.domain.retrospective import (
    CHURN_WINDOW,
    COHORT_WEEKS,
    MemberDay,
    Question,
    summarise_activity,
)
from services.insights.domain.summary import summarise
from services.insights.repository_activity import Activity
from services.insights.routing import OUTBOX, SOURCE
from services.insights.uow import InsightsUoW
from shared.api.auth import Caller
from shared.db.outbox import Outbox
from shared.events.payloads import InsightEvent, InsightEventType
from shared.events.topics import INSIGHTS

TOP_CLUSTERS = 10
NEW_MEMBER = timedelta(days=30)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def build(
    uow: InsightsUoW, tenant_id: str, community_id: str, start: date, end: date
) -> dict[str, Any]:
    """The retrospective of `[start, end)` as JSON-ready values."""
    activity = uow.activity
    reach = min(
        start - timedelta(days=(end - start).days),
        end - 2 * CHURN_WINDOW,
        end - timedelta(weeks=COHORT_WEEKS + 1),
    )
    days = [
        MemberDay(r["member"], r["day"], r["events"], r["messages"])
        for r in await activity.days_between(tenant_id, community_id, reach, end)
    ]
    first_seen = {
        m: _aware(t).date() for m, t in (await activity.first_seen(tenant_id, community_id)).items()
    }
    questions = [
        Question(_aware(r["asked_at"]), _aware(r["answered_at"]) if r["answered_at"] else None)
        for r in await activity.questions_between(tenant_id, community_id, _at(start), _at(end))
    ]
    figures = summarise_activity(days, first_seen, questions, start=start, end=end)
    core_changes = await activity.core_changes_between(
        tenant_id, community_id, _at(start), _at(end)
    )
    return {
        "community_id": community_id,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "activity": {
            "daily_active": [(d.isoformat(), n) for d, n in figures.daily_active],
            "dau": round(figures.dau, 3),
            "wau": figures.wau,
            "mau": figures.mau,
            "stickiness": None if figures.stickiness is None else round(figures.stickiness, 4),
            "new": figures.new,
            "returning": figures.returning,
            "churned": figures.churned,
            "cohorts": figures.cohorts,
            "top_contributors": figures.top_contributors,
            "churn_risk": figures.churn_risk,
            "questions": figures.questions,
        },
        "core": {
            "joined": [r["member_id"] for r in core_changes if r["core"]],
            "left": [r["member_id"] for r in core_changes if not r["core"]],
        },
        "moderation": await activity.moderation_between(tenant_id, community_id, start, end),
        "polls": await _polls(uow, tenant_id, community_id, start, end),
        "clusters": await _clusters(uow, tenant_id, community_id, start, end),
    }


async def _polls(
    uow: InsightsUoW, tenant_id: str, community_id: str, start: date, end: date
) -> list[dict[str, Any]]:
    core = await uow.feedback.core_of(tenant_id, community_id)
    found = []
    for poll in await uow.activity.polls_of(tenant_id, community_id):
        if not (_at(start) <= _aware(poll["last_at"]) < _at(end)):
            continue
        rows = await uow.activity.answers_of(tenant_id, community_id, poll["poll_id"])
        answers = [
            Answer(r["voter"], tuple(r["options"]), r["text"], _aware(r["answered_at"]))
            for r in rows
        ]
        seen = await uow.activity.first_seen(tenant_id, community_id, [a.voter for a in answers])
        result = tally(
            answers,
            core=core,
            first_seen={k: _aware(v) for k, v in seen.items()},
            new_within=NEW_MEMBER,
        )
        found.append(
            {
                "poll_id": poll["poll_id"],
                "source": poll["source"],
                "voters": result.voters,
                "core_voters": result.core_voters,
                "new_voters": result.new_voters,
                "leading": result.options[0].option if result.options else None,
                "options": {o.option: o.votes for o in result.options},
            }
        )
    return found


async def _clusters(
    uow: InsightsUoW, tenant_id: str, community_id: str, start: date, end: date
) -> list[dict[str, Any]]:
    by_cluster = await uow.feedback.readable_members(Caller.system(tenant_id), community_id)
    labels = label_clusters(
        {cid: [m.text for m in ms if not m.duplicate] for cid, ms in by_cluster.items()}
    )
    window = _at(end) - _at(start)
    rows: list[dict[str, Any]] = []
    for cid, members in by_cluster.items():
        summary = summarise(members, as_of=_at(end), window=window, core=None)
        counts = Counter(Intent(m.intent) for m in members)
        rows.append(
            {
                "id": cid,
                "label": labels[cid].label,
                "intent": max(Intent, key=lambda i: (counts[i], i is not Intent.OTHER)).value,
                "current": summary.trend.current,
                "previous": summary.trend.previous,
                "direction": summary.trend.direction.value,
            }
        )
    rows = [r for r in rows if r["current"] or r["previous"]]
    rows.sort(key=lambda r: (-r["current"], -r["previous"], r["id"]))
    return rows[:TOP_CLUSTERS]


async def publish_month(context: InsightsContext, *, now: datetime | None = None) -> int:
    """Publish last month's retrospective of every community active in it, once each.

    Each is stored and announced by an `insights.retrospective.published` event on
    insights.v1 (the figures, not the member lists), in one transaction per community.
    """
    moment = now or datetime.now(UTC)
    end = moment.date().replace(day=1)
    start = (end - timedelta(days=1)).replace(day=1)
    month = start.strftime("%Y-%m")
    async with context.db.transaction() as session:
        communities = await Activity(session).communities_active_between(start, end)
    published = 0
    for tenant_id, community_id in communities:
        async with context.db.transaction() as session:
            uow = InsightsUoW(session, Outbox(session, OUTBOX))
            if month in await uow.activity.published_periods(tenant_id, community_id):
                continue
            report = await build(uow, tenant_id, community_id, start, end)
            if not await uow.activity.store_retrospective(tenant_id, community_id, month, report):
                continue
            a = report["activity"]
            event = InsightEvent(
                type=InsightEventType.RETROSPECTIVE_PUBLISHED,
                tenant_id=tenant_id,
                community_id=community_id,
                summary={
                    "period": month,
                    "start": report["start"],
                    "end": report["end"],
                    **{
                        k: a[k]
                        for k in ("dau", "wau", "mau", "stickiness", "new", "returning", "churned")
                    },
                    "questions": a["questions"],
                    "moderation": report["moderation"],
                    "clusters": [
                        {k: c[k] for k in ("id", "label", "current", "previous", "direction")}
                        for c in report["clusters"]
                    ],
                },
            )
            await uow.outbox.add(INSIGHTS.name, event.to_envelope(source=SOURCE))
            published += 1
    return published


def retrospective_loops(context: object) -> list[Callable[[], Awaitable[None]]]:
    """The monthly publishing loop (checks every retrospective_interval_seconds)."""
    if not isinstance(context, InsightsContext):
        return []

    async def loop() -> None:
        while True:
            await publish_month(context)
            await asyncio.sleep(context.settings.retrospective_interval_seconds)

    return [loop]
