"""Integrator REST: one event or a batch, per-item answers, idempotency, listing."""

from __future__ import annotations

from typing import Any

from tests.ingest.conftest import Ingest

EVENTS = "community.events.v1"


def event(community: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "community.message.created",
        "community_id": community,
        "platform": "api",
        "occurred_at": f"2026-11-2{n % 5}T10:00:00Z",
        "source_event_id": f"msg-{n}",
        "channel_id": "general",
        "actor": {"platform_user_id": f"user-{n % 3}", "username": f"user{n % 3}"},
        "content": {"text": f"message {n}"},
        **extra,
    }


async def test_batch_answers_per_item_and_publishes_only_the_accepted(ingest: Ingest) -> None:
    community = await ingest.community()
    key = await ingest.key("events:write", "events:read")
    first = await ingest.client.post(
        "/v1/ingest/events", json=event(community, 0), headers=ingest.auth(key)
    )
    assert first.status_code == 200, first.text
    batch = {
        "events": [
            event(community, 1),
            event(community, 2, type="community.message.exploded"),
            event("no-such-community", 3),
            event(community, 0),  # same source id as the first: a duplicate
            event(community, 4, backfilled=True),
        ]
    }
    answer = await ingest.client.post("/v1/ingest/events", json=batch, headers=ingest.auth(key))
    assert answer.status_code == 207
    statuses = [(i["index"], i["status"]) for i in answer.json()["items"]]
    assert statuses == [
        (0, "accepted"),
        (1, "rejected"),
        (2, "rejected"),
        (3, "duplicate"),
        (4, "accepted"),
    ]
    assert answer.json()["items"][1]["errors"][0]["loc"] == "type"
    assert answer.json()["items"][3]["event_id"] == first.json()["items"][0]["event_id"]
    found = await ingest.published(
        EVENTS, match=lambda e: e.data.get("community_id") == community, expected=3
    )
    assert sorted(e.data["source_event_id"] for e in found) == ["msg-0", "msg-1", "msg-4"]
    backfilled = [e for e in found if e.data["source_event_id"] == "msg-4"]
    assert backfilled[0].data["backfilled"] is True

    listed = await ingest.client.get(
        "/v1/ingest/events",
        params={"community_id": community, "limit": 2},
        headers=ingest.auth(key),
    )
    page = listed.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await ingest.client.get(
        "/v1/ingest/events",
        params={"community_id": community, "cursor": page["next_cursor"]},
        headers=ingest.auth(key),
    )
    assert len(rest.json()["items"]) == 1 and rest.json()["next_cursor"] is None
    member = page["items"][0]["actor"]["member_id"]
    mine = await ingest.client.get(
        "/v1/ingest/events",
        params={"community_id": community, "member_id": member},
        headers=ingest.auth(key),
    )
    assert all(e["actor"]["member_id"] == member for e in mine.json()["items"])


async def test_idempotency_key_replays_the_first_answer(ingest: Ingest) -> None:
    community = await ingest.community()
    key = await ingest.key("events:write")
    headers = {**ingest.auth(key), "Idempotency-Key": "batch-1"}
    body = {"events": [event(community, 10), event(community, 11)]}
    first = await ingest.client.post("/v1/ingest/events", json=body, headers=headers)
    again = await ingest.client.post("/v1/ingest/events", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    other = await ingest.client.post(
        "/v1/ingest/events", json={"events": [event(community, 12)]}, headers=headers
    )
    assert other.status_code == 422
    found = await ingest.published(
        EVENTS, match=lambda e: e.data.get("community_id") == community, expected=2
    )
    assert len(found) == 2


async def test_bad_requests_are_clear_problems(ingest: Ingest) -> None:
    community = await ingest.community()
    key = await ingest.key("events:write")
    single_bad = await ingest.client.post(
        "/v1/ingest/events", json=event(community, 1, actor={}), headers=ingest.auth(key)
    )
    assert single_bad.status_code == 422
    assert single_bad.json()["errors"][0]["loc"].startswith("actor")
    too_many = {"events": [event(community, n) for n in range(1001)]}
    answer = await ingest.client.post("/v1/ingest/events", json=too_many, headers=ingest.auth(key))
    assert answer.status_code == 413
    garbage = await ingest.client.post(
        "/v1/ingest/events", content=b"[1,2", headers=ingest.auth(key)
    )
    assert garbage.status_code == 400
    reader = await ingest.key("events:read")
    denied = await ingest.client.post(
        "/v1/ingest/events", json=event(community, 1), headers=ingest.auth(reader)
    )
    assert denied.status_code == 403
    assert "events:write" in denied.json()["detail"]
    other = await ingest.community("other")
    limited = await ingest.key("events:write", communities=[other])
    refused = await ingest.client.post(
        "/v1/ingest/events", json=event(community, 1), headers=ingest.auth(limited)
    )
    assert refused.status_code == 404  # a community out of the key's reach is not there
