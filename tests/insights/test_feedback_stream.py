"""End to end on real Kafka + PostgreSQL: feedback posted through ingest becomes clusters.

One host runs ingest and insights (as `hearth serve` would, in one process here): events
go through ingest's REST API onto community.events.v1, insights' consumer clusters them,
and the clusters are read back through the insights API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from ulid import ULID

from services.ingest.app import SPEC as INGEST
from services.ingest.secrets import SecretBox
from services.insights.app import SPEC as INSIGHTS
from services.insights.embedding import encode_async
from shared.bus.kafka import KafkaBus
from shared.bus.port import publish
from shared.db.engine import Database
from shared.events.payloads import (
    CoreMemberChange,
    DecisionEventType,
    ModerationDecision,
    Verdict,
)
from shared.host import Host
from shared.tenancy.repository import create_key, create_tenant, migrate_tenancy
from tests.conftest import skip_kafka_history
from tests.shared.conftest import drop_schema

pytestmark = pytest.mark.integration

COMPLAINT_EN = "The app crashes every time I try to upload a photo"
COMPLAINT_RU = "Приложение вылетает каждый раз, когда я пытаюсь загрузить фото"
REQUEST = "Please add a dark theme to the desktop client"
CHATTER = "Good evening everyone, see you at the stream"


@dataclass
class Stack:
    client: httpx.AsyncClient
    bus: KafkaBus
    tenant_id: str
    key: str
    host: Host

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}


@pytest.fixture
async def stack(
    postgres_url: str, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    monkeypatch.setenv("HEARTH_INGEST_SECRETS_KEY", SecretBox.new_key())
    suffix = str(ULID()).lower()
    ingest_db = Database(postgres_url, schema=f"ingest_{suffix}", pool_size=3)
    insights_db = Database(postgres_url, schema=f"insights_{suffix}", pool_size=3)
    tenancy = Database(postgres_url, schema=f"hearth_{suffix}", pool_size=2)
    bus = KafkaBus(kafka_bootstrap, client_id="insights-test", session_timeout_ms=6000)
    host = Host(
        [(INGEST, ingest_db), (INSIGHTS, insights_db)],
        bus=bus,
        tenancy_db=tenancy,
        group_prefix=f"test{suffix}",
    )
    app = host.create_app()
    await encode_async(["warm up"])  # load the encoder before any deadline starts
    await skip_kafka_history(host)  # only this test's traffic, not the shared broker's past
    await host.start()
    try:
        await migrate_tenancy(tenancy)
        tenant = f"t{suffix}"
        await create_tenant(tenancy, tenant, "Insights test")
        key = await create_key(tenancy, tenant_id=tenant, name="admin", scopes=["admin"])
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://hearth.test") as client:
            yield Stack(client, bus, tenant, key, host)
    finally:
        await host.stop()
        for db in (ingest_db, insights_db, tenancy):
            await drop_schema(db)


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
