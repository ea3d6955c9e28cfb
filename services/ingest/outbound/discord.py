"""Moderation actions and role grants on Discord, through its REST API v10 over httpx.

Why not discord.py's HTTPClient: it retries 429s and 5xx itself (sleeping inside the
call), which would hide attempts and waits from the executor that owns retries; its API
base is a class attribute (Route.BASE) shared by every client in the process; and it is
built to live inside a logged-in discord.Client. Each call here is one plain request.

Ids are snowflakes: the binding's external_id is the guild, channel_id and message_id are
where the message is, platform_user_id the member. Every call carries the reason in
X-Audit-Log-Reason (URL-encoded, at most 512 characters), so Discord's audit log says why.

| action       | REST call                                                            |
|--------------|----------------------------------------------------------------------|
| delete, hide | DELETE /channels/{channel}/messages/{message}; Unknown Message = done |
| warn         | POST /channels/{channel}/messages replying (message_reference)       |
| mute         | PATCH /guilds/{guild}/members/{user} communication_disabled_until     |
| unmute       | the same PATCH with communication_disabled_until null (ends a timeout)|
| ban          | PUT /guilds/{guild}/bans/{user}                                      |
| unban        | DELETE /guilds/{guild}/bans/{user}; Unknown Ban = done                |
| role grant   | PUT / DELETE /guilds/{guild}/members/{user}/roles/{role}             |

A mute is a timeout, which Discord caps at 28 days: longer or open-ended mutes get the
cap (less a minute, for clock skew).
Discord has no timed bans, so a ban with a duration is refused rather than made permanent.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

import httpx

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

DEFAULT_BASE_URL: Final = "https://discord.com/api/v10"
WARNING_TEXT: Final = "A moderator flagged this message as breaking the community rules."
LONGEST_TIMEOUT: Final = timedelta(days=28) - timedelta(minutes=1)  # margin for clock skew

_SNOWFLAKE = re.compile(r"\d{15,21}")
_UNKNOWN_MESSAGE = 10008
_UNKNOWN_BAN = 10026
_TEXT_LIMIT = 2000
_REASON_LIMIT = 512
_USER_AGENT = "DiscordBot (hearth, 0.1.0)"


class DiscordClient:
    """A PlatformClient for one bot token; use as `async with` or call `aclose()`."""

    def __init__(self, credentials: Mapping[str, str], base_url: str = DEFAULT_BASE_URL) -> None:
        self._token = credential(credentials, Platform.DISCORD, "bot_token")
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bot {self._token}", "User-Agent": _USER_AGENT},
            timeout=httpx.Timeout(10.0),
        )

    def __repr__(self) -> str:
        return "DiscordClient(<token hidden>)"

    async def __aenter__(self) -> DiscordClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def apply(self, action: ModerationAction, *, external_id: str) -> None:
        """Carry out one moderation action in the binding's guild."""
        guild = require(external_id, "external_id", _SNOWFLAKE)
        kind, reason = action.action, action.reason
        if kind in (ActionKind.DELETE, ActionKind.HIDE, ActionKind.WARN):
            channel = require(action.channel_id, "channel_id", _SNOWFLAKE)
            message = require(action.message_id, "message_id", _SNOWFLAKE)
            if kind is ActionKind.WARN:
                body = {
                    "content": (reason or WARNING_TEXT)[:_TEXT_LIMIT],
                    "message_reference": {"message_id": message, "fail_if_not_exists": False},
                    "allowed_mentions": {"parse": [], "replied_user": True},
                }
                await self._send("POST", f"channels/{channel}/messages", json=body)
            else:
                await self._send(
                    "DELETE",
                    f"channels/{channel}/messages/{message}",
                    reason=reason,
                    done_when={_UNKNOWN_MESSAGE},
                )
            return
        user = require(action.platform_user_id, "platform_user_id", _SNOWFLAKE)
        if kind is ActionKind.MUTE:
            until = datetime.now(UTC) + _timeout(action.duration_seconds)
            body = {"communication_disabled_until": until.isoformat()}
            await self._send("PATCH", f"guilds/{guild}/members/{user}", json=body, reason=reason)
        elif kind is ActionKind.UNMUTE:
            lift: dict[str, Any] = {"communication_disabled_until": None}
            await self._send("PATCH", f"guilds/{guild}/members/{user}", json=lift, reason=reason)
        elif kind is ActionKind.BAN:
            if action.duration_seconds is not None:
                raise Unsupported(
                    "Discord has no timed bans; use mute for up to 28 days, or ban without "
                    "a duration and unban later"
                )
            await self._send("PUT", f"guilds/{guild}/bans/{user}", reason=reason)
        elif kind is ActionKind.UNBAN:
            await self._send(
                "DELETE", f"guilds/{guild}/bans/{user}", reason=reason, done_when={_UNKNOWN_BAN}
            )
        else:  # pragma: no cover - ActionKind is closed; a new kind must be mapped here
            raise InvalidAction(f"unknown action {kind}")

    async def grant_role(self, grant: RoleGrant, *, external_id: str) -> None:
        """Add or remove the guild role role_id on the member."""
        guild = require(external_id, "external_id", _SNOWFLAKE)
        if grant.workspace_id != guild:
            raise InvalidAction(f"guild {grant.workspace_id} is not the binding's {guild}")
        user = require(grant.platform_user_id, "platform_user_id", _SNOWFLAKE)
        role = require(grant.role_id, "role_id", _SNOWFLAKE)
        reason = "core member" if grant.grant else "no longer a core member"
        method = "PUT" if grant.grant else "DELETE"
        await self._send(method, f"guilds/{guild}/members/{user}/roles/{role}", reason=reason)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        reason: str | None = None,
        done_when: Collection[int] = (),
    ) -> None:
        headers = {}
        if reason:
            headers["X-Audit-Log-Reason"] = quote(reason[:_REASON_LIMIT], safe="")
        where = f"discord {method} /{path}"
        try:
            response = await self._http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            detail = redact(f"{where}: {type(exc).__name__}: {exc}"[:500], self._token)
            raise TransientPlatformError(detail) from None
        if response.is_success:
            return
        error = _error_body(response)
        status = response.status_code
        if status == 429:
            retry_after = error.get("retry_after", response.headers.get("Retry-After", 1.0))
            scope = "global" if error.get("global") else "route"
            raise RateLimited(_seconds(retry_after), detail=f"{where}: {scope} rate limit")
        if error.get("code") in done_when:
            return
        detail = redact(
            f"{where}: {status} {error.get('code', '')} {error.get('message', '')}", self._token
        )
        if status >= 500:
            raise TransientPlatformError(detail.strip(), status=status)
        raise PermanentPlatformError(status, detail.strip())


def _timeout(duration_seconds: int | None) -> timedelta:
    if duration_seconds is None:
        return LONGEST_TIMEOUT
    return min(timedelta(seconds=duration_seconds), LONGEST_TIMEOUT)


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _seconds(value: object) -> float:
    try:
        return float(str(value))
    except ValueError:
        return 1.0
