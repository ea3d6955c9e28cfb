"""A fake platform API: records every request, answers like the platform, fails on demand.

Each platform fake subclasses FakePlatform with `succeed` (the platform's answer to a call
that works) and `failure` (its answer for a status). `fail_next(n, status)` makes the next
n requests fail; `reply_next` scripts any answer. `serve` runs a fake with uvicorn on a
free loopback port inside the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
F = TypeVar("F", bound="FakePlatform")


@dataclass(frozen=True)
class Call:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def params(self) -> dict[str, Any]:
        """Query string, form fields and JSON body merged, as a Web API platform reads them."""
        merged: dict[str, Any] = dict(self.query)
        kind = self.headers.get("content-type", "")
        if "application/json" in kind and self.body:
            merged.update(self.json)
        elif "application/x-www-form-urlencoded" in kind:
            merged.update(parse_qsl(self.body.decode(), keep_blank_values=True))
        return merged


@dataclass(frozen=True)
class Reply:
    """What the fake answers: a status, a JSON body (None: empty) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None


class FakePlatform:
    """Base of the platform fakes; api_url is what a client takes as its base URL."""

    api_path = ""

    @property
    def api_url(self) -> str:
        return self.url + self.api_path

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.url = ""
        self._scripted: deque[Reply] = deque()
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=METHODS)])

    def reset(self) -> None:
        """Forget calls and scripted replies (state a subclass keeps is its own)."""
        self.calls.clear()
        self._scripted.clear()

    def fail_next(self, n: int, status: int, **details: Any) -> None:
        """Answer the next n requests with the platform's failure for `status`."""
        self._scripted.extend(self.failure(status, **details) for _ in range(n))

    def reply_next(self, reply: Reply, n: int = 1) -> None:
        self._scripted.extend(reply for _ in range(n))

    def succeed(self, call: Call) -> Reply:
        raise NotImplementedError

    # A subclass defines failure(status, *, its own details); typed loosely for that.
    failure: Callable[..., Reply]

    async def _handle(self, request: Request) -> Response:
        call = Call(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
        )
        self.calls.append(call)
        reply = self._scripted.popleft() if self._scripted else self.succeed(call)
        if reply.content_type is not None:
            body = reply.body if isinstance(reply.body, str) else ""
            return Response(
                body, reply.status, headers=reply.headers, media_type=reply.content_type
            )
        if reply.body is None:
            return Response(status_code=reply.status, headers=reply.headers)
        return JSONResponse(reply.body, reply.status, headers=reply.headers)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Leave Ctrl-C to pytest.
        yield


@contextlib.asynccontextmanager
async def serve(fake: F) -> AsyncIterator[F]:
    """Run `fake` on 127.0.0.1 with a free port; fake.url is its base URL."""
    config = uvicorn.Config(
        fake.app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,  # the Telegram path carries the bot token
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the fake server stopped before it started")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        await task
