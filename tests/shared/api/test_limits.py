"""Body caps while the body streams in; token buckets and the IETF RateLimit fields."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request

from shared.api.limits import ApiLimitsMiddleware, declared_cap, install_api_limits
from shared.api.pagination import CursorDep, cursor_int, cursor_str, encode_cursor
from shared.api.problems import install_problem_handlers
from shared.api.ratelimit import KEY_POLICY, RateLimiter, RateLimitSettings, limit_request

MB = 1024 * 1024


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_api_limits(app, rate=RateLimitSettings(key_burst=3, key_per_second=0.5))
    app.state.authenticated = 0

    @app.post("/small")
    async def small(request: Request) -> dict[str, int]:
        app.state.authenticated += 1  # stands for the key lookup a route does first
        return {"size": len(await request.body())}

    @app.post("/big", openapi_extra=declared_cap(None, 4 * MB))
    async def big(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.get("/limited")
    async def limited(request: Request) -> dict[str, bool]:
        limit_request(request, KEY_POLICY, "key-1")
        return {"ok": True}

    @app.get("/page")
    async def page(cursor: CursorDep) -> dict[str, Any]:
        return {"before": cursor_int(cursor, "before"), "after": cursor_str(cursor, "after")}

    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_body_over_the_cap_is_413_before_the_route_runs() -> None:
    app = build_app()
    async with client(app) as http:
        refused = await http.post("/small", content=b"x" * (MB + 1))
        assert refused.status_code == 413
        assert refused.headers["content-type"] == "application/problem+json"
        assert app.state.authenticated == 0
        assert (await http.post("/small", content=b"x" * MB)).json() == {"size": MB}
        # a route declaring a larger cap gets it; nothing else does
        assert (await http.post("/big", content=b"x" * (2 * MB))).status_code == 200
        assert (await http.post("/big", content=b"x" * (4 * MB + 1))).status_code == 413


async def test_a_streamed_body_is_refused_without_reading_it_all() -> None:
    """200 MB announced as chunks, no Content-Length: read stops just past the 1 MiB cap."""
    reached: list[int] = []

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:  # never reached
        reached.append(1)

    middleware = ApiLimitsMiddleware(endpoint, max_body_bytes=MB)
    chunk = b"x" * 65536
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < 3200}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [], "app": None}
    await middleware(scope, receive, send)
    assert sent[0]["status"] == 413
    assert reached == []
    assert pulled * len(chunk) <= MB + len(chunk)  # at most one chunk past the cap


async def test_an_announced_oversize_body_is_refused_unread() -> None:
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("route reached")

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "headers": [(b"content-length", str(200 * MB).encode())],
        "app": None,
    }
    await ApiLimitsMiddleware(endpoint, max_body_bytes=MB)(scope, receive, send)
    assert sent[0]["status"] == 413 and pulled == 0


async def test_a_spent_bucket_answers_429_with_retry_after_and_ratelimit_fields() -> None:
    app = build_app()
    async with client(app) as http:
        answers = [await http.get("/limited") for _ in range(5)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert answers[0].headers["ratelimit-policy"] == '"key";q=3;w=6'
    assert answers[0].headers["ratelimit"].startswith('"key";r=2;t=')
    refused = answers[3]
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit"].startswith('"key";r=0;')
    assert len(refused.headers.get_list("ratelimit")) == 1  # one field, not repeated


def test_buckets_refill_at_their_rate_and_are_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter.from_settings(RateLimitSettings(key_burst=2, key_per_second=1))
    limiter.clock = lambda: now[0]
    assert [limiter.hit(KEY_POLICY, "a").allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit(KEY_POLICY, "b").allowed  # another key has its own bucket
    refused = limiter.hit(KEY_POLICY, "a")
    assert refused.retry_after == 1
    now[0] = 1.0
    assert limiter.hit(KEY_POLICY, "a").allowed
    assert not limiter.hit(KEY_POLICY, "a").allowed


async def test_a_tampered_cursor_is_a_400_problem() -> None:
    app = build_app()
    async with client(app) as http:
        good = await http.get("/page", params={"cursor": encode_cursor({"before": 7})})
        assert good.json() == {"before": 7, "after": None}
        for position in ({"before": "abc"}, {"before": [1]}, {"after": 5}, {"before": 10**30}):
            bad = await http.get("/page", params={"cursor": encode_cursor(position)})
            assert bad.status_code == 400, position
            assert bad.headers["content-type"] == "application/problem+json"
        assert (await http.get("/page", params={"cursor": "!!!"})).status_code == 400
