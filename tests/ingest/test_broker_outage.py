"""A broker outage never loses a webhook: 503 in bound while Kafka is down, one event after.

Runs its own single-node Kafka (tests/stack.py: deploy/local/stack in a temporary folder,
other ports) so stopping it does not disturb the rest of the suite.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ulid import ULID

from services.ingest.secrets import SecretBox
from shared.bus.kafka import KafkaBus
from shared.db.engine import Database
from tests.ingest.conftest import Ingest, fixture, slack_headers, start_ingest
from tests.shared.conftest import drop_schema
from tests.stack import Broker, own_broker

SECRET = "outage-signing-secret"
# What the test allows beyond the bus's delivery bound: CPU contention, not design.
MARGIN_SECONDS = 3.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with own_broker(tmp_path / "stack") as own:
        yield own


async def until_accepted(ingest: Ingest, path: str, body: bytes) -> httpx.Response:
    """Redeliver as a platform does until ingest stops answering 503 (bounded)."""
    deadline = time.monotonic() + 60
    while True:
        answer = await ingest.client.post(path, content=body, headers=slack_headers(SECRET, body))
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.5)


async def readiness(ingest: Ingest) -> httpx.Response:
    return await ingest.client.get("/v1/ingest/readyz")


@pytest.mark.integration
async def test_webhook_gets_503_while_kafka_is_down_and_is_published_once_after(
    broker: Broker, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEARTH_INGEST_SECRETS_KEY", SecretBox.new_key())
    suffix = str(ULID()).lower()
    db = Database(postgres_url, schema=f"ingest_{suffix}", pool_size=3)
    tenancy = Database(postgres_url, schema=f"hearth_{suffix}", pool_size=2)
    bus = KafkaBus(broker.bootstrap, client_id="outage-test")
    ingest = await start_ingest("kafka", bus, db, tenancy)
    try:
        community = await ingest.community()
        binding = await ingest.bind(community, "slack", "T111", {"signing_secret": SECRET})
        body = fixture("slack/message.json")
        assert (await readiness(ingest)).json()["checks"]["bus"] == "ok"

        broker.run("stop")
        started = time.monotonic()
        down = await ingest.client.post(
            binding["webhook_path"], content=body, headers=slack_headers(SECRET, body)
        )
        took = time.monotonic() - started
        print(f"webhook answered {down.status_code} in {took:.2f}s with Kafka down")
        assert down.status_code == 503
        assert took < bus.delivery_timeout + MARGIN_SECONDS, "answers within Slack's 3 s"
        assert int(down.headers["retry-after"]) > 0
        assert down.headers["content-type"].startswith("application/problem+json")
        not_ready = await readiness(ingest)
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["bus"] != "ok", "readiness names the bus"
        listed = await ingest.client.get(
            "/v1/ingest/events", params={"community_id": community}, headers=ingest.auth()
        )
        assert listed.json()["items"] == [], "nothing is recorded as received"

        broker.run("start")
        redelivered = await until_accepted(ingest, binding["webhook_path"], body)
        assert redelivered.status_code == 200, redelivered.text
        assert redelivered.json()["accepted"] == 1
        assert (await readiness(ingest)).json()["checks"]["bus"] == "ok"
        again = await ingest.client.post(
            binding["webhook_path"], content=body, headers=slack_headers(SECRET, body)
        )
        assert again.json()["duplicates"] == 1
        found = await ingest.published(
            "community.events.v1", match=lambda e: e.data.get("community_id") == community
        )
        assert len(found) == 1
    finally:
        await ingest.client.aclose()
        await ingest.host.stop()
        await drop_schema(db)
        await drop_schema(tenancy)
