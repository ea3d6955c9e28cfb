"""Moderation actions and role grants on Telegram, through aiogram's Bot API client.

Ids follow ingest's Telegram normalization: the chat is the binding's external_id (an
event's workspace_id and channel_id), action.message_id is the message id inside that
chat and platform_user_id the numeric user id. An action naming another chat is refused:
the bot token may sit in chats that belong to someone else.

| action       | Bot API call                                                         |
|--------------|----------------------------------------------------------------------|
| delete, hide | deleteMessage (Telegram cannot hide); "already gone" counts as done   |
| warn         | sendMessage replying to the message, the reason as text             |
| mute         | restrictChatMember, every permission false, until now + duration    |
| unmute       | restrictChatMember, every permission true (lifts the restriction)   |
| ban          | banChatMember, until now + duration when a duration is given         |
| unban        | unbanChatMember(only_if_banned=True)                                 |

Telegram reads a restriction shorter than 30 s as "forever", so shorter durations are
raised to 31 s; no duration means forever.

Role grants: below administrator Telegram has no roles, and promoteChatMember would hand
a core member moderation powers. Since Bot API 9.5 a regular member can wear a tag next
to their name: a grant sets role_id as that tag (setChatMemberTag, 0-16 characters, no
emoji), a revoke clears it, but only while the tag is still ours (getChatMember), so a tag
an admin gave by hand survives. The bot needs the can_manage_tags right.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Final, TypeVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    BanChatMember,
    DeleteMessage,
    GetChatMember,
    RestrictChatMember,
    SendMessage,
    SetChatMemberTag,
    UnbanChatMember,
)
from aiogram.methods.base import TelegramMethod
from aiogram.types import ChatPermissions, ReplyParameters
from aiogram.utils.token import TokenValidationError

from services.ingest.outbound.base import (
    InvalidAction,
    MissingCredential,
    PermanentPlatformError,
    RateLimited,
    RoleGrant,
    TransientPlatformError,
    credential,
    redact,
    require,
)
from shared.events.community import Platform
from shared.events.payloads import ActionKind, ModerationAction

DEFAULT_BASE_URL: Final = "https://api.telegram.org"
WARNING_TEXT: Final = "A moderator flagged this message as breaking the community rules."

_T = TypeVar("_T")
_INT = re.compile(r"-?\d{1,20}")
_SHORTEST_RESTRICTION = 31
_TEXT_LIMIT = 4096
_TAG_LIMIT = 16
_NOTHING_ALLOWED = ChatPermissions(
    can_send_messages=False,
    can_send_audios=False,
    can_send_documents=False,
    can_send_photos=False,
    can_send_videos=False,
    can_send_video_notes=False,
    can_send_voice_notes=False,
    can_send_polls=False,
    can_send_other_messages=False,
    can_add_web_page_previews=False,
    can_react_to_messages=False,
    can_edit_tag=False,
    can_change_info=False,
    can_invite_users=False,
    can_pin_messages=False,
    can_manage_topics=False,
)
_EVERYTHING_ALLOWED = ChatPermissions(
    can_send_messages=True,
    can_send_audios=True,
    can_send_documents=True,
    can_send_photos=True,
    can_send_videos=True,
    can_send_video_notes=True,
    can_send_voice_notes=True,
    can_send_polls=True,
    can_send_other_messages=True,
    can_add_web_page_previews=True,
    can_react_to_messages=True,
    can_edit_tag=True,
    can_change_info=True,
    can_invite_users=True,
    can_pin_messages=True,
    can_manage_topics=True,
)
_STATUS_OF: tuple[tuple[type[TelegramAPIError], int], ...] = (
    (TelegramBadRequest, 400),
    (TelegramUnauthorizedError, 401),
    (TelegramForbiddenError, 403),
    (TelegramNotFound, 404),
    (TelegramConflictError, 409),
    (TelegramEntityTooLarge, 413),
)


class TelegramClient:
    """A PlatformClient for one bot token; use as `async with` or call `aclose()`."""

    def __init__(self, credentials: Mapping[str, str], base_url: str = DEFAULT_BASE_URL) -> None:
        self._token = credential(credentials, Platform.TELEGRAM, "bot_token")
        session = AiohttpSession(api=TelegramAPIServer.from_base(base_url))
        try:
            self._bot = Bot(self._token, session=session)
        except TokenValidationError:
            raise MissingCredential(Platform.TELEGRAM, "bot_token", "is malformed") from None

    def __repr__(self) -> str:
        return "TelegramClient(<token hidden>)"

    async def __aenter__(self) -> TelegramClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session."""
        await self._bot.session.close()

    async def apply(self, action: ModerationAction, *, external_id: str) -> None:
        """Carry out one moderation action in the binding's chat."""
        chat_id = _chat(action.channel_id, external_id)
        kind = action.action
        if kind in (ActionKind.DELETE, ActionKind.HIDE):
            await self._delete(chat_id, _int(action.message_id, "message_id"))
        elif kind is ActionKind.WARN:
            text = (action.reason or WARNING_TEXT)[:_TEXT_LIMIT]
            reply = ReplyParameters(
                message_id=_int(action.message_id, "message_id"), allow_sending_without_reply=True
            )
            await self._call(SendMessage(chat_id=chat_id, text=text, reply_parameters=reply))
        elif kind is ActionKind.MUTE:
            await self._call(
                RestrictChatMember(
                    chat_id=chat_id,
                    user_id=_int(action.platform_user_id, "platform_user_id"),
                    permissions=_NOTHING_ALLOWED,
                    use_independent_chat_permissions=True,
                    until_date=_until(action.duration_seconds),
                )
            )
        elif kind is ActionKind.UNMUTE:
            # The Bot API: "pass True for all permissions to lift restrictions from a user";
            # the chat's default permissions then apply to the member again.
            await self._call(
                RestrictChatMember(
                    chat_id=chat_id,
                    user_id=_int(action.platform_user_id, "platform_user_id"),
                    permissions=_EVERYTHING_ALLOWED,
                    use_independent_chat_permissions=True,
                )
            )
        elif kind is ActionKind.BAN:
            await self._call(
                BanChatMember(
                    chat_id=chat_id,
                    user_id=_int(action.platform_user_id, "platform_user_id"),
                    until_date=_until(action.duration_seconds),
                )
            )
        elif kind is ActionKind.UNBAN:
            await self._call(
                UnbanChatMember(
                    chat_id=chat_id,
                    user_id=_int(action.platform_user_id, "platform_user_id"),
                    only_if_banned=True,
                )
            )
        else:  # pragma: no cover - ActionKind is closed; a new kind must be mapped here
            raise InvalidAction(f"unknown action {kind}")

    async def grant_role(self, grant: RoleGrant, *, external_id: str) -> None:
        """Show role_id as the member's tag, or clear the tag if it is still role_id."""
        chat_id = _chat(grant.workspace_id, external_id)
        user_id = _int(grant.platform_user_id, "platform_user_id")
        tag = grant.role_id
        if not 0 < len(tag) <= _TAG_LIMIT:
            raise InvalidAction(f"a Telegram member tag has 1-{_TAG_LIMIT} characters")
        if grant.grant:
            await self._call(SetChatMemberTag(chat_id=chat_id, user_id=user_id, tag=tag))
            return
        member = await self._call(GetChatMember(chat_id=chat_id, user_id=user_id))
        if getattr(member, "tag", None) == tag:
            # Without a tag the Bot API clears it (aiogram never sends an empty field).
            await self._call(SetChatMemberTag(chat_id=chat_id, user_id=user_id, tag=None))

    async def _delete(self, chat_id: int, message_id: int) -> None:
        try:
            await self._call(DeleteMessage(chat_id=chat_id, message_id=message_id))
        except PermanentPlatformError as exc:
            # A retry after a timed-out but successful delete lands here: the goal is met.
            if exc.status != 400 or "message to delete not found" not in exc.detail.lower():
                raise

    async def _call(self, method: TelegramMethod[_T]) -> _T:
        try:
            return await self._bot(method)
        except TelegramRetryAfter as exc:
            raise RateLimited(exc.retry_after, detail=self._say(method, exc)) from None
        except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as exc:
            raise TransientPlatformError(self._say(method, exc)) from None
        except TelegramAPIError as exc:
            status = next((code for cls, code in _STATUS_OF if isinstance(exc, cls)), None)
            raise PermanentPlatformError(status, self._say(method, exc)) from None

    def _say(self, method: TelegramMethod[_T], exc: Exception) -> str:
        # Chained exceptions are dropped (`from None`): aiohttp's may carry the URL, and
        # a Bot API URL contains the token.
        text = " ".join((exc.message if isinstance(exc, TelegramAPIError) else str(exc)).split())
        return redact(f"telegram {method.__api_method__}: {text}"[:500], self._token)


def _chat(chat: str | None, external_id: str) -> int:
    binding_chat = _int(external_id, "external_id")
    if chat is not None and _int(chat, "chat id") != binding_chat:
        raise InvalidAction(f"chat {chat} is not the binding's chat {external_id}")
    return binding_chat


def _int(value: str | None, what: str) -> int:
    return int(require(value, what, _INT))


def _until(duration_seconds: int | None) -> int | None:
    if duration_seconds is None:
        return None
    return int(time.time()) + max(duration_seconds, _SHORTEST_RESTRICTION)
