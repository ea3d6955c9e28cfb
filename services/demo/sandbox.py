"""Local stand-ins for Telegram's Bot API and the teams' webhooks, so the demo's actions and
routed insights have somewhere to go.

The demo's Telegram binding has no real bot, and the machine may have no network: ingest
is pointed at this server instead of api.telegram.org (its `telegram_api_url` setting)
and its real client calls it. Every call is answered like the Bot API answers success and
recorded, so the demo can show what Telegram would have been asked to do. `/hooks/{team}`
receives the insights routed to a team's webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Sandbox:
    """The calls received, as (Bot API method, its parameters)."""

    url: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    hooks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Webhook deliveries received at /hooks/{team}: (team, the JSON body)."""
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int, timeout: float) -> None:
        """Return once `count` calls arrived, or after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.calls) < count and (left := deadline - loop.time()) > 0:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def _call(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        body = await request.body()
        kind = request.headers.get("content-type", "")
        params: dict[str, Any]
        if "json" in kind and body:
            params = json.loads(body)
        else:
            params = dict(parse_qsl(body.decode("utf-8", "replace")))
        self.calls.append((method, params))
        self._arrived.set()
        result: Any = True
        if method == "sendMessage":  # the Bot API answers with the message it sent
            result = {
                "message_id": 90_000 + len(self.calls),
                "date": int(time.time()),
                "chat": {"id": int(params.get("chat_id", 0)), "type": "supergroup"},
                "from": {"id": 700000, "is_bot": True, "first_name": "Hearth"},
                "text": params.get("text", ""),
            }
        return JSONResponse({"ok": True, "result": result})

    async def _hook(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        self.hooks.append((request.path_params["team"], payload))
        return JSONResponse({"ok": True})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def telegram_sandbox() -> AsyncIterator[Sandbox]:
    """Serve the stand-in on a free loopback port for the duration of the block."""
    sandbox = Sandbox()
    app = Starlette(
        routes=[
            Route("/bot{token}/{method}", sandbox._call, methods=["POST"]),
            Route("/hooks/{team}", sandbox._hook, methods=["POST"]),
        ]
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve(), name="demo-telegram-sandbox")
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    sandbox.url = f"http://127.0.0.1:{port}"
    try:
        yield sandbox
    finally:
        server.should_exit = True
        await task
