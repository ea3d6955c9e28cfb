"""Telegram long polling, for bots without a public URL: getUpdates -> normalize -> accept.

A binding opts in with options {"telegram_mode": "polling"}. Telegram keeps an update
until getUpdates is called with an offset above its id, so the offset is the progress
marker and Telegram stores it: the poller moves it past a batch only after accept()
returned (the events are durably in Kafka). A crash or a broker outage leaves the batch
unconfirmed, it is read again, and the ingest dedup key (telegram:{chat}:{update_id})
publishes it once.

Telegram refuses getUpdates while a webhook is set, so the poller deletes the webhook
first (and again after a 409 Conflict).

A poll_answer names no chat. The poller records the chat of every poll message it sees
(telegram_polls), and credits an answer to the binding of its poll's chat, with that chat
as workspace and channel; a bot with a single binding owns every answer, as before. An
answer to a poll whose message was never seen, from a bot serving several chats, is
counted as unbound and not published: crediting a guessed community would be worse.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramConflictError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import DeleteWebhook
from aiogram.methods.base import TelegramMethod
from aiogram.utils.token import TokenValidationError
from sqlalchemy.exc import SQLAlchemyError

from services.ingest import repository
from services.ingest.connectors.fleet import Backoff, Bindings, binding_ids, publish, redact
from services.ingest.context import IngestContext
from services.ingest.domain.model import BindingContext, MalformedPayload
from services.ingest.domain.telegram import normalize_telegram, telegram_update_id
from services.ingest.metrics import EVENTS_TOTAL
from shared.bus.port import BusUnavailable
from shared.events.community import CommunityEvent
from shared.events.envelope import utcnow

log = logging.getLogger(__name__)

POLL_TIMEOUT_SECONDS = 25
"""How long Telegram holds a getUpdates request open when there is nothing new."""
BATCH_LIMIT = 100
ALLOWED_UPDATES = ("message", "edited_message", "message_reaction", "chat_member", "poll_answer")
_CHAT_KINDS = ("message", "edited_message", "message_reaction", "chat_member")
_RETRIED = (TelegramAPIError, ClientDecodeError, BusUnavailable, SQLAlchemyError)
"""Telegram errors, network errors (TelegramNetworkError) and the broker or database down."""


class GetRawUpdates(TelegramMethod[list[dict[str, Any]]]):
    """getUpdates, answered with the updates exactly as the Bot API wrote them.

    aiogram's Update models rename fields (`from` becomes `from_user`) and reject payloads
    that differ from their schema; the normalizer reads the Bot API's own JSON.
    """

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


class TelegramPoller:
    """Long-polls one bot and publishes the updates of the chats bound to it."""

    def __init__(
        self,
        ctx: IngestContext,
        token: str,
        bindings: Bindings,
        *,
        poll_timeout: int | None = None,
    ) -> None:
        self.bindings = bindings
        self.offset: int | None = None
        """The next update id to ask for; None until the first batch was published."""
        self._ctx = ctx
        self._token = token
        self._poll_timeout = POLL_TIMEOUT_SECONDS if poll_timeout is None else poll_timeout
        self._webhook_deleted = False

    async def run(self) -> None:
        """Poll until cancelled; what fails is logged and retried with backoff."""
        api = TelegramAPIServer.from_base(self._ctx.settings.telegram_api_url)
        try:
            bot = Bot(self._token, session=AiohttpSession(api=api))
        except TokenValidationError:
            log.error("telegram bindings %s: malformed bot token; not polling", self._names())
            await asyncio.Event().wait()  # until the fleet stops us: the binding must change
            return
        backoff = Backoff()
        try:
            while True:
                try:
                    await self._poll(bot, backoff)
                except TelegramRetryAfter as exc:
                    log.warning(
                        "telegram bindings %s: flood control, waiting %ss",
                        self._names(),
                        exc.retry_after,
                    )
                    await asyncio.sleep(exc.retry_after)
                except TelegramUnauthorizedError:
                    log.error("telegram bindings %s: Telegram rejects the bot token", self._names())
                    await asyncio.sleep(backoff.longest)
                except _RETRIED as exc:
                    if isinstance(exc, TelegramConflictError):
                        self._webhook_deleted = False  # a webhook was set again meanwhile
                    delay = backoff.next()
                    log.warning(
                        "telegram bindings %s: %s; retrying in %.1fs",
                        self._names(),
                        self._say(exc),
                        delay,
                    )
                    await asyncio.sleep(delay)
        finally:
            await bot.session.close()

    async def _poll(self, bot: Bot, backoff: Backoff) -> None:
        if not self._webhook_deleted:
            await bot(DeleteWebhook())
            self._webhook_deleted = True
        while True:
            method = GetRawUpdates(
                offset=self.offset,
                limit=BATCH_LIMIT,
                timeout=self._poll_timeout,
                allowed_updates=list(ALLOWED_UPDATES),
            )
            updates = await bot(
                method, request_timeout=int(bot.session.timeout + self._poll_timeout)
            )
            backoff.reset()
            ids = [i for i in map(telegram_update_id, updates) if i is not None]
            if not ids:
                continue
            await publish(self._ctx, await self._drafts(updates), source="poller")
            # Only now: a higher offset confirms the batch, and Telegram forgets it.
            self.offset = max(ids) + 1

    async def _drafts(self, updates: list[dict[str, Any]]) -> list[CommunityEvent]:
        received_at = utcnow()
        seen = [poll for update in updates if (poll := poll_seen(update)) is not None]
        answered = {poll_id for update in updates if (poll_id := answered_poll(update))}
        chats: dict[str, set[str]] = {}
        if seen or (answered and len(self.bindings) > 1):
            async with self._ctx.db.transaction() as session:
                await repository.remember_polls(session, seen)
                chats = await repository.chats_of_polls(session, answered)
        drafts: list[CommunityEvent] = []
        for update in updates:
            binding = self._binding_of(update, chats)
            if binding is None:
                EVENTS_TOTAL.labels(source="poller", outcome="unbound").inc()
                continue
            try:
                normalized = normalize_telegram(update, binding, received_at=received_at)
            except MalformedPayload as exc:
                EVENTS_TOTAL.labels(source="poller", outcome="malformed").inc()
                log.warning(
                    "telegram update %s for binding %s is malformed: %s",
                    telegram_update_id(update),
                    binding.binding_id,
                    exc,
                )
                continue
            if not normalized.events:
                EVENTS_TOTAL.labels(source="poller", outcome="ignored").inc()
            poll_id = answered_poll(update)
            if poll_id is not None and binding.external_id in chats.get(poll_id, ()):
                drafts.extend(in_chat(event, binding.external_id) for event in normalized.events)
            else:
                drafts.extend(normalized.events)
        return drafts

    def _binding_of(
        self, update: Mapping[str, Any], poll_chats: Mapping[str, set[str]]
    ) -> BindingContext | None:
        """The binding of the update's chat (for a poll answer, its poll's chat); None for a
        chat the bot serves unbound."""
        for kind in _CHAT_KINDS:
            body = update.get(kind)
            if isinstance(body, Mapping):
                chat = body.get("chat")
                chat_id = chat.get("id") if isinstance(chat, Mapping) else None
                return self.bindings.get(str(chat_id))
        poll_id = answered_poll(update)
        if poll_id is None:
            return None
        bound = [chat for chat in poll_chats.get(poll_id, ()) if chat in self.bindings]
        if len(bound) == 1:
            return self.bindings[bound[0]]
        if len(self.bindings) == 1:
            # A poll never seen: like a webhook, a bot with one binding owns the answer.
            return next(iter(self.bindings.values()))
        return None

    def _names(self) -> str:
        return binding_ids(self.bindings)

    def _say(self, exc: Exception) -> str:
        text = exc.message if isinstance(exc, TelegramAPIError) else str(exc)
        return redact(f"{type(exc).__name__}: {text}"[:500], self._token)


def poll_seen(update: Mapping[str, Any]) -> tuple[str, str, int] | None:
    """(poll id, chat id, message id) when the update is a message carrying a poll."""
    message = update.get("message")
    if not isinstance(message, Mapping) or not isinstance(message.get("poll"), Mapping):
        return None
    poll_id, chat = message["poll"].get("id"), message.get("chat")
    chat_id = chat.get("id") if isinstance(chat, Mapping) else None
    message_id = message.get("message_id")
    if not isinstance(poll_id, str) or not 0 < len(poll_id) <= 128:
        return None
    if not isinstance(chat_id, int) or isinstance(chat_id, bool):
        return None
    return poll_id, str(chat_id), message_id if isinstance(message_id, int) else 0


def answered_poll(update: Mapping[str, Any]) -> str | None:
    """The poll id of a poll_answer update."""
    answer = update.get("poll_answer")
    poll_id = answer.get("poll_id") if isinstance(answer, Mapping) else None
    return poll_id if isinstance(poll_id, str) and 0 < len(poll_id) <= 128 else None


def in_chat(event: CommunityEvent, chat_id: str) -> CommunityEvent:
    """A poll answer placed in its poll's chat (the normalizer could not know it)."""
    attributes = {k: v for k, v in event.attributes.items() if k != "chat_unknown"}
    attributes["chat_from_poll"] = True
    return event.model_copy(
        update={"workspace_id": chat_id, "channel_id": chat_id, "attributes": attributes}
    )
