"""A PostgreSQL restart answers 503 with Retry-After, never 500, and heals by itself.

Ingest runs on the shared broker and on a PostgreSQL of the test's own (tests/stack.py),
which is stopped and started while webhooks and REST reads keep coming.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from ulid import ULID

from services.ingest.secrets import SecretBox
from shared.bus.kafka import KafkaBus
from shared.db.engine import Database
from tests.ingest.conftest import Ingest, fixture, slack_headers, start_ingest
from tests.shared.conftest import drop_schema
from tests.stack import Postgres, own_postgres

SECRET = "db-outage-signing-secret"


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    with own_postgres() as instance:
        yield instance


@pytest.fixture
async def ingest(
    postgres: Postgres, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Ingest]:
    monkeypatch.setenv("HEARTH_INGEST_SECRETS_KEY", SecretBox.new_key())
    suffix = str(ULID()).lower()
    db = Database(postgres.url, schema=f"ingest_{suffix}", pool_size=3)
    tenancy = Database(postgres.url, schema=f"hearth_{suffix}", pool_size=2)
    bus = KafkaBus(kafka_bootstrap, client_id="db-outage-test")
    service = await start_ingest("kafka", bus, db, tenancy)
    try:
        yield service
    finally:
        await service.client.aclose()
        await service.host.stop()
        await drop_schema(db)
        await drop_schema(tenancy)


@dataclass
class Traffic:
    """Webhooks (each a new Slack event) and reads, with every answer kept."""

    ingest: Ingest
    webhook_path: str
    community: str
    answers: list[httpx.Response] = field(default_factory=list)
    sent: int = 0

    async def one_round(self) -> list[httpx.Response]:
        self.sent += 1
        delivery = json.loads(fixture("slack/message.json"))
        delivery["event_id"] = f"Ev{self.sent:06d}{ULID()}"
        body = json.dumps(delivery).encode()
        round_ = await asyncio.gather(
            self.ingest.client.post(
                self.webhook_path, content=body, headers=slack_headers(SECRET, body)
            ),
            self.ingest.client.get(
                "/v1/ingest/events",
                params={"community_id": self.community},
                headers=self.ingest.auth(),
            ),
        )
        self.answers.extend(round_)
        return list(round_)

    async def keep_going(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.one_round()
            await asyncio.sleep(0.05)


@pytest.mark.integration
async def test_a_database_restart_answers_503_with_retry_after_then_heals(
    ingest: Ingest, postgres: Postgres
) -> None:
    community = await ingest.community()
    binding = await ingest.bind(community, "slack", "T111", {"signing_secret": SECRET})
    traffic = Traffic(ingest, binding["webhook_path"], community)
    assert [a.status_code for a in await traffic.one_round()] == [200, 200]

    stop = asyncio.Event()
    running = asyncio.create_task(traffic.keep_going(stop))
    try:
        await asyncio.to_thread(postgres.stop)
        not_ready = await ingest.client.get("/v1/ingest/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["database"] == "unavailable"
        assert str(postgres.ports["PG_PORT"]) not in not_ready.text
        await asyncio.wait([running], timeout=3)  # PostgreSQL stays down ~3 s under traffic
        await asyncio.to_thread(postgres.start)
    finally:
        stop.set()
        await running

    statuses = Counter(answer.status_code for answer in traffic.answers)
    print(f"during the restart: {dict(statuses)} over {len(traffic.answers)} requests")
    assert statuses[500] == 0, "a database outage is never a 500"
    unavailable = [a for a in traffic.answers if a.status_code == 503]
    assert unavailable, "requests made while PostgreSQL was down must answer 503"
    assert set(statuses) <= {200, 503}
    for answer in unavailable:
        assert int(answer.headers["retry-after"]) > 0
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "127.0.0.1" not in answer.text and str(postgres.ports["PG_PORT"]) not in answer.text

    deadline = time.monotonic() + 60
    while [a.status_code for a in await traffic.one_round()] != [200, 200]:
        assert time.monotonic() < deadline, "ingest must heal without a restart"
        await asyncio.sleep(0.5)
    ready = await ingest.client.get("/v1/ingest/readyz")
    deadline = time.monotonic() + 30
    while ready.json().get("checks", {}).get("database") != "ok":
        assert time.monotonic() < deadline, f"readiness must recover: {ready.text}"
        await asyncio.sleep(0.5)
        ready = await ingest.client.get("/v1/ingest/readyz")
