"""End to end on real Kafka + PostgreSQL: feedback posted through ingest becomes clusters.

One host runs ingest and insights (as `hearth serve` would, in one process here): events
go through ingest's REST API onto community.events.v1, insights' consumer clusters them,
and the clusters are read back through the insights API.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from ulid import ULID

from shared.bus.port import publish
from shared.events.payloads import (
    CoreMemberChange,
    DecisionEventType,
    ModerationDecision,
    Verdict,
)
from shared.tenancy.repository import create_key, create_tenant
from tests.insights.conftest import Stack

pytestmark = pytest.mark.integration

COMPLAINT_EN = "The app crashes every time I try to upload a photo"
COMPLAINT_RU = "Приложение вылетает каждый раз, когда я пытаюсь загрузить фото"
REQUEST = "Please add a dark theme to the desktop client"
CHATTER = "Good evening everyone, see you at the stream"


async def post_event(stack: Stack, community: str, kind: str, user: str, text: str) -> None:
    answer = await stack.client.post(
        "/v1/ingest/events",
        json={
            "type": kind,
            "community_id": community,
            "platform": "api",
            "occurred_at": "2026-11-20T10:00:00Z",
            "channel_id": "feedback",
            "source_event_id": f"msg-{user}",
            "actor": {"platform_user_id": user, "username": user},
            "content": {"text": text},
        },
        headers=stack.auth(),
    )
    assert answer.status_code == 200, answer.text


async def clusters_when(stack: Stack, community: str, done: Any) -> list[dict[str, Any]]:
    """The community's clusters once `done(clusters)` holds (polled, 180 s at most)."""
    deadline = time.monotonic() + 180
    while True:
        answer = await stack.client.get(
            f"/v1/insights/communities/{community}/clusters", headers=stack.auth()
        )
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        if done(items) or time.monotonic() > deadline:
            return items
        await asyncio.sleep(0.5)


def texts(clusters: list[dict[str, Any]]) -> list[set[str]]:
    """Representatives' texts; eve's repeat ("…!!") reads as ann's original."""
    return [{r["text"].rstrip("!") for r in c["representatives"]} for c in clusters]


async def test_feedback_events_become_clusters_and_removed_content_leaves(stack: Stack) -> None:
    created = await stack.client.post(
        "/v1/ingest/communities", json={"name": "Game", "time_zone": "UTC"}, headers=stack.auth()
    )
    community = created.json()["id"]
    await post_event(stack, community, "community.feedback.submitted", "ann", COMPLAINT_EN)
    await post_event(stack, community, "community.feedback.submitted", "boris", COMPLAINT_RU)
    await post_event(stack, community, "community.message.created", "cyd", REQUEST)
    await post_event(stack, community, "community.message.created", "dan", CHATTER)
    await post_event(stack, community, "community.message.created", "eve", COMPLAINT_EN + "!!")

    clusters = await clusters_when(stack, community, lambda cs: sum(c["messages"] for c in cs) >= 4)
    # ann's and eve's copies travel on different partitions (keyed by member), so either
    # may arrive first and be the one counted; the detail lists both with their sources.
    first = next(c for c in clusters if COMPLAINT_RU in texts([c])[0])
    detail = await stack.client.get(
        f"/v1/insights/communities/{community}/clusters/{first['id']}", headers=stack.auth()
    )
    linked = {m["source_event_id"]: m for m in detail.json()["messages_linked"]}
    assert set(linked) == {"msg-ann", "msg-boris", "msg-eve"}, linked
    ann = linked["msg-ann"]["member_id"]
    core = CoreMemberChange(
        tenant_id=stack.tenant_id, community_id=community, member_id=ann, core_member=True
    )
    await publish(
        stack.bus, "gamification.core_members.v1", core.to_envelope(source="/hearth/gamification")
    )
    clusters = await clusters_when(
        stack, community, lambda cs: any(c["core_share"] is not None for c in cs)
    )
    assert sum(c["messages"] for c in clusters) == 4, clusters  # the chatter is not feedback
    complaint = next(c for c in clusters if COMPLAINT_EN in texts([c])[0])
    assert texts([complaint])[0] == {COMPLAINT_EN, COMPLAINT_RU}
    assert (complaint["size"], complaint["messages"], complaint["members"]) == (2, 3, 3)
    assert complaint["intent"] in {"bug_report", "complaint"}
    sources = {r["source_event_id"] for r in complaint["representatives"]}
    assert sources in ({"msg-ann", "msg-boris"}, {"msg-eve", "msg-boris"})
    assert [texts([c])[0] for c in clusters if c is not complaint] == [{REQUEST}]
    assert complaint["sentiment"]["negative"] == 2  # the EN and RU complaint, repeat once
    assert complaint["core_share"] == pytest.approx(1 / 3)  # ann of ann, boris, eve
    assert complaint["platforms"] == ["api"]
    assert complaint["channels"] == [{"platform": "api", "channel_id": "feedback", "messages": 3}]
    week_after = await stack.client.get(
        f"/v1/insights/communities/{community}/clusters",
        params={"as_of": "2026-11-23T10:00:00Z", "window_days": 3},
        headers=stack.auth(),
    )
    trend = next(c for c in week_after.json()["items"] if c["id"] == complaint["id"])["trend"]
    assert (trend["current"], trend["previous"], trend["direction"]) == (0, 2, "falling")
    assert complaint["trend"]["window_days"] == 7

    tenancy = stack.host.tenancy_db
    other = await create_key(
        tenancy, tenant_id=stack.tenant_id, name="x", scopes=["insights:read"], community_ids=["y"]
    )
    hidden = await stack.client.get(
        f"/v1/insights/communities/{community}/clusters", headers=stack.auth(other)
    )
    assert hidden.status_code == 403
    await create_tenant(tenancy, "t-other" + community.lower(), "Other")
    stranger = await create_key(
        tenancy, tenant_id="t-other" + community.lower(), name="s", scopes=["insights:read"]
    )
    seen = await stack.client.get(
        f"/v1/insights/communities/{community}/clusters", headers=stack.auth(stranger)
    )
    assert seen.json()["items"] == []

    russian = next(r for r in complaint["representatives"] if r["text"] == COMPLAINT_RU)
    decision = ModerationDecision(
        type=DecisionEventType.CONTENT_REMOVED,
        tenant_id=stack.tenant_id,
        community_id=community,
        subject_event_id=russian["event_id"],
        verdict=Verdict.REMOVE,
    )
    await publish(
        stack.bus, "moderation.decisions.v1", decision.to_envelope(source="/hearth/moderation")
    )
    clusters = await clusters_when(
        stack, community, lambda cs: all(COMPLAINT_RU not in t for t in texts(cs))
    )
    complaint = next(c for c in clusters if COMPLAINT_EN in texts([c])[0])
    assert texts([complaint])[0] == {COMPLAINT_EN}
    assert (complaint["size"], complaint["members"]) == (1, 2)
    assert complaint["core_share"] == pytest.approx(1 / 2)

    restored = decision.model_copy(
        update={"type": DecisionEventType.CONTENT_RESTORED, "event_id": str(ULID())}
    )
    await publish(
        stack.bus, "moderation.decisions.v1", restored.to_envelope(source="/hearth/moderation")
    )
    clusters = await clusters_when(
        stack, community, lambda cs: any(COMPLAINT_RU in t for t in texts(cs))
    )
    back = next(c for c in clusters if COMPLAINT_RU in texts([c])[0])
    assert back["id"] == complaint["id"]
    assert (back["size"], back["members"]) == (2, 3)


async def test_analyze_clusters_an_export_across_languages(stack: Stack) -> None:
    items = [
        {"id": "1", "text": COMPLAINT_EN},
        {"id": "2", "text": REQUEST},
        {"id": "3", "text": COMPLAINT_RU},
        {"id": "4", "text": "Добавьте тёмную тему в клиент для компьютера"},
    ]
    answer = await stack.client.post(
        "/v1/insights/analyze", json={"items": items}, headers=stack.auth()
    )
    assert answer.status_code == 200, answer.text
    groups = sorted(sorted(c["items"]) for c in answer.json()["clusters"])
    assert groups == [["1", "3"], ["2", "4"]]
    too_many = [{"id": str(n), "text": "x"} for n in range(5_001)]
    refused = await stack.client.post(
        "/v1/insights/analyze", json={"items": too_many}, headers=stack.auth()
    )
    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_recluster_merges_close_clusters_and_keeps_the_merged_id_as_alias(
    stack: Stack,
) -> None:
    """Two stored clusters about one complaint (as online assignment can leave them) merge."""
    from services.insights.context import InsightsContext
    from services.insights.embedding import encode
    from services.insights.recluster import recluster_all
    from services.insights.repository import Feedback, NewMember

    hosted = stack.host.hosted("insights")
    assert isinstance(hosted.context, InsightsContext)
    community = "c" + str(ULID()).lower()[:20]
    said = [COMPLAINT_EN, COMPLAINT_EN + " again", COMPLAINT_RU]
    vectors = encode(said)
    ids = [str(ULID()) for _ in said]
    async with hosted.db.transaction() as session:
        feedback = Feedback(session)
        for n, (cluster_id, text, vector) in enumerate(zip(ids, said, vectors, strict=True)):
            await feedback.create_cluster(cluster_id, stack.tenant_id, community)
            await feedback.add_to_centroid(cluster_id, vector)
            await feedback.add_member(
                NewMember(
                    event_id=str(ULID()),
                    cluster_id=cluster_id,
                    tenant_id=stack.tenant_id,
                    community_id=community,
                    member_id=f"m{n}",
                    platform="discord" if n else "telegram",
                    channel_id="bugs",
                    source_event_id=None,
                    text=text,
                    fingerprint=f"f{n}",
                    duplicate=False,
                    intent="bug_report",
                    sentiment="negative",
                    vector=vector,
                    occurred_at=datetime(2026, 11, 20, tzinfo=UTC),
                )
            )
    assert await recluster_all(hosted.context) == 2
    assert await recluster_all(hosted.context) == 0  # nothing left to merge
    answer = await stack.client.get(
        f"/v1/insights/communities/{community}/clusters", headers=stack.auth()
    )
    [merged] = answer.json()["items"]
    assert merged["size"] == 3
    assert merged["id"] in ids
    assert sorted([merged["id"], *merged["aliases"]]) == sorted(ids)
    assert merged["platforms"] == ["discord", "telegram"]
    for alias in merged["aliases"]:  # a link to a merged-away cluster still answers
        detail = await stack.client.get(
            f"/v1/insights/communities/{community}/clusters/{alias}", headers=stack.auth()
        )
        assert detail.status_code == 200, detail.text
        assert detail.json()["id"] == merged["id"]
        assert sorted(m["text"] for m in detail.json()["messages_linked"]) == sorted(said)
    stranger_tenant = "t-s" + community
    await create_tenant(stack.host.tenancy_db, stranger_tenant, "Stranger")
    stranger = await create_key(
        stack.host.tenancy_db, tenant_id=stranger_tenant, name="s", scopes=["insights:read"]
    )
    hidden = await stack.client.get(
        f"/v1/insights/communities/{community}/clusters/{merged['id']}",
        headers=stack.auth(stranger),
    )
    assert hidden.status_code == 404
    missing = await stack.client.get(
        f"/v1/insights/communities/{community}/clusters/{ULID()}", headers=stack.auth()
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
