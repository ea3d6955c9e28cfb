import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from shared.api.health import Check, health_router
from shared.api.problems import PROBLEM_MEDIA_TYPE


async def passing() -> None:
    return None


async def failing() -> None:
    raise ConnectionError("broker kafka:9092 refused the connection")


async def hanging() -> None:
    await asyncio.sleep(60)


async def client_for(checks: dict[str, Check]) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(health_router("ingest", checks, timeout_seconds=0.05))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def healthy() -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_for({"database": passing, "kafka": passing}):
        yield c


@pytest.fixture
async def broken() -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_for({"database": passing, "kafka": failing, "cache": hanging}):
        yield c


async def test_healthz_is_200_even_when_dependencies_fail(broken: httpx.AsyncClient) -> None:
    response = await broken.get("/v1/ingest/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "ingest"}


async def test_readyz_is_200_when_every_check_passes(healthy: httpx.AsyncClient) -> None:
    response = await healthy.get("/v1/ingest/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "kafka": "ok"}}


async def test_readyz_is_503_naming_failed_and_timed_out_checks(
    broken: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="shared.api.health"):
        response = await broken.get("/v1/ingest/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert "retry-after" in response.headers
    body = response.json()
    assert body["status"] == 503
    assert body["detail"] == "Not ready: cache, kafka."
    assert body["checks"]["database"] == "ok"
    assert body["checks"] == {"database": "ok", "kafka": "unavailable", "cache": "unavailable"}
    assert "kafka:9092" not in response.text, "no host, port or exception text to probes"
    assert "ConnectionError: broker kafka:9092 refused" in caplog.text, "the operator sees why"
    assert "timed out after 0.05s" in caplog.text


async def test_readyz_waits_for_checks_in_parallel_not_in_series() -> None:
    checks: dict[str, Check] = {f"slow-{i}": hanging for i in range(5)}
    async for c in client_for(checks):
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await c.get("/v1/ingest/readyz")

        assert response.status_code == 503
        assert loop.time() - started < 0.25


def test_endpoints_are_documented_under_the_service_tag() -> None:
    app = FastAPI()
    app.include_router(health_router("ingest", {}))
    paths = app.openapi()["paths"]

    for path in ("/v1/ingest/healthz", "/v1/ingest/readyz"):
        operation = paths[path]["get"]
        assert operation["tags"] == ["ingest"]
        assert operation["summary"] and operation["description"]
    assert PROBLEM_MEDIA_TYPE in paths["/v1/ingest/readyz"]["get"]["responses"]["503"]["content"]
