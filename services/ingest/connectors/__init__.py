"""Real-time connectors that need no public URL: Telegram long polling, the Discord Gateway.

Two background loops of the ingest service (`connector_loops`, the host supervises them)
reload the bindings every RELOAD_SECONDS and keep one runner per bot token:

- Telegram bindings with options {"telegram_mode": "polling"} are long-polled
  (getUpdates); the others keep receiving webhooks.
- Discord bindings hold a Gateway connection, unless options {"discord_gateway": false}
  (a bot used only for interactions, without the privileged intents).

With no such bindings a loop costs one query per round and makes no network call; aiogram
and discord.py are imported only once a bot needs them (aiogram alone takes seconds).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial

from sqlalchemy.engine import RowMapping

from services.ingest.connectors.fleet import Bindings, Fleet, Runner, bots_of, options_of
from services.ingest.context import IngestContext
from shared.db.leadership import Leadership, LeaseTiming
from shared.events.community import Platform

log = logging.getLogger(__name__)
RELOAD_SECONDS = 30.0
"""How often the loops look for bindings that appeared, changed or went away."""
LEADERSHIP = LeaseTiming(check_every=2.0, lease=10.0, stop_within=5.0)
"""How the connector leader is fenced: a new leader starts 15 s after it took the lock;
a lease of 10 s lets a busy process miss a few checks before it gives its bots up."""

__all__ = ["LEADERSHIP", "RELOAD_SECONDS", "connector_loops"]


def connector_loops(
    context: object, *, reload_seconds: float | None = None
) -> list[Callable[[], Awaitable[None]]]:
    """The loops that keep Telegram pollers and Discord gateways in step with the bindings."""
    if not isinstance(context, IngestContext):
        raise TypeError(f"expected the ingest context, got {type(context).__name__}")
    every = RELOAD_SECONDS if reload_seconds is None else reload_seconds
    telegram = Fleet(
        Platform.TELEGRAM,
        partial(bots_of, context, Platform.TELEGRAM, polls_telegram),
        partial(_telegram_poller, context),
    )
    discord = Fleet(
        Platform.DISCORD,
        partial(bots_of, context, Platform.DISCORD, holds_discord_gateway),
        partial(_discord_gateway, context),
    )
    return [
        _led(context, "telegram", partial(telegram.run, every), every),
        _led(context, "discord", partial(discord.run, every), every),
    ]


def _led(
    ctx: IngestContext, name: str, loop: Callable[[], Awaitable[None]], every: float
) -> Callable[[], Awaitable[None]]:
    """Run `loop` in one ingest process only: a bot allows one poller or gateway at a time.

    On PostgreSQL the process holding the `ingest-connectors:<name>` leadership runs it;
    the others try every `every` seconds. The leadership is fenced: a leader whose lock
    connection drops stops its pollers and gateways before a new leader starts its own
    (see shared/db/leadership.py). The embedded mode is a single process and needs no lock.
    """
    timing = replace(LEADERSHIP, acquire_every=every)
    leadership = Leadership(ctx.db, f"ingest-connectors:{name}", timing=timing)
    return partial(leadership.run, loop)


def polls_telegram(row: RowMapping) -> bool:
    """A Telegram binding that asked for long polling instead of a webhook."""
    return options_of(row).get("telegram_mode") == "polling"


def holds_discord_gateway(row: RowMapping) -> bool:
    """A Discord binding whose bot should hold a Gateway connection (the default)."""
    return options_of(row).get("discord_gateway") is not False


def _telegram_poller(ctx: IngestContext, token: str, bindings: Bindings) -> Runner:
    from services.ingest.connectors.telegram_polling import TelegramPoller  # imports aiogram

    return TelegramPoller(ctx, token, bindings)


def _discord_gateway(ctx: IngestContext, token: str, bindings: Bindings) -> Runner:
    from services.ingest.connectors.discord_gateway import DiscordGateway  # imports discord.py

    return DiscordGateway(ctx, token, bindings)
