"""Nothing is published that the request then fails to record, and nothing twice because
requests raced: read back from the topic (real Kafka + PostgreSQL, and the embedded backend).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.ingest.conftest import Ingest, fixture, slack_headers, with_fields

pytestmark = pytest.mark.integration

SECRET = "hostile-signing-secret"
EVENTS = "community.events.v1"
PARALLEL = 10


def _of(community: str) -> Any:
    return lambda envelope: envelope.data.get("community_id") == community


def _batch(community: str, n: int = 3) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "type": "community.message.created",
                    "community_id": community,
                    "occurred_at": "2026-01-02T03:04:05Z",
                    "source_event_id": f"race-{i}",
                    "actor": {"platform_user_id": f"u{i}"},
                    "content": {"text": f"hello {i}"},
                }
                for i in range(n)
            ]
        }
    ).encode()


async def test_a_slack_event_id_too_long_to_record_is_refused_and_never_published(
    ingest: Ingest,
) -> None:
    community = await ingest.community()
    binding = await ingest.bind(community, "slack", "T111", {"signing_secret": SECRET})
    # a reaction's dedup key holds the event_id; a message's holds its id (ts) instead
    for name in ("reaction_added.json", "message.json"):
        body = with_fields(fixture(f"slack/{name}"), event_id="Ev" + "9" * 700)
        for _ in range(2):  # Slack retries what is not answered 2xx
            answer = await ingest.client.post(
                binding["webhook_path"], content=body, headers=slack_headers(SECRET, body)
            )
            assert answer.status_code == 400, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert "longer than" in answer.json()["detail"]
    assert await ingest.published(EVENTS, match=_of(community), timeout=2) == []


async def test_concurrent_identical_batches_publish_each_event_once(ingest: Ingest) -> None:
    community = await ingest.community()
    body = _batch(community)
    headers = {**ingest.auth(), "Content-Type": "application/json"}
    answers = await asyncio.gather(
        *[
            ingest.client.post("/v1/ingest/events", content=body, headers=headers)
            for _ in range(PARALLEL)
        ],
    )
    assert [a.status_code for a in answers] == [200] * PARALLEL, [a.text for a in answers]
    statuses = [[item["status"] for item in a.json()["items"]] for a in answers]
    assert sum(s == ["accepted"] * 3 for s in statuses) == 1, statuses
    assert sum(s == ["duplicate"] * 3 for s in statuses) == PARALLEL - 1, statuses
    ids = {tuple(item["event_id"] for item in a.json()["items"]) for a in answers}
    assert len(ids) == 1, "every answer names the same event ids"
    found = await ingest.published(EVENTS, match=_of(community), expected=3)
    assert sorted(e.id for e in found) == sorted(next(iter(ids)))


async def test_concurrent_requests_with_one_idempotency_key_publish_once_and_replay(
    ingest: Ingest,
) -> None:
    community = await ingest.community()
    body = _batch(community)
    headers = {**ingest.auth(), "Content-Type": "application/json", "Idempotency-Key": "k-1"}
    answers = await asyncio.gather(
        *[
            ingest.client.post("/v1/ingest/events", content=body, headers=headers)
            for _ in range(PARALLEL)
        ]
    )
    assert [a.status_code for a in answers] == [200] * PARALLEL, [a.text for a in answers]
    first = [a for a in answers if "idempotent-replayed" not in a.headers]
    assert len(first) == 1, "one request did the work, the others replayed its answer"
    assert all(a.json() == first[0].json() for a in answers)
    assert [i["status"] for i in first[0].json()["items"]] == ["accepted"] * 3
    found = await ingest.published(EVENTS, match=_of(community), expected=3)
    assert len(found) == 3


async def test_concurrent_identical_signed_slack_webhooks_publish_once(ingest: Ingest) -> None:
    community = await ingest.community()
    binding = await ingest.bind(community, "slack", "T111", {"signing_secret": SECRET})
    body = fixture("slack/message.json")
    headers = slack_headers(SECRET, body)
    answers = await asyncio.gather(
        *[
            ingest.client.post(binding["webhook_path"], content=body, headers=headers)
            for _ in range(PARALLEL)
        ]
    )
    assert [a.status_code for a in answers] == [200] * PARALLEL, [a.text for a in answers]
    assert sorted(a.json()["accepted"] for a in answers) == [0] * (PARALLEL - 1) + [1]
    assert len({a.json()["event_ids"][0] for a in answers}) == 1
    found = await ingest.published(EVENTS, match=_of(community), expected=1)
    assert len(found) == 1
