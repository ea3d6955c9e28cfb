"""What the real-time connectors share: one runner per bot token, kept in step with the bindings.

A bot token is the unit a platform connects: Telegram allows one getUpdates consumer per
bot and Discord one gateway session per bot (per shard), while a bot may serve several
bound chats or guilds. So the fleet keys runners by token and hands each runner the
bindings (external id -> BindingContext) it serves; a binding added to a running bot
changes that mapping in place, a bot whose last binding went away is stopped.

Tokens are dict keys and runner arguments only: logs name binding ids, never a token.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Gauge
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import SQLAlchemyError

from services.ingest import repository
from services.ingest.accept import accept
from services.ingest.context import IngestContext
from services.ingest.domain.model import BindingContext
from services.ingest.metrics import EVENTS_TOTAL
from services.ingest.secrets import SecretsUnreadable
from shared.events.community import CommunityEvent, Platform

log = logging.getLogger(__name__)

BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0

Bindings = Mapping[str, BindingContext]
"""The bindings one bot serves, by external id (Telegram chat id, Discord guild id)."""
Bots = dict[str, dict[str, BindingContext]]
"""Bot token -> the bindings it serves."""

CONNECTORS = Gauge(
    "hearth_ingest_connectors",
    "Bots with a running long-poll or gateway connection, by platform.",
    ["platform"],
)


class Runner(Protocol):
    """Holds one bot's connection until cancelled; `bindings` may be replaced meanwhile."""

    bindings: Bindings

    async def run(self) -> None:
        """Receive and publish until cancelled, retrying what fails."""


class Backoff:
    """Exponential delays with jitter, starting over after a success."""

    def __init__(self, first: float | None = None, longest: float | None = None) -> None:
        self.first = BACKOFF_FIRST_SECONDS if first is None else first
        self.longest = BACKOFF_MAX_SECONDS if longest is None else longest
        self._next = self.first

    def next(self) -> float:
        """The delay before the next attempt; each call doubles it up to `longest`."""
        delay = self._next
        self._next = min(delay * 2, self.longest)
        return delay * random.uniform(0.8, 1.0)

    def reset(self) -> None:
        """Start again from the first delay."""
        self._next = self.first


def redact(text: str, secret: str) -> str:
    """`text` with every occurrence of `secret` masked (a Bot API URL carries the token)."""
    return text.replace(secret, "<token>") if secret else text


def binding_ids(bindings: Bindings) -> str:
    """Binding ids for a log line."""
    return ", ".join(sorted(b.binding_id for b in bindings.values())) or "-"


async def bots_of(
    ctx: IngestContext, platform: Platform, wanted: Callable[[RowMapping], bool]
) -> Bots:
    """The bindings of a platform that `wanted` selects, grouped by their bot token."""
    async with ctx.db.sessions() as session:
        rows = await repository.bindings_of_platform(session, platform.value)
    bots: Bots = {}
    for row in rows:
        if not wanted(row):
            continue
        try:
            token = ctx.secrets.open(row["secrets"]).get("bot_token")
        except SecretsUnreadable:
            log.warning("%s binding %s: secrets do not decrypt; skipped", platform, row["id"])
            continue
        if not token:
            continue
        bots.setdefault(token, {})[row["external_id"]] = BindingContext(
            tenant_id=row["tenant_id"],
            community_id=row["community_id"],
            binding_id=row["id"],
            platform=platform,
            external_id=row["external_id"],
        )
    return bots


def options_of(row: RowMapping) -> Mapping[str, object]:
    """A binding's connector options (an object, whatever was stored)."""
    options = row["options"]
    return options if isinstance(options, Mapping) else {}


async def publish(ctx: IngestContext, drafts: Sequence[CommunityEvent], *, source: str) -> None:
    """accept() the drafts and count them; BusUnavailable and database errors propagate."""
    if not drafts:
        return
    outcomes = await accept(ctx.db, ctx.bus, drafts)
    accepted = sum(1 for outcome in outcomes if outcome.status == "accepted")
    EVENTS_TOTAL.labels(source=source, outcome="accepted").inc(accepted)
    EVENTS_TOTAL.labels(source=source, outcome="duplicate").inc(len(outcomes) - accepted)


@dataclass
class _Running:
    runner: Runner
    task: asyncio.Task[None]
    bindings: Bindings


class Fleet:
    """Runs one Runner per bot token of a platform and follows the bindings table."""

    def __init__(
        self,
        platform: Platform,
        load: Callable[[], Awaitable[Bots]],
        make: Callable[[str, Bindings], Runner],
    ) -> None:
        self.platform = platform
        self._load = load
        self._make = make
        self._running: dict[str, _Running] = {}
        self._crashed: dict[str, tuple[Backoff, float]] = {}
        """Bots whose runner ended: their backoff and when to start them again."""

    async def run(self, every: float) -> None:
        """Reconcile now and every `every` seconds; stop every runner when cancelled."""
        try:
            while True:
                await self.reconcile()
                await asyncio.sleep(every)
        finally:
            await self.stop()

    async def reconcile(self) -> None:
        """Start runners for new bots, stop those without bindings, pass on binding changes."""
        try:
            wanted = await self._load()
        except (SQLAlchemyError, OSError) as exc:
            # A database blip must not cut live connections: keep them, retry next round.
            log.warning(
                "%s connectors: bindings unreadable (%s); keeping %d bot(s) running",
                self.platform,
                type(exc).__name__,
                len(self._running),
            )
            return
        for token in [token for token in self._running if token not in wanted]:
            await self._stop(token)
        self._crashed = {token: crash for token, crash in self._crashed.items() if token in wanted}
        for token, bindings in wanted.items():
            running = self._running.get(token)
            if running is not None and running.task.done():
                self._report_end(token, running)
                del self._running[token]
                self._hold_back(token)
                running = None
            if running is None and not self._may_start(token):
                continue
            if running is None:
                runner = self._make(token, bindings)
                task = asyncio.create_task(runner.run(), name=f"ingest-{self.platform}-connector")
                self._running[token] = _Running(runner, task, bindings)
                log.info(
                    "%s connector started for bindings %s", self.platform, binding_ids(bindings)
                )
            elif bindings != running.bindings:
                running.runner.bindings = running.bindings = bindings
                log.info(
                    "%s connector now serves bindings %s", self.platform, binding_ids(bindings)
                )
        CONNECTORS.labels(platform=self.platform.value).set(len(self._running))

    def _hold_back(self, token: str) -> None:
        """Delay the restart of a bot whose runner ended, longer each time."""
        backoff = self._crashed[token][0] if token in self._crashed else Backoff()
        self._crashed[token] = (backoff, time.monotonic() + backoff.next())

    def _may_start(self, token: str) -> bool:
        return token not in self._crashed or time.monotonic() >= self._crashed[token][1]

    async def stop(self) -> None:
        """Stop every runner."""
        await asyncio.gather(*(self._stop(token) for token in list(self._running)))
        CONNECTORS.labels(platform=self.platform.value).set(0)

    async def _stop(self, token: str) -> None:
        running = self._running.pop(token)
        running.task.cancel()
        await asyncio.wait([running.task])
        if not running.task.cancelled():
            self._report_end(token, running)
        log.info(
            "%s connector stopped for bindings %s", self.platform, binding_ids(running.bindings)
        )

    def _report_end(self, token: str, running: _Running) -> None:
        # Runners retry what they expect; an end is a bug, so say what it was, token masked.
        error = None if running.task.cancelled() else running.task.exception()
        log.error(
            "%s connector for bindings %s ended: %s",
            self.platform,
            binding_ids(running.bindings),
            redact(repr(error), token),
        )
