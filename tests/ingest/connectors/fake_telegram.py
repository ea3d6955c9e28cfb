"""A local Telegram Bot API that speaks getUpdates and deleteWebhook, one queue per bot token.

Like Telegram, it keeps every update until getUpdates is called with an offset above its
id, holds an empty getUpdates open for `timeout` seconds (returning early when an update
arrives), and answers flood control with 429 and parameters.retry_after.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Call:
    """One Bot API request as the fake received it."""

    method: str
    params: dict[str, Any]
    at: float
    answered: float = 0.0


@dataclass
class FakeBot:
    """What one bot token sees: its pending updates, flood answers, and the calls made."""

    pending: list[dict[str, Any]] = field(default_factory=list)
    flood: list[int] = field(default_factory=list)
    """retry_after values: the next getUpdates calls are answered 429 with them."""
    webhook: str | None = "https://example.invalid/hook"
    unauthorized: bool = False
    """Answer 401, as Telegram does for a revoked token."""
    calls: list[Call] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, *updates: dict[str, Any]) -> None:
        """Updates Telegram has for the bot, handed out by getUpdates."""
        self.pending.extend(updates)
        self.arrived.set()

    def offsets(self) -> list[int | None]:
        """The offset of every getUpdates call, in order."""
        return [call.params.get("offset") for call in self.calls if call.method == "getUpdates"]

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]


class FakeBotApi:
    """The fake server: uvicorn on 127.0.0.1, a free port, inside the test's event loop."""

    def __init__(self) -> None:
        self.bots: dict[str, FakeBot] = {}
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def bot(self, token: str) -> FakeBot:
        return self.bots.setdefault(token, FakeBot())

    async def start(self) -> None:
        app = Starlette(routes=[Route("/bot{token}/{method}", self._handle, methods=["POST"])])
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        # uvicorn offers no event to wait on
        while not self._server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

    async def _handle(self, request: Request) -> JSONResponse:
        token, method = request.path_params["token"], request.path_params["method"]
        params: dict[str, Any] = {}
        for key, value in parse_qsl((await request.body()).decode()):
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        bot = self.bot(token)
        call = Call(method, params, time.monotonic())
        bot.calls.append(call)
        try:
            if bot.unauthorized:
                return _error(401, "Unauthorized")
            if method == "deleteWebhook":
                bot.webhook = None
                return _ok(True)
            if method == "getUpdates":
                return await self._get_updates(bot, params)
            return JSONResponse(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404
            )
        finally:
            call.answered = time.monotonic()

    async def _get_updates(self, bot: FakeBot, params: dict[str, Any]) -> JSONResponse:
        if bot.webhook is not None:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        if bot.flood:
            retry_after = bot.flood.pop(0)
            return _error(
                429,
                f"Too Many Requests: retry after {retry_after}",
                parameters={"retry_after": retry_after},
            )
        self._confirm(bot, params)
        if not bot.pending:
            bot.arrived.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(bot.arrived.wait(), timeout=params.get("timeout", 0))
            self._confirm(bot, params)
        return _ok(bot.pending[: params.get("limit", 100)])

    @staticmethod
    def _confirm(bot: FakeBot, params: dict[str, Any]) -> None:
        """Forget what a higher offset confirmed, and kinds the bot did not ask for."""
        offset = params.get("offset") or 0
        allowed = params.get("allowed_updates")
        bot.pending = [
            update
            for update in bot.pending
            if update["update_id"] >= offset
            and (allowed is None or any(kind in update for kind in allowed))
        ]


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(code: int, description: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "error_code": code, "description": description, **extra}, status_code=code
    )
