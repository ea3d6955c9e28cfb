"""Periodic re-clustering of stored clusters: centroids that came close are merged.

Online assignment opens a new cluster whenever a message is not close enough to any
centroid; as clusters grow their centroids drift, and two clusters about one topic can
end up side by side. Every HEARTH_INSIGHTS_RECLUSTER_INTERVAL_SECONDS the loop takes each
community's clusters (rows locked, one transaction per community), merges those whose
centroids reach HEARTH_INSIGHTS_MERGE_THRESHOLD (the larger keeps its id), moves the
members, and records the merged id as an alias of the survivor so links stay valid.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

import numpy as np

from services.insights.context import InsightsContext
from services.insights.domain.clustering import OnlineClusterer, blended_centre
from services.insights.domain.intents import Intent
from services.insights.embedding import DIMENSIONS
from services.insights.intents import load_model
from services.insights.metrics import CLUSTERS
from services.insights.repository import Feedback

log = logging.getLogger(__name__)


async def recluster_community(
    feedback: Feedback, tenant_id: str, community_id: str, *, threshold: float
) -> dict[str, str]:
    """Merge the community's close clusters; returns merged id -> surviving id."""
    existing = await feedback.lock_clusters(tenant_id, community_id)
    if len(existing) < 2:
        return {}
    total = sum((c.total for c in existing), np.zeros(DIMENSIONS, dtype=np.float32))
    centre = blended_centre(
        load_model().centre.astype(np.float32), total, sum(c.count for c in existing)
    )

    def no_new_ids() -> str:
        raise AssertionError("merging never opens a cluster")

    clusterer = OnlineClusterer(
        new_id=no_new_ids, centre=centre.astype(np.float32), clusters=existing
    )
    absorbed = clusterer.merge_close(threshold)
    # Fold in the order merges happened, so a chain a -> b -> c leaves c with everything.
    for gone, keep in absorbed.items():
        await feedback.merge(tenant_id, community_id, gone, clusterer.clusters[keep])
    return absorbed


async def recluster_all(context: InsightsContext) -> int:
    """One pass over every community with two or more clusters; returns merges made."""
    async with context.db.transaction() as session:
        communities = await Feedback(session).communities_with_clusters()
        await count_clusters(Feedback(session))
    merged = 0
    for tenant_id, community_id in communities:
        async with context.db.transaction() as session:
            merged += len(
                await recluster_community(
                    Feedback(session),
                    tenant_id,
                    community_id,
                    threshold=context.settings.merge_threshold,
                )
            )
    return merged


async def count_clusters(feedback: Feedback) -> None:
    """Set hearth_insights_clusters{intent}: visible clusters by their most frequent intent."""
    by_cluster: dict[str, Counter[Intent]] = {}
    for cluster_id, intent, n in await feedback.intent_counts():
        by_cluster.setdefault(cluster_id, Counter())[Intent(intent)] += n
    tally = Counter(
        max(Intent, key=lambda i: (counts[i], i is not Intent.OTHER))
        for counts in by_cluster.values()
    )
    for intent in Intent:
        CLUSTERS.labels(intent=intent.value).set(tally[intent])


def recluster_loops(context: object) -> list[Callable[[], Awaitable[None]]]:
    """The background loop the host runs (supervised: an outage is retried by the host).

    No loop when the host built no context (it started without creating its app).
    """
    if not isinstance(context, InsightsContext):
        return []

    async def loop() -> None:
        while True:
            await asyncio.sleep(context.settings.recluster_interval_seconds)
            merged = await recluster_all(context)
            if merged:
                log.info("insights re-clustering merged %d clusters", merged)

    return [loop]
