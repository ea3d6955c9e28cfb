"""Discord Gateway connector: one discord.py client per bot token, raw dispatches -> accept.

discord.py keeps the connection (HELLO, IDENTIFY, heartbeats, RESUME, sharding, zlib
streams); with `enable_debug_events` it hands every frame as received to
`on_socket_raw_receive`, and the normalizer reads that raw frame, so nothing depends on
discord.py's object model. `d.guild_id` picks the binding; frames of unbound guilds and
direct messages are dropped at once.

A Gateway has no redelivery beyond RESUME, so frames wait in memory while the broker is
down (bounded by QUEUE_LIMIT; past it they are dropped and counted) and are retried
with backoff. The REST base comes from settings.discord_api_url and the gateway URL
from GET /gateway/bot on it (AutoShardedClient), so tests point both at a fake.

Gap fill. A session that RESUMEs gets the dispatches it missed replayed; one that cannot
(Discord invalidated it, or the process restarted after a crash that lost frames between
receive and publish) starts with READY and would miss them. After each publish the
newest message id of every channel is recorded (discord_channel_marks, after the publish,
so a crash in between re-reads rather than skips). On every READY the connector reads
each marked channel's history after its mark (GET /channels/{id}/messages?after=, pages
of 100, at most HISTORY_PAGES per channel) and publishes it as MESSAGE_CREATE would be:
a message's dedup key is the same either way (domain/dedup.py), so what live traffic
already delivered counts once. Edits, deletions and reactions missed in the gap are not
recovered (history shows only the messages' current state), and channels where no
message was ever published have no mark and are not read.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
import discord
from sqlalchemy.exc import SQLAlchemyError

from services.ingest import repository
from services.ingest.connectors.fleet import Backoff, Bindings, binding_ids, publish, redact
from services.ingest.context import IngestContext
from services.ingest.domain.discord import normalize_discord_gateway
from services.ingest.domain.model import MalformedPayload
from services.ingest.metrics import EVENTS_TOTAL
from shared.bus.port import BusUnavailable
from shared.events.community import CommunityEvent
from shared.events.envelope import utcnow

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
"""Frames held while they cannot be published; more are dropped (and counted)."""
BATCH_LIMIT = 100
HISTORY_PAGE = 100
"""Messages per history request (Discord's maximum)."""
HISTORY_PAGES = 20
"""History requests per channel and gap fill: at most 2,000 messages are recovered."""

Frame = tuple[dict[str, Any], datetime]


def intents() -> discord.Intents:
    """Guild structure, messages with their content, reactions and member joins/leaves.

    message_content and members are privileged: the bot's owner enables them in the
    Developer Portal, or Discord closes the connection with 4014.
    """
    return discord.Intents(
        guilds=True,
        guild_messages=True,
        message_content=True,
        guild_reactions=True,
        members=True,
    )


def use_api(base_url: str) -> None:
    """Send discord.py's REST calls (and so GET /gateway/bot) to `base_url`.

    discord.py keeps its base URL in a class attribute: one API base per process, which is
    what one Settings object per process gives anyway.
    """
    base = base_url.rstrip("/")
    if base != discord.http.Route.BASE:
        discord.http.Route.BASE = base


class RawClient(discord.AutoShardedClient):
    """A client that passes every raw gateway frame on and caches as little as it can."""

    def __init__(self, on_frame: Callable[[str | bytes], None]) -> None:
        super().__init__(
            intents=intents(),
            enable_debug_events=True,
            max_messages=None,
            member_cache_flags=discord.MemberCacheFlags.none(),
            chunk_guilds_at_startup=False,
        )
        self._on_frame = on_frame
        # The dispatch went to on_socket_raw_receive before discord.py parses it into its
        # cache; a frame its parser chokes on must not tear the connection down.
        parsers = self._connection.parsers
        for name, parse in parsers.items():
            parsers[name] = _tolerant(name, parse)

    async def on_socket_raw_receive(self, message: str | bytes) -> None:
        """Every frame, decompressed, in the order received (handlers start in order)."""
        self._on_frame(message)


def _tolerant(name: str, parse: Callable[[Any], None]) -> Callable[[Any], None]:
    def parse_or_log(data: Any) -> None:
        try:
            parse(data)
        except Exception as exc:  # discord.py's cache only; the raw frame was forwarded
            log.warning("discord.py could not parse %s (%s: %s)", name, type(exc).__name__, exc)

    return parse_or_log


class DiscordGateway:
    """Holds one bot's gateway connection and publishes the dispatches of bound guilds."""

    def __init__(self, ctx: IngestContext, token: str, bindings: Bindings) -> None:
        self.bindings = bindings
        self._ctx = ctx
        self._token = token
        self._frames: asyncio.Queue[Frame] = asyncio.Queue(QUEUE_LIMIT)
        self._backoff = Backoff()
        self._client: RawClient | None = None
        self._new_session = asyncio.Event()
        # Held across a publish and its marks, so a gap fill reads marks that are current.
        self._publishing = asyncio.Lock()

    async def run(self) -> None:
        """Connect and publish until cancelled; what fails is logged and retried."""
        use_api(self._ctx.settings.discord_api_url)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._forward())
            tasks.create_task(self._connect())
            tasks.create_task(self._fill_gaps())

    async def _connect(self) -> None:
        while True:
            client = self._client = RawClient(self._receive)
            try:
                await client.start(self._token)
                delay = self._backoff.next()
                log.warning("discord bindings %s: gateway closed", self._names())
            except discord.LoginFailure:
                delay = self._backoff.longest
                log.error("discord bindings %s: Discord rejects the bot token", self._names())
            except discord.PrivilegedIntentsRequired:
                delay = self._backoff.longest
                log.error(
                    "discord bindings %s: enable the Server Members and Message Content "
                    "intents for this bot in the Discord Developer Portal",
                    self._names(),
                )
            except (discord.DiscordException, aiohttp.ClientError, OSError, TimeoutError) as exc:
                delay = self._backoff.next()
                log.warning("discord bindings %s: %s", self._names(), self._say(exc))
            finally:
                await client.close()
            log.info("discord bindings %s: reconnecting in %.1fs", self._names(), delay)
            await asyncio.sleep(delay)

    def _receive(self, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
        except ValueError:
            log.warning("discord bindings %s: a gateway frame is not JSON", self._names())
            return
        if not isinstance(frame, dict) or frame.get("op") != 0:
            return
        if frame.get("t") == "READY":
            self._backoff.reset()
            self._new_session.set()  # not a RESUME: what was missed is read from history
        data = frame.get("d")
        guild = data.get("guild_id") if isinstance(data, dict) else None
        if not isinstance(guild, str) or guild not in self.bindings:
            return
        try:
            self._frames.put_nowait((frame, utcnow()))
        except asyncio.QueueFull:
            EVENTS_TOTAL.labels(source="gateway", outcome="dropped").inc()
            log.warning("discord bindings %s: backlog full, dropped %s", self._names(), frame["t"])

    async def _forward(self) -> None:
        while True:
            batch = [await self._frames.get()]
            while len(batch) < BATCH_LIMIT and not self._frames.empty():
                batch.append(self._frames.get_nowait())
            async with self._publishing:
                await self._publish(self._drafts(batch))
                await self._mark(batch)

    def _drafts(self, batch: list[Frame]) -> list[CommunityEvent]:
        drafts: list[CommunityEvent] = []
        for frame, received_at in batch:
            binding = self.bindings.get(frame["d"]["guild_id"])
            if binding is None:  # unbound since it arrived
                continue
            try:
                normalized = normalize_discord_gateway(frame, binding, received_at=received_at)
            except MalformedPayload as exc:
                EVENTS_TOTAL.labels(source="gateway", outcome="malformed").inc()
                log.warning(
                    "discord %s for binding %s is malformed: %s",
                    frame.get("t"),
                    binding.binding_id,
                    exc,
                )
                continue
            if not normalized.events:
                EVENTS_TOTAL.labels(source="gateway", outcome="ignored").inc()
            drafts.extend(normalized.events)
        return drafts

    async def _mark(self, frames: list[Frame]) -> None:
        """Record the newest message of each channel among frames just published."""
        newest: dict[str, dict[str, int]] = {}
        for frame, _ in frames:
            data = frame["d"]
            binding = self.bindings.get(data.get("guild_id"))
            if frame.get("t") != "MESSAGE_CREATE" or binding is None:
                continue
            channel, message = data.get("channel_id"), data.get("id")
            if not (isinstance(channel, str) and isinstance(message, str) and message.isdigit()):
                continue
            marks = newest.setdefault(binding.binding_id, {})
            marks[channel] = max(marks.get(channel, 0), int(message))
        if not newest:
            return
        try:
            async with self._ctx.db.transaction() as session:
                for binding_id, marks in newest.items():
                    await repository.advance_channel_marks(session, binding_id, marks)
        except SQLAlchemyError as exc:  # the next mark covers it; a fill then reads more
            log.warning("discord bindings %s: marks not recorded (%s)", self._names(), exc)

    async def _fill_gaps(self) -> None:
        while True:
            await self._new_session.wait()
            self._new_session.clear()
            client = self._client
            if client is None:
                continue
            try:
                async with self._publishing, self._ctx.db.transaction() as session:
                    marks = {
                        binding.binding_id: await repository.channel_marks(
                            session, binding.binding_id
                        )
                        for binding in self.bindings.values()
                    }
                for binding in list(self.bindings.values()):
                    for channel, after in marks.get(binding.binding_id, {}).items():
                        try:
                            await self._fill_channel(client, binding.external_id, channel, after)
                        except (discord.Forbidden, discord.NotFound) as exc:
                            # A channel deleted or closed to the bot; the others go on.
                            log.warning(
                                "discord binding %s: channel %s history unreadable (%s)",
                                binding.binding_id,
                                channel,
                                exc.status,
                            )
            except (
                discord.DiscordException,
                aiohttp.ClientError,
                SQLAlchemyError,
                OSError,
                TimeoutError,
            ) as exc:
                log.warning(
                    "discord bindings %s: gap fill stopped: %s", self._names(), self._say(exc)
                )

    async def _fill_channel(self, client: RawClient, guild: str, channel: str, after: int) -> None:
        """Publish the channel's messages after `after`, oldest first, page by page."""
        for _ in range(HISTORY_PAGES):
            page = await client.http.logs_from(channel, HISTORY_PAGE, after=after)
            messages = sorted(
                (m for m in page if isinstance(m, dict) and str(m.get("id", "")).isdigit()),
                key=lambda m: int(m["id"]),
            )
            if not messages:
                return
            received_at = utcnow()
            frames: list[Frame] = [
                (
                    {"op": 0, "t": "MESSAGE_CREATE", "s": None, "d": {**m, "guild_id": guild}},
                    received_at,
                )
                for m in messages
            ]
            async with self._publishing:
                await self._publish(self._drafts(frames), source="gap_fill")
                await self._mark(frames)
            after = int(messages[-1]["id"])
            if len(page) < HISTORY_PAGE:
                return

    async def _publish(self, drafts: list[CommunityEvent], *, source: str = "gateway") -> None:
        backoff = Backoff()
        while True:
            try:
                await publish(self._ctx, drafts, source=source)
                return
            except (BusUnavailable, SQLAlchemyError) as exc:
                delay = backoff.next()
                log.warning(
                    "discord bindings %s: %d event(s) not published (%s); retrying in %.1fs",
                    self._names(),
                    len(drafts),
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    def _names(self) -> str:
        return binding_ids(self.bindings)

    def _say(self, exc: BaseException) -> str:
        return redact(f"{type(exc).__name__}: {exc}"[:500], self._token)
