"""Routing clusters to teams: rules fire as messages join, digests go out per period.

When a message joins a cluster, the community's rules (domain/routing.py) are checked
against the cluster's figures. A rule that fires is recorded once (by its key: rule,
cluster, and the window for spikes and swings). An instant one is emitted at once, in the
same transaction: an `insights.insight.routed` event on insights.v1 naming the team (via
the outbox) and a delivery row per webhook destination, which the delivery loop carries
out after the commit. A daily or weekly one waits; the digest loop sends every finished
period's insights as one digest, the same way.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import RowMapping
from ulid import ULID

from services.insights.context import InsightsContext
from services.insights.domain.clustering import representatives
from services.insights.domain.delivery import render
from services.insights.domain.intents import Intent
from services.insights.domain.labels import label_clusters
from services.insights.domain.routing import (
    ClusterFigures,
    Delivery,
    Format,
    RoutingRules,
    Rule,
    digest_period,
    matches,
    parse_rules,
    windows,
)
from services.insights.metrics import ROUTED_TOTAL
from services.insights.repository import from_bytes
from services.insights.repository_routing import NewDelivery, Routing
from services.insights.tables import metadata
from shared.db.outbox import Outbox
from shared.db.tables import outbox_table
from shared.events.envelope import utcnow
from shared.events.payloads import InsightEvent, InsightEventType
from shared.events.topics import INSIGHTS

log = logging.getLogger(__name__)

SOURCE = "hearth/insights"
OUTBOX = outbox_table(metadata)


@lru_cache(maxsize=512)
def parsed(source: str) -> RoutingRules:
    """Stored rules (validated on upload), parsed once per process."""
    return parse_rules(source)


async def route_cluster(
    routing: Routing,
    outbox: Outbox,
    *,
    tenant_id: str,
    community_id: str,
    cluster_id: str,
    at: datetime,
) -> int:
    """Fire the community's rules for a cluster a message just joined; returns how many."""
    source = await routing.rules_of(tenant_id, community_id)
    if source is None:
        return 0
    rules = parsed(source)
    intents, size, before, negative = await routing.figures(cluster_id, at, windows(rules))
    if not size:
        return 0
    counts = Counter({Intent(k): v for k, v in intents.items()})
    intent = max(Intent, key=lambda i: (counts[i], i is not Intent.OTHER))
    figures = ClusterFigures(
        cluster_id=cluster_id,
        intent=intent,
        size=size,
        at=at,
        size_before=before,
        negative=negative,
    )
    fired = [
        m
        for m in matches(rules, figures)
        if not await routing.fired(tenant_id, community_id, m.key)
    ]
    if not fired:
        return 0
    card = await cluster_card(routing, tenant_id, community_id, cluster_id)
    for match in fired:
        insight_id = str(ULID())
        body = {
            "insight_id": insight_id,
            "community_id": community_id,
            "team": match.rule.team.value,
            "rule": match.rule.name,
            "trigger": match.trigger.value,
            "kind": match.kind,
            "detail": match.detail,
            "cluster": card,
            "occurred_at": at.isoformat(),
        }
        instant = match.rule.when is Delivery.INSTANT
        await routing.add_insight(
            id=insight_id,
            tenant_id=tenant_id,
            community_id=community_id,
            cluster_id=cluster_id,
            rule=match.rule.name,
            team=match.rule.team.value,
            trigger=match.trigger.value,
            kind=match.kind,
            key=match.key,
            delivery=match.rule.when.value,
            period=None if instant else digest_period(match.rule.when, at)[0],
            body=body,
        )
        ROUTED_TOTAL.labels(team=match.rule.team.value).inc()
        if instant:
            await emit(routing, outbox, rules, match.rule, tenant_id, body, cluster_id=cluster_id)
    return len(fired)


async def emit(
    routing: Routing,
    outbox: Outbox,
    rules: RoutingRules,
    rule: Rule,
    tenant_id: str,
    body: dict[str, Any],
    *,
    cluster_id: str | None,
) -> None:
    """The routed event on insights.v1, and one delivery per destination of the rule."""
    cluster = body.get("cluster") or {}
    event = InsightEvent(
        event_id=body["insight_id"],
        type=InsightEventType.INSIGHT_ROUTED,
        tenant_id=tenant_id,
        community_id=body["community_id"],
        cluster_id=cluster_id,
        label=cluster.get("label"),
        size=cluster.get("size"),
        routed_to=rule.team.value,
        summary=body,
    )
    await outbox.add(INSIGHTS.name, event.to_envelope(source=SOURCE))
    items = []
    for name in rule.to:
        destination = rules.destinations[name]
        items.append(
            NewDelivery(
                id=str(ULID()),
                tenant_id=tenant_id,
                community_id=body["community_id"],
                insight_id=body["insight_id"],
                destination=name,
                url=destination.url,
                format=destination.format.value,
                secret=destination.secret,
                body=render(Format(destination.format), body),
            )
        )
    await routing.add_deliveries(items, now=utcnow())


async def cluster_card(
    routing: Routing, tenant_id: str, community_id: str, cluster_id: str
) -> dict[str, Any]:
    """The cluster as a routed insight shows it: label, figures and 3 source links."""
    rows = await routing.community_texts(tenant_id, community_id)
    by_cluster: dict[str, list[RowMapping]] = defaultdict(list)
    for row in rows:
        by_cluster[row["cluster_id"]].append(row)
    labels = label_clusters(
        {
            cid: [r["text"] for r in members if not r["duplicate"]]
            for cid, members in by_cluster.items()
        }
    )
    members = by_cluster.get(cluster_id, [])
    counted = [r for r in members if not r["duplicate"]] or members
    best = representatives([from_bytes(r["vector"]) for r in counted])
    counts = Counter(Intent(r["intent"]) for r in members)
    label = labels.get(cluster_id)
    return {
        "id": cluster_id,
        "label": label.label if label else "",
        "keywords": label.keywords if label else [],
        "intent": max(Intent, key=lambda i: (counts[i], i is not Intent.OTHER)).value,
        "size": len([r for r in members if not r["duplicate"]]),
        "members": len({r["member_id"] or r["event_id"] for r in members}),
        "links": [
            {
                "event_id": counted[i]["event_id"],
                "source_event_id": counted[i]["source_event_id"],
                "platform": counted[i]["platform"],
                "channel_id": counted[i]["channel_id"],
                "text": counted[i]["text"],
            }
            for i in best
        ],
    }


async def send_digests(context: InsightsContext, *, now: datetime | None = None) -> int:
    """Emit a digest for every finished period's waiting insights; returns digests sent."""
    moment = now or utcnow()
    async with context.db.transaction() as session:
        waiting = await Routing(session).due_digests(moment)
    groups: dict[tuple[str, str, str, str], list[RowMapping]] = defaultdict(list)
    for row in waiting:
        at = datetime.fromisoformat(row["body"]["occurred_at"])
        period, ends = digest_period(Delivery(row["delivery"]), at)
        if ends <= moment:
            groups[(row["tenant_id"], row["community_id"], row["rule"], period)].append(row)
    for (tenant_id, community_id, rule_name, period), rows in groups.items():
        async with context.db.transaction() as session:
            routing = Routing(session)
            await _digest(
                routing, Outbox(session, OUTBOX), tenant_id, community_id, rule_name, period, rows
            )
    return len(groups)


async def _digest(
    routing: Routing,
    outbox: Outbox,
    tenant_id: str,
    community_id: str,
    rule_name: str,
    period: str,
    rows: Sequence[RowMapping],
) -> None:
    digest_id = str(ULID())
    first = rows[0]
    body = {
        "insight_id": digest_id,
        "community_id": community_id,
        "team": first["team"],
        "rule": rule_name,
        "trigger": first["trigger"],
        "kind": "digest",
        "period": period,
        "items": [row["body"] for row in rows],
        "occurred_at": utcnow().isoformat(),
    }
    await routing.add_insight(
        id=digest_id,
        tenant_id=tenant_id,
        community_id=community_id,
        cluster_id=None,
        rule=rule_name,
        team=first["team"],
        trigger=first["trigger"],
        kind="digest",
        key=f"{rule_name}:digest:{period}",
        delivery="instant",
        period=period,
        body=body,
    )
    await routing.mark_digested([row["id"] for row in rows], digest_id)
    ROUTED_TOTAL.labels(team=first["team"]).inc()
    source = await routing.rules_of(tenant_id, community_id)
    rules = parsed(source) if source is not None else RoutingRules()
    rule = next((r for r in rules.rules if r.name == rule_name), None)
    if rule is None:  # the rule was dropped meanwhile: the event still goes out
        rule = Rule(name=rule_name, team=first["team"])
    await emit(routing, outbox, rules, rule, tenant_id, body, cluster_id=None)
