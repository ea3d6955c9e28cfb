"""A moderation service on the embedded backend or on real Kafka + PostgreSQL, over HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from ulid import ULID

from services.moderation.app import SPEC as MODERATION
from shared.bus.memory import InMemoryBus
from shared.bus.port import Bus, publish
from shared.db.engine import Database
from shared.events.community import CommunityEvent
from shared.events.envelope import Envelope
from shared.events.topics import COMMUNITY_EVENTS
from shared.host import Host
from shared.tenancy.repository import create_key, create_tenant
from tests.conftest import skip_kafka_history
from tests.shared.conftest import drop_schema


@dataclass
class Moderation:
    """A running moderation service and what a test needs around it."""

    kind: str
    client: httpx.AsyncClient
    bus: Bus
    db: Database
    admin_key: str
    tenant_id: str
    host: Host

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin_key}"}

    async def key(self, *scopes: str, communities: list[str] | None = None) -> str:
        return await create_key(
            self.host.tenancy_db,
            tenant_id=self.tenant_id,
            name="test",
            scopes=scopes,
            community_ids=communities,
        )

    async def send(self, event: CommunityEvent) -> None:
        """Publish a community event as ingest would."""
        await publish(self.bus, COMMUNITY_EVENTS.name, event.to_envelope())

    async def published(
        self,
        topic: str,
        match: Callable[[Envelope], bool],
        *,
        expected: int = 1,
        timeout: float = 90,
    ) -> list[Envelope]:
        """Envelopes on `topic` that match, once `expected` are seen; then a little more
        reading, so a duplicate would be seen too."""
        consumer = self.bus.consumer([topic], f"reader-{ULID()}".lower())
        await consumer.start()
        found: list[Envelope] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and len({e.id for e in found}) < expected:
                for record in await consumer.fetch(1000, 0.3):
                    envelope = Envelope.from_kafka(record.key, record.value, record.headers)
                    if match(envelope):
                        found.append(envelope)
            for record in await consumer.fetch(1000, 0.5):
                envelope = Envelope.from_kafka(record.key, record.value, record.headers)
                if match(envelope):
                    found.append(envelope)
        finally:
            await consumer.stop()
        return found


@pytest.fixture(params=["memory", "kafka"])
async def moderation(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Moderation]:
    """The moderation service on the embedded backend and on real Kafka + PostgreSQL."""
    if request.param == "memory":
        bus: Bus = InMemoryBus()
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'moderation.db'}", schema="moderation")
        tenancy = Database(f"sqlite+aiosqlite:///{tmp_path / 'hearth.db'}", schema="hearth")
    else:
        from shared.bus.kafka import KafkaBus

        url = request.getfixturevalue("postgres_url")
        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), client_id="moderation-test")
        suffix = str(ULID()).lower()
        db = Database(url, schema=f"moderation_{suffix}", pool_size=5)
        tenancy = Database(url, schema=f"hearth_{suffix}", pool_size=2)
    host = Host(
        [(MODERATION, db)], bus=bus, tenancy_db=tenancy, group_prefix=f"test{ULID()}".lower()
    )
    app = host.create_app()
    await skip_kafka_history(host)
    await host.start()
    tenant = f"t{str(ULID()).lower()}"
    await create_tenant(tenancy, tenant, "Test tenant")
    key = await create_key(tenancy, tenant_id=tenant, name="admin", scopes=["admin"])
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://moderation.test",
    )
    try:
        yield Moderation(request.param, client, bus, db, key, tenant, host)
    finally:
        await client.aclose()
        await host.stop()
        await drop_schema(db)
        await drop_schema(tenancy)
