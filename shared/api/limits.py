"""Request body caps, enforced while the body streams in, and the RateLimit answer fields.

`ApiLimitsMiddleware` sits in front of every route (admin routes included). It reads a
request's body before the route runs — so before authentication, database or JSON
work — and stops at the route's cap: a `Content-Length` above the cap is answered 413
without reading a byte; a streamed body is answered 413 as soon as the bytes counted
pass the cap, so memory per request is bounded by the cap, never by what the client
sends. The route then receives the body it was going to read anyway.

A route declares a larger or smaller cap with `openapi_extra={MAX_BODY_KEY: n}` (it is
shown in OpenAPI as `x-max-body-bytes`); every other route gets
HEARTH_API_MAX_BODY_BYTES (default 1 MiB).
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.api.problems import PROBLEM_MEDIA_TYPE, PayloadTooLarge
from shared.api.ratelimit import RateLimiter, RateLimitSettings, decision_headers

MAX_BODY_KEY = "x-max-body-bytes"
DEFAULT_MAX_BODY_BYTES = 1_048_576


class BodyLimitSettings(BaseSettings):
    """HEARTH_API_*: the body cap of routes that do not declare their own."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_API_", extra="ignore")

    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)


def declared_caps(app: Any) -> list[tuple[re.Pattern[str], frozenset[str], int]]:
    """(path pattern, methods, cap) of every route of the app that declares its own cap."""
    found = []
    for context in iter_route_contexts(getattr(app, "routes", [])):
        extra = getattr(context.original_route, "openapi_extra", None) or {}
        cap = extra.get(MAX_BODY_KEY)
        if cap and context.path_format:
            pattern, _, _ = compile_path(context.path_format)
            found.append((pattern, frozenset(context.methods or ()), int(cap)))
    return found


class ApiLimitsMiddleware:
    """Caps request bodies as they stream in and adds RateLimit fields to answers."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._caps: list[tuple[re.Pattern[str], frozenset[str], int]] | None = None

    def cap_of(self, scope: Scope) -> int:
        """The cap of the route this request goes to, else the default."""
        if self._caps is None:  # routes are all included by the first request
            self._caps = declared_caps(scope.get("app"))
        for pattern, methods, cap in self._caps:
            if scope["method"] in methods and pattern.match(scope["path"]):
                return cap
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_of(scope)
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await _too_large(send, cap)
            return
        body = await _read_capped(receive, cap)
        if body is None:
            await _too_large(send, cap)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [h for h in decision_headers(scope) if h[0] not in present]
                if extra:
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, replay, send_with_fields)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_capped(receive: Receive, cap: int) -> bytes | None:
    """The whole body, or None as soon as more than `cap` bytes arrived (rest unread)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # disconnect: let the route see an empty body
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _too_large(send: Send, cap: int) -> None:
    problem = PayloadTooLarge(f"Body exceeds {cap} bytes.")
    body = json.dumps(problem.to_body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": problem.status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def install_api_limits(
    app: FastAPI,
    *,
    body: BodyLimitSettings | None = None,
    rate: RateLimitSettings | None = None,
) -> None:
    """Cap every route's body and give the app its rate limiter (app.state.rate_limiter)."""
    body = body or BodyLimitSettings()
    app.state.rate_limiter = RateLimiter.from_settings(rate)
    app.add_middleware(ApiLimitsMiddleware, max_body_bytes=body.max_body_bytes)


def declared_cap(extra: dict[str, Any] | None, cap: int) -> dict[str, Any]:
    """`openapi_extra` of a route with its own body cap."""
    return {**(extra or {}), MAX_BODY_KEY: cap}
