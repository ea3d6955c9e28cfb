"""Moderation actions and role grants on Slack, through slack_sdk's AsyncWebClient.

Ids follow ingest's Slack normalization: channel_id is the conversation id, message_id the
message `ts`, platform_user_id the member id; the binding's external_id is the team id.

| action       | Web API call                                                         |
|--------------|----------------------------------------------------------------------|
| delete, hide | chat.delete (Slack cannot hide); message_not_found counts as done     |
| warn         | chat.postEphemeral to the author, in the message's thread             |
| mute         | unsupported: Slack has no mute                                        |
| ban          | conversations.kick from the channel; not_in_channel counts as done    |
| unban        | conversations.invite back to the channel; already_in_channel is done  |

Slack has no bans: "ban" removes the member from the one channel, "unban" brings them
back, and a timed ban is refused rather than made permanent.

A bot token may delete only the bot's own messages. chat.delete therefore uses the
binding's optional `user_token` (a workspace admin's xoxp- token, scope chat:write) when
there is one. Without it Slack answers cant_delete_message for a member's message; that
is reported as platform_error (never retried) with a detail naming the missing secret.

Role grants: role_id is a user group (S…). usergroups.users.update replaces the whole
member list, so a grant reads the list, adds or removes the member, and writes it back
(no write when nothing changes). Two grants to one group at the same instant can lose
one of them; grants are rare (core-member changes) and a lost one is redone by the next
change. Slack refuses an empty group, so revoking its last member is unsupported.

slack_sdk's own retry handlers are switched off: the executor owns retries.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Final

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from services.ingest.outbound.base import (
    InvalidAction,
    PermanentPlatformError,
    RateLimited,
    RoleGrant,
    TransientPlatformError,
    Unsupported,
    credential,
    redact,
    require,
)
from shared.events.community import Platform
from shared.events.payloads import ActionKind, ModerationAction

DEFAULT_BASE_URL: Final = "https://slack.com/api/"
WARNING_TEXT: Final = "A moderator flagged your message as breaking the community rules."

CANNOT_DELETE_DETAIL: Final = (
    "slack chat.delete: cant_delete_message: a bot token deletes only the bot's own "
    "messages; add the binding secret user_token (a workspace admin's xoxp- token)"
)

_ID = re.compile(r"[A-Z0-9]{2,30}")
_TS = re.compile(r"\d{1,12}\.\d{1,9}")
_TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_TEXT_LIMIT = 4000


class SlackClient:
    """A PlatformClient for one Slack workspace binding."""

    def __init__(self, credentials: Mapping[str, str], base_url: str = DEFAULT_BASE_URL) -> None:
        base = base_url.rstrip("/") + "/"
        self._tokens = [credential(credentials, Platform.SLACK, "bot_token")]
        self._bot = AsyncWebClient(token=self._tokens[0], base_url=base, retry_handlers=[])
        self._admin = self._bot
        if user_token := credentials.get("user_token"):
            self._tokens.append(user_token)
            self._admin = AsyncWebClient(token=user_token, base_url=base, retry_handlers=[])

    def __repr__(self) -> str:
        return "SlackClient(<token hidden>)"

    async def __aenter__(self) -> SlackClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing to close: slack_sdk opens a session per request when given none."""

    async def apply(self, action: ModerationAction, *, external_id: str) -> None:
        """Carry out one moderation action in the binding's workspace."""
        require(external_id, "external_id", _ID)
        kind = action.action
        if kind in (ActionKind.MUTE, ActionKind.UNMUTE):
            raise Unsupported("Slack has no mute; remove the member from the channel (ban)")
        channel = require(action.channel_id, "channel_id", _ID)
        if kind in (ActionKind.DELETE, ActionKind.HIDE):
            ts = require(action.message_id, "message_id", _TS)
            try:
                await self._call(
                    "chat.delete",
                    lambda: self._admin.chat_delete(channel=channel, ts=ts),
                    done_when={"message_not_found"},
                )
            except PermanentPlatformError as exc:
                if self._admin is self._bot and exc.detail.endswith(": cant_delete_message"):
                    raise PermanentPlatformError(exc.status, CANNOT_DELETE_DETAIL) from None
                raise
        elif kind is ActionKind.WARN:
            ts = require(action.message_id, "message_id", _TS)
            user = require(action.platform_user_id, "platform_user_id", _ID)
            text = (action.reason or WARNING_TEXT)[:_TEXT_LIMIT]
            await self._call(
                "chat.postEphemeral",
                lambda: self._bot.chat_postEphemeral(
                    channel=channel, user=user, text=text, thread_ts=ts
                ),
            )
        elif kind in (ActionKind.BAN, ActionKind.UNBAN):
            user = require(action.platform_user_id, "platform_user_id", _ID)
            if kind is ActionKind.UNBAN:
                await self._call(
                    "conversations.invite",
                    lambda: self._bot.conversations_invite(channel=channel, users=[user]),
                    done_when={"already_in_channel"},
                )
                return
            if action.duration_seconds is not None:
                raise Unsupported(
                    "Slack has no timed bans; send the ban without a duration and an unban later"
                )
            await self._call(
                "conversations.kick",
                lambda: self._bot.conversations_kick(channel=channel, user=user),
                done_when={"not_in_channel"},
            )
        else:  # pragma: no cover - ActionKind is closed; a new kind must be mapped here
            raise InvalidAction(f"unknown action {kind}")

    async def grant_role(self, grant: RoleGrant, *, external_id: str) -> None:
        """Add the member to, or remove them from, the user group role_id."""
        if grant.workspace_id != external_id:
            raise InvalidAction(f"team {grant.workspace_id} is not the binding's {external_id}")
        group = require(grant.role_id, "role_id", _ID)
        user = require(grant.platform_user_id, "platform_user_id", _ID)
        listed = await self._call(
            "usergroups.users.list",
            lambda: self._bot.usergroups_users_list(usergroup=group, include_disabled=True),
        )
        members: Any = listed.get("users") if listed is not None else None
        users = [str(member) for member in members or ()]
        if grant.grant == (user in users):
            return
        if grant.grant:
            users.append(user)
        else:
            users.remove(user)
            if not users:
                raise Unsupported(
                    f"{user} is the last member of user group {group} and Slack refuses an "
                    "empty group; disable the group in Slack instead"
                )
        await self._call(
            "usergroups.users.update",
            lambda: self._bot.usergroups_users_update(usergroup=group, users=users),
        )

    async def _call(
        self,
        method: str,
        send: Callable[[], Awaitable[AsyncSlackResponse]],
        *,
        done_when: Collection[str] = (),
    ) -> AsyncSlackResponse | None:
        try:
            return await send()
        except SlackApiError as exc:
            status = exc.response.status_code
            data: Any = exc.response.data
            error = data.get("error") if isinstance(data, dict) else None
            if status == 429:
                retry_after = _seconds(exc.response.headers.get("Retry-After"))
                raise RateLimited(retry_after, detail=f"slack {method}: ratelimited") from None
            if error in done_when:
                return None
            detail = f"slack {method}: {error or f'HTTP {status}'}"
            if status >= 500 or error in _TRANSIENT_ERRORS:
                raise TransientPlatformError(detail, status=status) from None
            raise PermanentPlatformError(status, detail) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            detail = redact(f"slack {method}: {type(exc).__name__}: {exc}"[:500], *self._tokens)
            raise TransientPlatformError(detail) from None


def _seconds(header: str | None) -> float:
    try:
        return float(header) if header is not None else 1.0
    except ValueError:
        return 1.0
