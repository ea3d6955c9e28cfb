"""A gamification service on real Kafka + PostgreSQL (and on the embedded backend), over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select
from ulid import ULID

from services.gamification.app import SPEC as GAMIFICATION
from services.gamification.tables import metadata
from shared.bus.memory import InMemoryBus
from shared.bus.port import Bus, envelope_message
from shared.db.engine import Database
from shared.db.tables import processed_table
from shared.events.envelope import Envelope
from shared.host import Host
from shared.tenancy.repository import create_key, create_tenant
from tests.conftest import skip_kafka_history
from tests.gamification.traffic import member, message
from tests.shared.conftest import drop_schema

T = TypeVar("T")


@dataclass
class Gamification:
    """A running gamification service and what a test needs around it."""

    kind: str
    client: httpx.AsyncClient
    bus: Bus
    db: Database
    host: Host
    tenant_id: str
    admin_key: str

    @property
    def group(self) -> str:
        return f"{self.host.group_prefix}-gamification"

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    async def send(self, topic: str, envelopes: Sequence[Envelope]) -> None:
        for start in range(0, len(envelopes), 250):
            chunk = envelopes[start : start + 250]
            await self.bus.publish_many([envelope_message(topic, e) for e in chunk])

    async def processed(self, event_ids: set[str]) -> int:
        """How many of `event_ids` the service's consumer group has handled."""
        table = processed_table(metadata)
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(table.c.event_id).where(table.c.consumer_group == self.group)
            )
            return len(event_ids & set(rows.scalars()))

    async def wait_processed(self, event_ids: set[str], timeout: float = 240) -> None:
        await eventually(lambda: self.processed(event_ids), lambda n: n == len(event_ids), timeout)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self.auth())


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = 60
) -> T:
    """Poll `probe` until `done` says yes; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout} s")
        await asyncio.sleep(0.2)
        value = await probe()
    return value


async def catch_up(service: Gamification) -> None:
    """Wait until the new group has read what the shared topics held before it started:
    one event under each of many keys, so that every partition has one behind its past."""
    now = datetime.now(UTC)
    markers = [
        message(service.tenant_id, f"catch-up-{n}", member(f"u{n}"), now, n=n).to_envelope()
        for n in range(24)
    ]
    await service.send("community.events.v1", markers)
    await service.wait_processed({marker.id for marker in markers}, timeout=600)


# One service per backend for the whole session: a new consumer group starts at the
# earliest offset of the shared broker's topics, and catching up on every other test's
# events once is enough. Tests keep apart by using communities of their own.
@pytest.fixture(scope="session", params=["memory", "kafka"])
async def gamification(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Gamification]:
    """The gamification service on the embedded backend and on real Kafka + PostgreSQL."""
    tmp_path = tmp_path_factory.mktemp("gamification")
    if request.param == "memory":
        bus: Bus = InMemoryBus()
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gamification.db'}", schema="gamification")
        tenancy = Database(f"sqlite+aiosqlite:///{tmp_path / 'hearth.db'}", schema="hearth")
    else:
        from shared.bus.kafka import KafkaBus

        url = request.getfixturevalue("postgres_url")
        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), client_id="gamification-test")
        suffix = str(ULID()).lower()
        db = Database(url, schema=f"gamification_{suffix}", pool_size=5)
        tenancy = Database(url, schema=f"hearth_{suffix}", pool_size=2)
    # A consumer group of its own, so no other test's service takes these events.
    host = Host(
        [(GAMIFICATION, db)], bus=bus, tenancy_db=tenancy, group_prefix=f"t{ULID()}".lower()
    )
    app = host.create_app()
    await skip_kafka_history(host)
    await host.start()
    tenant = f"t{str(ULID()).lower()}"
    await create_tenant(tenancy, tenant, "Test tenant")
    key = await create_key(tenancy, tenant_id=tenant, name="admin", scopes=["admin"])
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://gamification.test",
    )
    service = Gamification(request.param, client, bus, db, host, tenant, key)
    await catch_up(service)
    try:
        yield service
    finally:
        await client.aclose()
        await host.stop()
        await drop_schema(db)
        await drop_schema(tenancy)
