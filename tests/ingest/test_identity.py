"""Members across platforms: automatic, explicit and suggested links; reversible merges."""

from __future__ import annotations

from typing import Any

from tests.ingest.conftest import Ingest

IDENTITY = "members.identity.v1"


def message(community: str, platform_user: str, username: str, n: int) -> dict[str, Any]:
    return {
        "type": "community.message.created",
        "community_id": community,
        "platform": "api",
        "occurred_at": "2026-11-20T10:00:00Z",
        "source_event_id": f"m{n}",
        "actor": {"platform_user_id": platform_user, "username": username},
    }


async def member_of(ingest: Ingest, platform: str, user: str) -> dict[str, Any]:
    answer = await ingest.client.get(
        "/v1/ingest/members",
        params={"platform": platform, "platform_user_id": user},
        headers=ingest.auth(),
    )
    [member] = answer.json()["items"]
    return dict(member)


async def test_merge_then_unmerge_restores_both_members(ingest: Ingest) -> None:
    community = await ingest.community()
    await ingest.client.post(
        "/v1/ingest/events",
        json={
            "events": [message(community, "u-ann", "ann", 1), message(community, "u-bob", "bob", 2)]
        },
        headers=ingest.auth(),
    )
    ann = await member_of(ingest, "api", "u-ann")
    bob = await member_of(ingest, "api", "u-bob")
    linked = await ingest.client.post(
        f"/v1/ingest/members/{bob['id']}/identities",
        json={"platform": "github", "platform_user_id": "9919", "username": "ann"},
        headers=ingest.auth(),
    )
    assert linked.status_code == 201
    conflict = await ingest.client.post(
        f"/v1/ingest/members/{ann['id']}/identities",
        json={"platform": "github", "platform_user_id": "9919"},
        headers=ingest.auth(),
    )
    assert conflict.status_code == 409 and bob["id"] in conflict.json()["detail"]

    suggested = await ingest.client.get(
        f"/v1/ingest/members/{ann['id']}/suggestions", headers=ingest.auth()
    )
    [suggestion] = suggested.json()["items"]
    assert suggestion["member_id"] == bob["id"] and suggestion["confidence"] >= 0.8
    assert "ann" in suggestion["reason"]

    merged = await ingest.client.post(
        "/v1/ingest/members/merge",
        json={"target_member_id": ann["id"], "source_member_id": bob["id"], "reason": "same"},
        headers=ingest.auth(),
    )
    assert merged.status_code == 201, merged.text
    after = merged.json()
    assert {i["platform_user_id"] for i in after["target"]["identities"]} == {
        "u-ann",
        "u-bob",
        "9919",
    }
    assert after["source"]["merged_into"] == ann["id"]
    assert (await member_of(ingest, "github", "9919"))["id"] == ann["id"]

    undone = await ingest.client.post(
        f"/v1/ingest/merges/{after['merge_id']}/undo", headers=ingest.auth()
    )
    assert undone.status_code == 200, undone.text
    restored = undone.json()
    assert {i["platform_user_id"] for i in restored["target"]["identities"]} == {"u-ann"}
    assert {i["platform_user_id"] for i in restored["source"]["identities"]} == {"u-bob", "9919"}
    assert restored["source"]["merged_into"] is None
    again = await ingest.client.post(
        f"/v1/ingest/merges/{after['merge_id']}/undo", headers=ingest.auth()
    )
    assert again.status_code == 409

    published = await ingest.published(
        IDENTITY,
        match=lambda e: e.tenantid == ingest.tenant_id,
        expected=6,
    )
    types = [e.type for e in published]
    assert types.count("members.member.created") == 2
    assert "members.identity.linked" in types
    assert "members.members.merged" in types
    assert types.count("members.members.unmerged") == 2
