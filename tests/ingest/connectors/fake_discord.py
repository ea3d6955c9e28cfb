"""A local Discord: the REST calls a bot makes to log in and the Gateway websocket.

REST (under /api/v10): GET /users/@me, /oauth2/applications/@me and /gateway/bot, the
last pointing at this server's websocket, and GET /channels/{id}/messages?after=&limit=
from a bot's `history` (the messages after `after`, at most `limit`, newest first, as
Discord pages them). Gateway: HELLO, then IDENTIFY (or RESUME) is
answered with READY (guilds unavailable) and a GUILD_CREATE per guild (a RESUME with
INVALID_SESSION d=false when the bot's `refuse_resume` is set, as Discord does for a
session it dropped), heartbeats with HEARTBEAT_ACK, and the dispatches a test queues are
sent with increasing `s`. Frames go
zlib-stream compressed (one compressor per connection, Z_SYNC_FLUSH per frame) when
the client asks for it, as Discord does; otherwise as text.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

HELLO, IDENTIFY, RESUME, HEARTBEAT, HEARTBEAT_ACK, DISPATCH = 10, 2, 6, 1, 11, 0
INVALID_SESSION = 9
Sender = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class FakeDiscordBot:
    """One bot token: its guilds, the dispatches to send, and what it did."""

    user_id: str
    guilds: list[str] = field(default_factory=list)
    outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    identifies: list[dict[str, Any]] = field(default_factory=list)
    resumes: list[dict[str, Any]] = field(default_factory=list)
    compress: list[str | None] = field(default_factory=list)
    """The compress parameter of each gateway connection."""
    rest_calls: list[str] = field(default_factory=list)
    open_sockets: int = 0
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Each channel's messages (REST message objects), as GET …/messages serves them."""
    refuse_resume: bool = False
    history_reads: list[dict[str, str]] = field(default_factory=list)

    def dispatch(self, frame: dict[str, Any]) -> None:
        """Queue a dispatch frame ({"op": 0, "t", "d", "s"}); `s` is set when it is sent."""
        self.outbox.put_nowait(frame)


class FakeDiscord:
    """The fake server (aiohttp, 127.0.0.1, a free port) with one FakeDiscordBot per token."""

    def __init__(self) -> None:
        self.bots: dict[str, FakeDiscordBot] = {}
        self.rest_calls: list[tuple[str, str]] = []
        self.api_url = ""
        self._gateway_url = ""
        self._runner: web.AppRunner | None = None

    def bot(self, token: str, *, user_id: str = "900000000000000001") -> FakeDiscordBot:
        return self.bots.setdefault(token, FakeDiscordBot(user_id))

    @property
    def gateway_url(self) -> str:
        return self._gateway_url

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v10/users/@me", self._me)
        app.router.add_get("/api/v10/oauth2/applications/@me", self._application)
        app.router.add_get("/api/v10/gateway/bot", self._gateway_bot)
        app.router.add_get("/api/v10/channels/{channel_id}/messages", self._messages)
        app.router.add_get("/gateway", self._gateway)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.api_url = f"http://127.0.0.1:{port}/api/v10"
        self._gateway_url = f"ws://127.0.0.1:{port}/gateway"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # REST ---------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> FakeDiscordBot | None:
        self.rest_calls.append((request.method, request.path))
        header = request.headers.get("Authorization", "")
        bot = self.bots.get(header.removeprefix("Bot ")) if header.startswith("Bot ") else None
        if bot is not None:
            bot.rest_calls.append(f"{request.method} {request.path}")
        return bot

    async def _me(self, request: web.Request) -> web.Response:
        bot = self._authorized(request)
        if bot is None:
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json(_user(bot.user_id))

    async def _application(self, request: web.Request) -> web.Response:
        bot = self._authorized(request)
        if bot is None:
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json(
            {
                "id": bot.user_id,
                "name": "Hearth test bot",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": _user("900000000000000099"),
                "verify_key": "0" * 64,
                "flags": 0,
                "interactions_endpoint_url": None,
            }
        )

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        if self._authorized(request) is None:
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json(
            {
                "url": self._gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _messages(self, request: web.Request) -> web.Response:
        bot = self._authorized(request)
        if bot is None:
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        channel = request.match_info["channel_id"]
        if channel not in bot.history:
            return _json({"message": "Unknown Channel", "code": 10003}, status=404)
        bot.history_reads.append({"channel": channel, **request.query})
        after = int(request.query.get("after", "0"))
        limit = min(int(request.query.get("limit", "50")), 100)
        newer = sorted(
            (m for m in bot.history[channel] if int(m["id"]) > after), key=lambda m: int(m["id"])
        )
        return _json(list(reversed(newer[:limit])))

    # Gateway ------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        compress = request.query.get("compress")
        send = _sender(socket, compress)
        await send({"op": HELLO, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        bot: FakeDiscordBot | None = None
        pump: asyncio.Task[None] | None = None
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    break
                frame = json.loads(message.data)
                if frame["op"] == HEARTBEAT:
                    await send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
                elif frame["op"] in (IDENTIFY, RESUME) and bot is None:
                    bot = self.bots.get(frame["d"]["token"])
                    if bot is None:
                        await socket.close(code=4004, message=b"Authentication failed.")
                        break
                    if frame["op"] == RESUME and bot.refuse_resume:
                        await send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
                        bot.resumes.append(frame["d"])
                        bot = None
                        continue
                    bot.compress.append(compress)
                    bot.open_sockets += 1
                    bot.sockets.append(socket)
                    pump = asyncio.create_task(self._session(bot, frame, send))
        finally:
            if pump is not None:
                pump.cancel()
            if bot is not None:
                bot.open_sockets -= 1
        return socket

    async def _session(self, bot: FakeDiscordBot, hello: dict[str, Any], send: Sender) -> None:
        seq = 0

        async def dispatch(name: str, data: dict[str, Any]) -> None:
            nonlocal seq
            seq += 1
            await send({"op": DISPATCH, "t": name, "s": seq, "d": data})

        if hello["op"] == IDENTIFY:
            bot.identifies.append(hello["d"])
            await dispatch(
                "READY",
                {
                    "v": 10,
                    "user": _user(bot.user_id, bot=True),
                    "guilds": [{"id": guild, "unavailable": True} for guild in bot.guilds],
                    "session_id": f"session-{len(bot.identifies)}",
                    "resume_gateway_url": self._gateway_url,
                    "shard": [0, 1],
                    "application": {"id": bot.user_id, "flags": 0},
                },
            )
            for guild in bot.guilds:
                await dispatch("GUILD_CREATE", _guild(guild, bot.user_id))
        else:
            bot.resumes.append(hello["d"])
            seq = hello["d"]["seq"]
            await dispatch("RESUMED", {})
        while True:
            frame = await bot.outbox.get()
            await dispatch(frame["t"], frame["d"])


def _sender(socket: web.WebSocketResponse, compress: str | None) -> Sender:
    if compress != "zlib-stream":

        async def send_text(frame: dict[str, Any]) -> None:
            await socket.send_str(json.dumps(frame))

        return send_text
    compressor = zlib.compressobj()

    async def send_zlib(frame: dict[str, Any]) -> None:
        data = compressor.compress(json.dumps(frame).encode())
        await socket.send_bytes(data + compressor.flush(zlib.Z_SYNC_FLUSH))

    return send_zlib


def _user(user_id: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": "hearth-test",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "bot": bot,
    }


def _guild(guild_id: str, bot_id: str) -> dict[str, Any]:
    return {
        "id": guild_id,
        "name": f"Guild {guild_id}",
        "icon": None,
        "owner_id": "900000000000000099",
        "unavailable": False,
        "member_count": 2,
        "large": False,
        "joined_at": "2024-01-01T00:00:00+00:00",
        "features": [],
        "roles": [_everyone(guild_id)],
        "emojis": [],
        "stickers": [],
        "channels": [],
        "threads": [],
        "members": [],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "system_channel_flags": 0,
    }


def _everyone(guild_id: str) -> dict[str, Any]:
    return {
        "id": guild_id,
        "name": "@everyone",
        "permissions": "0",
        "position": 0,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json", as Discord sends it: discord.py decodes nothing else.
    body = json.dumps(data).encode()
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})
