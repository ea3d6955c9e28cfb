"""HTTP routes of the insights service, under /v1/insights/."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.insights.domain.clustering import cluster_batch, representatives
from services.insights.domain.intents import Intent
from services.insights.domain.labels import label_clusters
from services.insights.domain.summary import summarise
from services.insights.domain.text import fingerprint
from services.insights.embedding import encode_async
from services.insights.intents import load_model
from services.insights.repository import StoredMember
from services.insights.schemas import (
    MAX_ANALYZE_ITEMS,
    AnalyzedCluster,
    AnalyzeIn,
    AnalyzeOut,
    ChannelOut,
    ClusterDetail,
    ClusterList,
    Representative,
    SentimentMix,
    StoredCluster,
    TrendOut,
)
from services.insights.settings import Settings
from services.insights.uow import InsightsUoW, TransactionDep
from shared.api.auth import Caller, require_community, require_scopes
from shared.api.problems import PROBLEM_RESPONSES, NotFound, PayloadTooLarge, Problem

router = APIRouter(prefix="/v1/insights", tags=["insights"])

# Clusters quote members' messages; insights:read reads them, and runs an analysis of an
# export (nothing read or stored, but it takes the encoder's CPU).
ReadDep = Annotated[Caller, Depends(require_scopes("insights:read"))]


WindowQuery = Annotated[float | None, Query(gt=0, le=366, description="trend window in days")]
AsOfQuery = Annotated[
    datetime | None, Query(description="end of the trend's current window (default: now)")
]


class DuplicateIds(Problem):
    """Two items share an id, so the answer could not tell them apart."""

    status = 422


def _majority(intents: list[Intent]) -> Intent:
    counts = Counter(intents)
    return max(Intent, key=lambda intent: (counts[intent], intent is not Intent.OTHER))


@router.post(
    "/analyze",
    response_model=AnalyzeOut,
    summary="Cluster an export of messages (stores nothing)",
    description=(
        "Embeds each text with the packaged multilingual encoder, clusters them online "
        "(nearest centroid above a similarity threshold, close centroids merged), and labels "
        "each cluster by c-TF-IDF keywords in its languages, with its most frequent intent. "
        f"Up to {MAX_ANALYZE_ITEMS:,} items; more is 413. Near-identical texts land in one "
        "cluster. English and Russian paraphrases of one topic land together."
    ),
    responses=PROBLEM_RESPONSES,
)
async def analyze(body: AnalyzeIn, _caller: ReadDep) -> AnalyzeOut:
    """Cluster the items given and return the clusters with their item ids."""
    if len(body.items) > MAX_ANALYZE_ITEMS:
        raise PayloadTooLarge(
            f"At most {MAX_ANALYZE_ITEMS:,} items per request; this one has {len(body.items):,}."
        )
    ids = [item.id for item in body.items]
    if len(set(ids)) != len(ids):
        raise DuplicateIds("Every item needs its own id.")
    texts = [item.text for item in body.items]
    vectors = await encode_async(texts)
    model = load_model()
    labels_of = await asyncio.to_thread(
        cluster_batch, vectors, [fingerprint(t) for t in texts], prior_centre=model.centre
    )
    intents = model.predict(vectors)
    grouped: dict[str, list[int]] = {}
    for index, cluster_id in enumerate(labels_of):
        grouped.setdefault(cluster_id, []).append(index)
    ordered = sorted(grouped.values(), key=lambda members: (-len(members), members[0]))
    named = {f"c{n}": members for n, members in enumerate(ordered, start=1)}
    labels = label_clusters({cid: [texts[i] for i in members] for cid, members in named.items()})
    return AnalyzeOut(
        clusters=[
            AnalyzedCluster(
                id=cid,
                label=labels[cid].label,
                keywords=labels[cid].keywords,
                intent=_majority([intents[i] for i in members]),
                items=[ids[i] for i in members],
            )
            for cid, members in named.items()
        ]
    )


@router.get(
    "/communities/{community_id}/clusters",
    response_model=ClusterList,
    summary="A community's feedback clusters",
    description=(
        "Clusters built as feedback streams in (explicit feedback, and chat messages the "
        "intent classifier finds feedback in), biggest first: label and keywords in the "
        "cluster's languages, intent, size (near-identical messages count once), distinct "
        "members, 3 representative messages linking to their source events, the sentiment "
        "mix, the trend (distinct messages in the window ending at `as_of` against the "
        "window before; `window_days` defaults to HEARTH_INSIGHTS_TREND_WINDOW_DAYS, 7), "
        "the platforms and channels it spans, and the share of core members once "
        "gamification has reported any. Content moderation removed is not shown (restored "
        "content is back in its cluster). Needs `insights:read` and a key covering the "
        "community."
    ),
    responses=PROBLEM_RESPONSES,
)
async def list_clusters(
    community_id: str,
    caller: ReadDep,
    uow: Annotated[InsightsUoW, TransactionDep],
    request: Request,
    window_days: WindowQuery = None,
    as_of: AsOfQuery = None,
) -> ClusterList:
    """Every cluster of the community the caller may read."""
    items, _ = await _clusters(community_id, caller, uow, request, window_days, as_of)
    return ClusterList(items=items)


async def _clusters(
    community_id: str,
    caller: Caller,
    uow: InsightsUoW,
    request: Request,
    window_days: float | None,
    as_of: datetime | None,
) -> tuple[list[StoredCluster], dict[str, list[StoredMember]]]:
    require_community(caller, community_id)
    context = getattr(request.app.state, "insights", None)
    settings: Settings = context.settings if context is not None else Settings()
    window = timedelta(days=window_days or settings.trend_window_days)
    end = as_of if as_of is not None else datetime.now(UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    by_cluster = await uow.feedback.readable_members(caller, community_id)
    core = await uow.feedback.core_of(caller.tenant_id, community_id)
    aliases = await uow.feedback.aliases_of(list(by_cluster))
    labels = label_clusters(
        {cid: [m.text for m in members if not m.duplicate] for cid, members in by_cluster.items()}
    )
    items = []
    for cid, members in by_cluster.items():
        counted = [m for m in members if not m.duplicate] or members
        best = representatives([m.vector for m in counted])
        summary = summarise(members, as_of=end, window=window, core=core)
        platforms: dict[str, int] = {}
        for channel in summary.channels:
            platforms[channel.platform] = platforms.get(channel.platform, 0) + channel.messages
        items.append(
            StoredCluster(
                id=cid,
                label=labels[cid].label,
                keywords=labels[cid].keywords,
                intent=_majority([Intent(m.intent) for m in members]),
                size=len([m for m in members if not m.duplicate]),
                messages=len(members),
                members=len({m.member_id or m.event_id for m in members}),
                representatives=[
                    Representative(
                        event_id=counted[i].event_id,
                        source_event_id=counted[i].source_event_id,
                        platform=counted[i].platform,
                        channel_id=counted[i].channel_id,
                        member_id=counted[i].member_id,
                        text=counted[i].text,
                        occurred_at=counted[i].occurred_at,
                    )
                    for i in best
                ],
                first_at=min(m.occurred_at for m in members),
                last_at=max(m.occurred_at for m in members),
                sentiment=SentimentMix(**{s.value: n for s, n in summary.sentiment.items()}),
                trend=TrendOut(
                    window_days=window.total_seconds() / 86_400,
                    as_of=end if as_of is not None else None,
                    current=summary.trend.current,
                    previous=summary.trend.previous,
                    change=summary.trend.change,
                    direction=summary.trend.direction,
                ),
                platforms=sorted(platforms, key=lambda p: (-platforms[p], p)),
                channels=[
                    ChannelOut(platform=c.platform, channel_id=c.channel_id, messages=c.messages)
                    for c in summary.channels
                ],
                core_share=summary.core_share,
                aliases=aliases.get(cid, []),
            )
        )
    items.sort(key=lambda c: (-c.size, -c.members, c.id))
    return items, by_cluster


@router.get(
    "/communities/{community_id}/clusters/{cluster_id}",
    response_model=ClusterDetail,
    summary="One feedback cluster with all its messages",
    description=(
        "The cluster as the list shows it, plus every visible message linked to it (oldest "
        "first, near-identical repeats included, each with its source event). An id merged "
        "away by re-clustering still works: it answers the cluster it was merged into (whose "
        "`id` then differs from the one asked for, and lists it in `aliases`). 404 when the "
        "community has no such cluster the caller may read."
    ),
    responses=PROBLEM_RESPONSES,
)
async def get_cluster(
    community_id: str,
    cluster_id: str,
    caller: ReadDep,
    uow: Annotated[InsightsUoW, TransactionDep],
    request: Request,
    window_days: WindowQuery = None,
    as_of: AsOfQuery = None,
) -> ClusterDetail:
    """A cluster (or the one an alias names) with its messages."""
    items, by_cluster = await _clusters(community_id, caller, uow, request, window_days, as_of)
    wanted = next((c for c in items if cluster_id == c.id or cluster_id in c.aliases), None)
    if wanted is None:
        raise NotFound("No such cluster in this community.")
    return ClusterDetail(
        **wanted.model_dump(),
        messages_linked=[
            Representative(
                event_id=m.event_id,
                source_event_id=m.source_event_id,
                platform=m.platform,
                channel_id=m.channel_id,
                member_id=m.member_id,
                text=m.text,
                occurred_at=m.occurred_at,
            )
            for m in by_cluster[wanted.id]
        ],
    )
