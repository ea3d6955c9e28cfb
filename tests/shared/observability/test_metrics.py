from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from shared.api.problems import NotFound, install_problem_handlers
from shared.observability.metrics import PrometheusMiddleware, metrics_router


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(PrometheusMiddleware)
    app.include_router(metrics_router())

    @app.get("/v1/metricstest/items/{item_id}")
    async def get_item(item_id: str) -> dict[str, str]:
        if item_id == "missing":
            raise NotFound()
        return {"id": item_id}

    @app.get("/v1/metricstest/crash")
    async def crash() -> None:
        raise RuntimeError("boom")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def requests_total(**labels: str) -> float:
    return REGISTRY.get_sample_value("hearth_http_requests_total", labels) or 0.0


async def test_metrics_endpoint_serves_prometheus_text_with_route_template(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/v1/metricstest/items/42")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items())))
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    labels = {
        "service": "metricstest",
        "method": "GET",
        "route": "/v1/metricstest/items/{item_id}",
        "status": "200",
    }
    assert ("hearth_http_requests_total", tuple(sorted(labels.items()))) in samples
    assert "/v1/metricstest/items/42" not in response.text


async def test_requests_are_counted_per_status_and_template(client: httpx.AsyncClient) -> None:
    route = "/v1/metricstest/items/{item_id}"
    before = requests_total(service="metricstest", method="GET", route=route, status="404")

    await client.get("/v1/metricstest/items/missing")
    await client.get("/v1/metricstest/items/missing")

    after = requests_total(service="metricstest", method="GET", route=route, status="404")
    assert after - before == 2
    assert (
        REGISTRY.get_sample_value(
            "hearth_http_request_seconds_count",
            {"service": "metricstest", "method": "GET", "route": route},
        )
        or 0
    ) >= 2


async def test_unexpected_errors_count_as_500(client: httpx.AsyncClient) -> None:
    labels = {
        "service": "metricstest",
        "method": "GET",
        "route": "/v1/metricstest/crash",
        "status": "500",
    }
    before = requests_total(**labels)

    response = await client.get("/v1/metricstest/crash")

    assert response.status_code == 500
    assert requests_total(**labels) - before == 1


async def test_unmatched_paths_share_one_series(client: httpx.AsyncClient) -> None:
    labels = {"service": "hearth", "method": "GET", "route": "<unmatched>", "status": "404"}
    before = requests_total(**labels)

    await client.get("/v1/random-a/whatever")
    await client.get("/scan/wp-admin.php")

    assert requests_total(**labels) - before == 2


async def test_unknown_methods_are_folded_into_other(client: httpx.AsyncClient) -> None:
    labels = {
        "service": "metricstest",
        "method": "OTHER",
        "route": "/v1/metricstest/items/{item_id}",
        "status": "405",
    }
    before = requests_total(**labels)

    await client.request("BREW", "/v1/metricstest/items/1")

    assert requests_total(**labels) - before == 1


def test_metrics_endpoint_is_not_in_the_openapi_schema() -> None:
    assert "/metrics" not in build_app().openapi()["paths"]
