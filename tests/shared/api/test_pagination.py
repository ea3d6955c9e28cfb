from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.api.pagination import (
    CursorDep,
    LimitDep,
    Page,
    decode_cursor,
    encode_cursor,
)
from shared.api.problems import PROBLEM_MEDIA_TYPE, BadRequest, install_problem_handlers

NUMBERS = list(range(1, 8))


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/numbers")
    async def numbers(limit: LimitDep, cursor: CursorDep) -> Page[int]:
        after = cursor["after"] if cursor else 0
        items = [n for n in NUMBERS if n > after][:limit]
        more = bool(items) and items[-1] < NUMBERS[-1]
        return Page(items=items, next_cursor=encode_cursor({"after": items[-1]}) if more else None)

    @app.get("/limit")
    async def echo_limit(limit: LimitDep) -> dict[str, int]:
        return {"limit": limit}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.mark.parametrize(
    "position",
    [{"after": 3}, {"ts": "2024-05-01T12:00:00+00:00", "id": "01HX", "n": None}, {}],
)
def test_cursor_round_trips(position: dict[str, Any]) -> None:
    cursor = encode_cursor(position)

    assert decode_cursor(cursor) == position
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor


@pytest.mark.parametrize("garbage", ["!!!", "bm90IGpzb24", "WzEsMl0", "é"])
def test_garbage_cursor_is_a_bad_request(garbage: str) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(garbage)


async def test_client_walks_every_page_with_next_cursor(client: httpx.AsyncClient) -> None:
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = (await client.get("/numbers", params=params)).json()
        seen += page["items"]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]

    assert seen == NUMBERS


async def test_garbage_cursor_in_query_is_a_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/numbers", params={"cursor": "definitely-not-a-cursor"})

    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["detail"] == "Invalid pagination cursor."


async def test_limit_defaults_to_50(client: httpx.AsyncClient) -> None:
    response = await client.get("/limit")

    assert response.json() == {"limit": 50}


@pytest.mark.parametrize("limit", [0, 501, -1])
async def test_limit_out_of_range_is_a_422_problem(client: httpx.AsyncClient, limit: int) -> None:
    response = await client.get("/limit", params={"limit": limit})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert [e["loc"] for e in response.json()["errors"]] == ["query.limit"]
