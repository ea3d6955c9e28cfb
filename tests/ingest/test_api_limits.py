"""Rate limits per key and per webhook binding, and body caps, on the running service."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from shared.tenancy.repository import create_key, create_tenant
from tests.ingest.conftest import Ingest, slack_headers

pytestmark = pytest.mark.integration

BURST = 20


@pytest.fixture
def ingest_env() -> dict[str, str]:
    # Slow refill so a flood is refused however fast or slow the machine is.
    return {
        "HEARTH_RATELIMIT_KEY_BURST": str(BURST),
        "HEARTH_RATELIMIT_KEY_PER_SECOND": "0.1",
        "HEARTH_RATELIMIT_BINDING_BURST": "5",
        "HEARTH_RATELIMIT_BINDING_PER_SECOND": "0.1",
    }


async def test_a_flooding_tenant_gets_429_while_another_is_served(ingest: Ingest) -> None:
    other = f"flood{int(time.time() * 1000)}"
    await create_tenant(ingest.host.tenancy_db, other, "Flooder")
    flooder = await create_key(ingest.host.tenancy_db, tenant_id=other, name="b", scopes=["admin"])

    async def get(key: str) -> int:
        answer = await ingest.client.get("/v1/ingest/communities", headers=ingest.auth(key))
        return answer.status_code

    flood = [get(flooder) for _ in range(3 * BURST)]
    calm = [get(ingest.admin_key) for _ in range(BURST // 2)]
    statuses = await asyncio.gather(*flood, *calm)
    flood_statuses, calm_statuses = statuses[: len(flood)], statuses[len(flood) :]
    assert calm_statuses == [200] * len(calm)
    assert flood_statuses.count(429) >= BURST  # at most BURST (+ refill) were served
    assert set(flood_statuses) <= {200, 429}
    refused = await ingest.client.get("/v1/ingest/communities", headers=ingest.auth(flooder))
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-policy"] == f'"key";q={BURST};w={BURST * 10}'
    assert refused.headers["ratelimit"].startswith('"key";r=0;t=')


async def test_a_flooding_binding_gets_429_while_another_binding_is_served(
    ingest: Ingest,
) -> None:
    secret = "flood-signing"
    loud = await ingest.bind(
        await ingest.community("loud"), "slack", "TLOUD1", {"signing_secret": secret}
    )
    quiet = await ingest.bind(
        await ingest.community("quiet"), "slack", "TQUIET1", {"signing_secret": secret}
    )
    body = json.dumps({"type": "url_verification", "challenge": "c", "token": "t"}).encode()

    async def deliver(binding: dict[str, str]) -> int:
        answer = await ingest.client.post(
            binding["webhook_path"], content=body, headers=slack_headers(secret, body)
        )
        return answer.status_code

    loud_statuses = await asyncio.gather(*[deliver(loud) for _ in range(15)])
    assert loud_statuses.count(429) >= 10 - 1
    assert [await deliver(quiet) for _ in range(4)] == [200] * 4
    # an unsigned flood does not spend a binding's quota
    for _ in range(10):
        unsigned = await ingest.client.post(quiet["webhook_path"], content=body)
        assert unsigned.status_code == 401
    assert await deliver(quiet) == 200


async def test_oversize_bodies_are_refused_on_admin_routes_too(ingest: Ingest) -> None:
    huge = b'{"name": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    refused = await ingest.client.post(
        "/v1/ingest/communities",
        content=huge,
        headers={**ingest.auth(), "Content-Type": "application/json"},
    )
    assert refused.status_code == 413
    community = await ingest.community()
    options = {"blob": "x" * (5 * 1024 * 1024)}
    too_big = await ingest.client.post(
        f"/v1/ingest/communities/{community}/bindings",
        json={
            "platform": "slack",
            "external_id": "TOPTS1",
            "secrets": {"signing_secret": "s"},
            "options": options,
        },
        headers=ingest.auth(),
    )
    assert too_big.status_code == 413
    still_too_big = await ingest.client.post(
        f"/v1/ingest/communities/{community}/bindings",
        json={
            "platform": "slack",
            "external_id": "TOPTS1",
            "secrets": {"signing_secret": "s"},
            "options": {"blob": "x" * 100_000},
        },
        headers=ingest.auth(),
    )
    assert still_too_big.status_code == 422
    listed = await ingest.client.get(
        f"/v1/ingest/communities/{community}/bindings", headers=ingest.auth()
    )
    assert listed.json()["items"] == []
