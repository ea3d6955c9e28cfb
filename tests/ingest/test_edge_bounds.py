"""Attributes and options have size and depth bounds; bodies are JSON, never text/plain."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ingest.conftest import Ingest, fixture, slack_headers

pytestmark = pytest.mark.integration

SECRET = "bounds-signing-secret"


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"a": value}
    return value


def _event(community: str, n: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": "community.message.created",
        "community_id": community,
        "occurred_at": "2026-01-02T03:04:05Z",
        "source_event_id": f"bounds-{n}",
        "actor": {"platform_user_id": "u1"},
        **fields,
    }


async def test_attributes_too_large_or_deep_are_rejected_per_item(ingest: Ingest) -> None:
    community = await ingest.community()
    events = [
        _event(community, 0, attributes={"blob": "x" * 20_000}),
        _event(community, 1, attributes={"deep": _nested(40)}),
        _event(community, 2, attributes={"fine": _nested(5), "blob": "x" * 1_000}),
    ]
    answer = await ingest.client.post(
        "/v1/ingest/events", json={"events": events}, headers=ingest.auth()
    )
    assert answer.status_code == 207, answer.text
    items = answer.json()["items"]
    assert [i["status"] for i in items] == ["rejected", "rejected", "accepted"]
    assert items[0]["errors"][0]["loc"] == "attributes"
    assert "bytes" in items[0]["errors"][0]["msg"] and "deeper" in items[1]["errors"][0]["msg"]


async def test_binding_options_too_large_or_deep_are_422(ingest: Ingest) -> None:
    community = await ingest.community()
    for options in ({"blob": "x" * 17_000}, {"deep": _nested(40)}):
        answer = await ingest.client.post(
            f"/v1/ingest/communities/{community}/bindings",
            json={
                "platform": "slack",
                "external_id": "T111",
                "secrets": {"signing_secret": "s"},
                "options": options,
            },
            headers=ingest.auth(),
        )
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_bodies_that_are_not_json_are_415(ingest: Ingest, content_type: str) -> None:
    community = await ingest.community()
    binding = await ingest.bind(community, "slack", "T111", {"signing_secret": SECRET})
    body = fixture("slack/message.json")
    signed = {**slack_headers(SECRET, body), "Content-Type": content_type}
    webhook = await ingest.client.post(binding["webhook_path"], content=body, headers=signed)
    assert webhook.status_code == 415, webhook.text
    assert webhook.headers["content-type"].startswith("application/problem+json")
    sent = await ingest.client.post(
        "/v1/ingest/events",
        content=json.dumps(_event(community, 9)).encode(),
        headers={**ingest.auth(), "Content-Type": content_type},
    )
    assert sent.status_code == 415, sent.text
    listed = await ingest.client.get(
        "/v1/ingest/events", params={"community_id": community}, headers=ingest.auth()
    )
    assert listed.json()["items"] == []
