"""An integrator cannot speak for a platform: its events have their own dedup keys and
integrator-asserted identities, unless its key holds `events:platform`."""

from __future__ import annotations

from typing import Any

import pytest

from services.ingest.domain import webhooks
from services.ingest.domain.model import BindingContext
from shared.events.community import Platform
from shared.events.envelope import utcnow
from tests.ingest.conftest import Ingest, fixture, slack_headers

pytestmark = pytest.mark.integration

SECRET = "namespace-signing-secret"
EVENTS = "community.events.v1"


def _genuine_key(community: str) -> str:
    """The dedup key the signed Slack delivery of message.json gets."""
    ctx = BindingContext("t", community, "b", Platform.SLACK, "T111")
    body = fixture("slack/message.json")
    [event] = webhooks.normalize(Platform.SLACK, body, {}, ctx, received_at=utcnow()).events
    return event.dedup_key


def _forged(community: str) -> dict[str, Any]:
    return {
        "type": "community.message.created",
        "community_id": community,
        "platform": "slack",
        "occurred_at": "2026-01-02T03:04:05Z",
        "dedup_key": _genuine_key(community),
        "workspace_id": "T111",
        "actor": {"platform_user_id": "W111"},
        "content": {"text": "I am W111, honest"},
    }


async def _deliver_genuine(ingest: Ingest, path: str) -> dict[str, Any]:
    body = fixture("slack/message.json")
    answer = await ingest.client.post(path, content=body, headers=slack_headers(SECRET, body))
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def _member_of(ingest: Ingest, platform: str, user_id: str) -> str | None:
    answer = await ingest.client.get(
        "/v1/ingest/members",
        params={"platform": platform, "platform_user_id": user_id},
        headers=ingest.auth(),
    )
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    return items[0]["id"] if items else None


async def test_an_integrator_cannot_pre_empt_a_webhook_or_be_credited_to_its_member(
    ingest: Ingest,
) -> None:
    community = await ingest.community()
    binding = await ingest.bind(community, "slack", "T111", {"signing_secret": SECRET})
    writer = await ingest.key("events:write")
    forged = await ingest.client.post(
        "/v1/ingest/events", json=_forged(community), headers=ingest.auth(writer)
    )
    assert forged.status_code == 200, forged.text
    [item] = forged.json()["items"]
    assert item["status"] == "accepted"
    genuine = await _deliver_genuine(ingest, binding["webhook_path"])
    assert genuine["accepted"] == 1, "the signed delivery is not dropped as a duplicate"
    found = await ingest.published(
        EVENTS, match=lambda e: e.data["community_id"] == community, expected=2
    )
    by_id = {e.id: e.data for e in found}
    assert set(by_id) == {item["event_id"], genuine["event_ids"][0]}
    forged_member = by_id[item["event_id"]]["actor"]["member_id"]
    real_member = by_id[genuine["event_ids"][0]]["actor"]["member_id"]
    assert forged_member != real_member
    assert by_id[item["event_id"]]["dedup_key"].startswith("api:")
    assert await _member_of(ingest, "slack", "W111") == real_member
    assert await _member_of(ingest, "api", "slack:W111") == forged_member


async def test_a_key_with_events_platform_shares_the_platforms_keys_and_members(
    ingest: Ingest,
) -> None:
    community = await ingest.community()
    binding = await ingest.bind(community, "slack", "T111", {"signing_secret": SECRET})
    importer = await ingest.key("events:write", "events:platform")
    sent = await ingest.client.post(
        "/v1/ingest/events", json=_forged(community), headers=ingest.auth(importer)
    )
    [item] = sent.json()["items"]
    assert item["status"] == "accepted"
    genuine = await _deliver_genuine(ingest, binding["webhook_path"])
    assert genuine["accepted"] == 0 and genuine["duplicates"] == 1
    [envelope] = await ingest.published(EVENTS, match=lambda e: e.data["community_id"] == community)
    assert envelope.data["actor"]["member_id"] == await _member_of(ingest, "slack", "W111")


async def test_integrator_keys_for_the_api_platform_are_namespaced_too(ingest: Ingest) -> None:
    community = await ingest.community()
    binding = await ingest.bind(community, "slack", "T111", {"signing_secret": SECRET})
    writer = await ingest.key("events:write")
    event = {**_forged(community), "platform": "api"}
    sent = await ingest.client.post("/v1/ingest/events", json=event, headers=ingest.auth(writer))
    assert sent.json()["items"][0]["status"] == "accepted"
    assert (await _deliver_genuine(ingest, binding["webhook_path"]))["accepted"] == 1
    again = await ingest.client.post("/v1/ingest/events", json=event, headers=ingest.auth(writer))
    assert again.json()["items"][0]["status"] == "duplicate", "its own redelivery still dedupes"
