"""An ingest service on a real backend (Kafka + PostgreSQL) or the embedded one, over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from ulid import ULID

from services.ingest.app import SPEC as INGEST
from services.ingest.secrets import SecretBox
from shared.bus.memory import InMemoryBus
from shared.bus.port import Bus
from shared.db.engine import Database
from shared.events.envelope import Envelope
from shared.host import Host
from shared.service import ServiceSpec
from shared.tenancy.repository import create_key, create_tenant, migrate_tenancy
from tests.conftest import skip_kafka_history
from tests.shared.conftest import drop_schema

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "platform-payloads"
OWN = Path(__file__).resolve().parent / "payloads"


def fixture(relative: str) -> bytes:
    """A real platform payload from ../shared/fixtures (never copied into the project)."""
    return (FIXTURES / relative).read_bytes()


def own(relative: str) -> bytes:
    """One of our payloads written from the platform's documentation."""
    return (OWN / relative).read_bytes()


@dataclass
class Ingest:
    """A running ingest service and what a test needs around it."""

    kind: str
    client: httpx.AsyncClient
    bus: Bus
    admin_key: str
    tenant_id: str
    host: Host

    @property
    def group(self) -> str:
        return f"{self.host.group_prefix}-ingest"

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin_key}"}

    async def community(self, name: str = "Guild") -> str:
        answer = await self.client.post(
            "/v1/ingest/communities", json={"name": name, "time_zone": "UTC"}, headers=self.auth()
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    async def bind(
        self, community_id: str, platform: str, external_id: str, secrets: dict[str, str]
    ) -> dict[str, Any]:
        answer = await self.client.post(
            f"/v1/ingest/communities/{community_id}/bindings",
            json={"platform": platform, "external_id": external_id, "secrets": secrets},
            headers=self.auth(),
        )
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def key(self, *scopes: str, communities: list[str] | None = None) -> str:
        return await create_key(
            self.host.tenancy_db,
            tenant_id=self.tenant_id,
            name="test",
            scopes=scopes,
            community_ids=communities,
        )

    async def published(
        self, topic: str, *, match: Any, expected: int = 1, timeout: float = 20
    ) -> list[Envelope]:
        """Envelopes on `topic` for which match(envelope) is true, waiting for `expected`."""
        consumer = self.bus.consumer([topic], f"reader-{ULID()}".lower())
        await consumer.start()
        found: list[Envelope] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                for record in await consumer.fetch(1000, 0.3):
                    envelope = Envelope.from_kafka(record.key, record.value, record.headers)
                    if match(envelope):
                        found.append(envelope)
                if len(found) >= expected:
                    # keep reading briefly so a duplicate would be seen too
                    for record in await consumer.fetch(1000, 0.5):
                        envelope = Envelope.from_kafka(record.key, record.value, record.headers)
                        if match(envelope):
                            found.append(envelope)
                    break
        finally:
            await consumer.stop()
        return found


async def start_ingest(kind: str, bus: Bus, db: Database, tenancy: Database) -> Ingest:
    # A consumer group of its own, so services of other tests or runs on the same broker
    # never take this one's events.
    group_prefix = f"test{str(ULID()).lower()}"
    host = Host([(INGEST, db)], bus=bus, tenancy_db=tenancy, group_prefix=group_prefix)
    app = host.create_app()
    await skip_kafka_history(host)
    await host.start()
    await migrate_tenancy(tenancy)
    tenant = f"t{str(ULID()).lower()}"
    await create_tenant(tenancy, tenant, "Test tenant")
    key = await create_key(tenancy, tenant_id=tenant, name="admin", scopes=["admin"])
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://ingest.test",
    )
    return Ingest(kind, client, bus, key, tenant, host)


@pytest.fixture
def ingest_env() -> dict[str, str]:
    """Extra HEARTH_INGEST_* settings; a test module overrides this to point at fakes."""
    return {}


@pytest.fixture(params=["memory", "kafka"])
async def ingest(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ingest_env: dict[str, str],
) -> AsyncIterator[Ingest]:
    """The ingest service on the embedded backend and on real Kafka + PostgreSQL."""
    monkeypatch.setenv("HEARTH_INGEST_SECRETS_KEY", SecretBox.new_key())
    for name, value in ingest_env.items():
        monkeypatch.setenv(name, value)
    if request.param == "memory":
        bus: Bus = InMemoryBus()
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'ingest.db'}", schema="ingest")
        tenancy = Database(f"sqlite+aiosqlite:///{tmp_path / 'hearth.db'}", schema="hearth")
    else:
        from shared.bus.kafka import KafkaBus

        url = request.getfixturevalue("postgres_url")
        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), client_id="ingest-test")
        suffix = str(ULID()).lower()
        db = Database(url, schema=f"ingest_{suffix}", pool_size=5)
        tenancy = Database(url, schema=f"hearth_{suffix}", pool_size=2)
    service = await start_ingest(request.param, bus, db, tenancy)
    try:
        yield service
    finally:
        await service.client.aclose()
        await service.host.stop()
        await drop_schema(db)
        await drop_schema(tenancy)


async def start_host(
    kind: str, bus: Bus, services: list[tuple[ServiceSpec, Database]], tenancy: Database
) -> Ingest:
    """Like start_ingest, for a host running the services given (ingest among them)."""
    host = Host(services, bus=bus, tenancy_db=tenancy, group_prefix=f"test{str(ULID()).lower()}")
    app = host.create_app()
    await skip_kafka_history(host)
    await host.start()
    tenant = f"t{str(ULID()).lower()}"
    await create_tenant(tenancy, tenant, "Test tenant")
    key = await create_key(tenancy, tenant_id=tenant, name="admin", scopes=["admin"])
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://hearth.test",
    )
    return Ingest(kind, client, bus, key, tenant, host)


@pytest.fixture(params=["embedded", "postgres"])
async def every_service(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Ingest]:
    """Every service of services/registry.py in one host, as `hearth dev` runs them: on
    the durable SQLite bus with SQLite files, and on the same bus with real PostgreSQL.

    Not on the shared Kafka broker: a new consumer group starts at the earliest offset,
    so four fresh groups would first replay every event other tests ever published there
    (insights embeds each message), minutes on a 2-core box; the routes are the subject.
    """
    from services.registry import SERVICES
    from shared.bus.sqlite import SqliteBus

    monkeypatch.setenv("HEARTH_INGEST_SECRETS_KEY", SecretBox.new_key())
    bus = SqliteBus(tmp_path / "bus.db")
    if request.param == "embedded":
        dbs = {
            name: Database(f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}", schema=name)
            for name in SERVICES
        }
        tenancy = Database(f"sqlite+aiosqlite:///{tmp_path / 'hearth.db'}", schema="hearth")
    else:
        url = request.getfixturevalue("postgres_url")
        suffix = str(ULID()).lower()
        dbs = {name: Database(url, schema=f"{name}_{suffix}", pool_size=3) for name in SERVICES}
        tenancy = Database(url, schema=f"hearth_{suffix}", pool_size=2)
    services = [(SERVICES[name], db) for name, db in dbs.items()]
    started = await start_host(request.param, bus, services, tenancy)
    try:
        yield started
    finally:
        await started.client.aclose()
        await started.host.stop()
        for db in [*dbs.values(), tenancy]:
            await drop_schema(db)


def slack_headers(secret: str, body: bytes, *, at: float | None = None) -> dict[str, str]:
    """Headers Slack sends: v0 HMAC of `v0:{timestamp}:{body}`."""
    timestamp = str(int(at if at is not None else time.time()))
    base = f"v0:{timestamp}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/json",
    }


def hub_signature(secret: str, body: bytes) -> str:
    """GitHub's and Discourse's `sha256=<hex>` HMAC of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def with_fields(raw: bytes, **fields: Any) -> bytes:
    """A JSON payload with some top-level fields replaced."""
    payload = json.loads(raw)
    payload.update(fields)
    return json.dumps(payload).encode()


async def gather(*coroutines: Any) -> list[Any]:
    return list(await asyncio.gather(*coroutines))
