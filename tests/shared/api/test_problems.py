import logging
from collections.abc import AsyncIterator
from http import HTTPStatus

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, OperationalError

from shared.api.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_RESPONSES,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Problem,
    ServiceUnavailable,
    Unauthorized,
    install_problem_handlers,
)


class Signup(BaseModel):
    email: str
    password: int


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    raising = {
        "bad-request": BadRequest("limit and cursor disagree"),
        "unauthorized": Unauthorized("who are you"),
        "forbidden": Forbidden("not yours"),
        "not-found": NotFound("no such member"),
        "conflict": Conflict("already merged"),
        "too-large": PayloadTooLarge("body over 1 MiB"),
        "unavailable": ServiceUnavailable("kafka is down", retry_after=7),
        "teapot": Problem(
            "short and stout",
            status=418,
            type="https://hearth.dev/problems/teapot",
            instance="/pots/1",
            pot_id="1",
        ),
    }

    @app.get("/raise/{name}", responses=PROBLEM_RESPONSES)
    async def raise_problem(name: str) -> None:
        raise raising[name]

    @app.get("/http-exception")
    async def http_exception() -> None:
        raise HTTPException(status_code=409, detail="legacy conflict", headers={"X-Why": "test"})

    @app.post("/signup")
    async def signup(body: Signup) -> dict[str, str]:
        return {"email": body.email}

    @app.get("/database-down")
    async def database_down() -> None:
        refused = ConnectionRefusedError(111, "Connect call failed ('10.0.0.5', 5432)")
        raise OperationalError("select 1", {}, refused)

    @app.get("/database-bug")
    async def database_bug() -> None:
        raise IntegrityError("insert", {}, ValueError("duplicate key value"))

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("database password is hunter2")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: Starlette re-raises after the 500 handler ran, as servers expect.
    transport = httpx.ASGITransport(app=build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.mark.parametrize(
    ("name", "status", "detail"),
    [
        ("bad-request", 400, "limit and cursor disagree"),
        ("unauthorized", 401, "who are you"),
        ("forbidden", 403, "not yours"),
        ("not-found", 404, "no such member"),
        ("conflict", 409, "already merged"),
        ("too-large", 413, "body over 1 MiB"),
        ("unavailable", 503, "kafka is down"),
    ],
)
async def test_each_problem_is_answered_as_problem_json(
    client: httpx.AsyncClient, name: str, status: int, detail: str
) -> None:
    response = await client.get(f"/raise/{name}")

    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json() == {
        "type": "about:blank",
        # RFC 9457: with type about:blank the title is the status phrase (it varies by Python).
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }


async def test_unauthorized_asks_for_a_bearer_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/raise/unauthorized")

    assert response.headers["www-authenticate"] == "Bearer"


async def test_service_unavailable_says_when_to_retry(client: httpx.AsyncClient) -> None:
    response = await client.get("/raise/unavailable")

    assert response.headers["retry-after"] == "7"


async def test_custom_problem_keeps_type_instance_and_extension_members(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/raise/teapot")

    assert response.status_code == 418
    assert response.json() == {
        "type": "https://hearth.dev/problems/teapot",
        "title": HTTPStatus(418).phrase,
        "status": 418,
        "detail": "short and stout",
        "instance": "/pots/1",
        "pot_id": "1",
    }


async def test_http_exception_becomes_a_problem_with_its_status_and_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/http-exception")

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["x-why"] == "test"
    assert response.json() == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "legacy conflict",
    }


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json() == {"type": "about:blank", "title": "Not Found", "status": 404}


async def test_wrong_method_is_a_405_problem_that_lists_allowed_methods(
    client: httpx.AsyncClient,
) -> None:
    response = await client.delete("/signup")

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["allow"] == "POST"


async def test_validation_error_lists_each_bad_field_without_echoing_values(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/signup", json={"password": "s3cr3t-value"})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == 422
    assert body["type"] == "about:blank"
    assert sorted((e["loc"], e["type"]) for e in body["errors"]) == [
        ("body.email", "missing"),
        ("body.password", "int_parsing"),
    ]
    assert all(set(e) == {"loc", "msg", "type"} for e in body["errors"])
    assert "s3cr3t-value" not in response.text


async def test_unexpected_error_is_a_generic_500_and_is_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="shared.api.problems"):
        response = await client.get("/crash")

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "An unexpected error occurred.",
    }
    assert "hunter2" not in response.text
    assert any(r.exc_info and "hunter2" in str(r.exc_info[1]) for r in caplog.records)


def test_problem_responses_document_problem_json_in_openapi() -> None:
    operation = build_app().openapi()["paths"]["/raise/{name}"]["get"]

    not_found = operation["responses"]["404"]
    assert not_found["content"][PROBLEM_MEDIA_TYPE]["schema"] == {
        "$ref": "#/components/schemas/ProblemModel"
    }
    assert set(operation["responses"]) >= {"400", "401", "403", "404", "422", "500", "503"}


async def test_an_unreachable_database_is_a_503_with_retry_after_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/database-down")

    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["dependency"] == "database"
    assert "10.0.0.5" not in response.text and "5432" not in response.text


async def test_a_database_error_about_the_statement_stays_a_500(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/database-bug")

    assert response.status_code == 500
    assert "duplicate key" not in response.text
