"""The insights integration tests' stack: ingest and insights in one host on Kafka + PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from ulid import ULID

from services.ingest.app import SPEC as INGEST
from services.ingest.secrets import SecretBox
from services.insights.app import SPEC as INSIGHTS
from services.insights.embedding import encode_async
from shared.bus.kafka import KafkaBus
from shared.db.engine import Database
from shared.host import Host
from shared.tenancy.repository import create_key, create_tenant, migrate_tenancy
from tests.conftest import skip_kafka_history
from tests.shared.conftest import drop_schema


@dataclass
class Stack:
    client: httpx.AsyncClient
    bus: KafkaBus
    tenant_id: str
    key: str
    host: Host

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}


@pytest.fixture
async def stack(
    postgres_url: str, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    monkeypatch.setenv("HEARTH_INGEST_SECRETS_KEY", SecretBox.new_key())
    suffix = str(ULID()).lower()
    ingest_db = Database(postgres_url, schema=f"ingest_{suffix}", pool_size=3)
    insights_db = Database(postgres_url, schema=f"insights_{suffix}", pool_size=3)
    tenancy = Database(postgres_url, schema=f"hearth_{suffix}", pool_size=2)
    bus = KafkaBus(kafka_bootstrap, client_id="insights-test", session_timeout_ms=6000)
    host = Host(
        [(INGEST, ingest_db), (INSIGHTS, insights_db)],
        bus=bus,
        tenancy_db=tenancy,
        group_prefix=f"test{suffix}",
    )
    app = host.create_app()
    await encode_async(["warm up"])  # load the encoder before any deadline starts
    await skip_kafka_history(host)  # only this test's traffic, not the shared broker's past
    await host.start()
    try:
        await migrate_tenancy(tenancy)
        tenant = f"t{suffix}"
        await create_tenant(tenancy, tenant, "Insights test")
        key = await create_key(tenancy, tenant_id=tenant, name="admin", scopes=["admin"])
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://hearth.test") as client:
            yield Stack(client, bus, tenant, key, host)
    finally:
        await host.stop()
        for db in (ingest_db, insights_db, tenancy):
            await drop_schema(db)
