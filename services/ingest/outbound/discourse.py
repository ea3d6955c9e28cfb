"""Moderation actions and group grants on Discourse, through its REST API with httpx.

Discourse has no maintained async client library; its API is plain JSON over HTTPS,
authenticated by the `Api-Key` and `Api-Username` headers (an admin API key; the
username defaults to `system`, the account the actions are recorded under).

Ids follow ingest's Discourse normalization: the binding's external_id is the forum's
base URL, message_id the post id, platform_user_id the numeric user id.

| action | API call                                                                       |
|--------|--------------------------------------------------------------------------------|
| delete | DELETE /posts/{id}.json; a post already gone (404) counts as done              |
| hide   | POST /post_actions.json, a staff flag with take_action: hides the post now      |
| warn   | POST /posts.json, a private message to the author (username from /admin/users) |
| mute   | PUT /admin/users/{id}/silence.json until now + duration (none: until lifted)    |
| ban    | PUT /admin/users/{id}/suspend.json until now + duration (none: 1,000 years)     |
| unmute | PUT /admin/users/{id}/unsilence.json                                            |
| unban  | PUT /admin/users/{id}/unsuspend.json, then …/unsilence.json                     |
| grant  | PUT / DELETE /groups/{role_id}/members.json with the member's username          |

The flag type of a hide is spam (8) when the reason mentions spam, else inappropriate (4).
A 429 carries Retry-After (or extras.wait_seconds); 5xx and network errors are transient.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx

from services.ingest.outbound.base import (
    InvalidAction,
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

DEFAULT_BASE_URL: Final = ""  # each binding names its own forum (external_id)
DEFAULT_USERNAME: Final = "system"
WARNING_TITLE: Final = "A note from the moderators"
WARNING_TEXT: Final = "A moderator flagged your post as breaking the community rules."
SPAM, INAPPROPRIATE = 8, 4
FOREVER = timedelta(days=365_000)

_ID = re.compile(r"\d{1,20}")
_FORUM = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")
_USERNAME = re.compile(r"[\w.-]{1,60}")
_TEXT_LIMIT = 30_000


class DiscourseClient:
    """A PlatformClient for one Discourse forum binding."""

    def __init__(self, credentials: Mapping[str, str], base_url: str = DEFAULT_BASE_URL) -> None:
        self._key = credential(credentials, Platform.DISCOURSE, "api_key")
        username = credentials.get("api_username") or DEFAULT_USERNAME
        if not _USERNAME.fullmatch(username):
            raise InvalidAction("the binding's api_username is not a Discourse username")
        self._override = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            headers={"Api-Key": self._key, "Api-Username": username, "Accept": "application/json"},
            timeout=10.0,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return "DiscourseClient(<key hidden>)"

    async def __aenter__(self) -> DiscourseClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def apply(self, action: ModerationAction, *, external_id: str) -> None:
        """Carry out one moderation action on the binding's forum."""
        forum = self._forum(external_id)
        kind = action.action
        body: dict[str, Any]
        if kind is ActionKind.DELETE:
            post = require(action.message_id, "message_id", _ID)
            await self._send(forum, "DELETE", f"/posts/{post}.json", "delete post", gone_ok=True)
        elif kind is ActionKind.HIDE:
            post = require(action.message_id, "message_id", _ID)
            flag = SPAM if "spam" in (action.reason or "").lower() else INAPPROPRIATE
            body = {"id": int(post), "post_action_type_id": flag, "flag_topic": False}
            await self._send(
                forum, "POST", "/post_actions.json", "hide post", json=body | {"take_action": True}
            )
        elif kind is ActionKind.WARN:
            username = await self._username(forum, action.platform_user_id)
            text = (action.reason or WARNING_TEXT)[:_TEXT_LIMIT]
            body = {
                "title": WARNING_TITLE,
                "raw": text,
                "target_recipients": username,
                "archetype": "private_message",
            }
            await self._send(forum, "POST", "/posts.json", "send warning", json=body)
        elif kind in (ActionKind.MUTE, ActionKind.BAN):
            user = require(action.platform_user_id, "platform_user_id", _ID)
            duration = action.duration_seconds
            reason = (action.reason or "moderation")[:300]
            if kind is ActionKind.MUTE:
                body = {"reason": reason}
                if duration is not None:
                    body["silenced_till"] = _until(timedelta(seconds=duration))
                path, what = f"/admin/users/{user}/silence.json", "silence user"
            else:
                until = timedelta(seconds=duration) if duration is not None else FOREVER
                body = {"reason": reason, "suspend_until": _until(until)}
                path, what = f"/admin/users/{user}/suspend.json", "suspend user"
            await self._send(forum, "PUT", path, what, json=body)
        elif kind is ActionKind.UNMUTE:
            user = require(action.platform_user_id, "platform_user_id", _ID)
            await self._send(forum, "PUT", f"/admin/users/{user}/unsilence.json", "unsilence")
        elif kind is ActionKind.UNBAN:
            user = require(action.platform_user_id, "platform_user_id", _ID)
            await self._send(forum, "PUT", f"/admin/users/{user}/unsuspend.json", "unsuspend")
            await self._send(forum, "PUT", f"/admin/users/{user}/unsilence.json", "unsilence")
        else:  # pragma: no cover - ActionKind is closed; a new kind must be mapped here
            raise InvalidAction(f"unknown action {kind}")

    async def grant_role(self, grant: RoleGrant, *, external_id: str) -> None:
        """Add the member to, or remove them from, the group whose id is role_id."""
        forum = self._forum(external_id)
        if grant.workspace_id.rstrip("/") != external_id.rstrip("/"):
            raise InvalidAction("the grant's forum is not the binding's")
        group = require(grant.role_id, "role_id (a Discourse group id)", _ID)
        username = await self._username(forum, grant.platform_user_id)
        path = f"/groups/{group}/members.json"
        if grant.grant:
            await self._send(
                forum, "PUT", path, "add group member", json={"usernames": username}, already=True
            )
        else:
            await self._send(
                forum,
                "DELETE",
                path,
                "remove group member",
                json={"usernames": username},
                gone_ok=True,
            )

    def _forum(self, external_id: str) -> str:
        forum = self._override or external_id.rstrip("/")
        if not _FORUM.fullmatch(forum):
            raise InvalidAction("external_id is not a Discourse base URL")
        return forum

    async def _username(self, forum: str, platform_user_id: str | None) -> str:
        user = require(platform_user_id, "platform_user_id", _ID)
        found = await self._send(forum, "GET", f"/admin/users/{user}.json", "get user")
        username = found.get("username") if isinstance(found, dict) else None
        if isinstance(username, str) and _USERNAME.fullmatch(username):
            return username
        raise PermanentPlatformError(None, f"discourse get user: no username for {user}")

    async def _send(
        self,
        forum: str,
        method: str,
        path: str,
        what: str,
        *,
        json: Mapping[str, Any] | None = None,
        gone_ok: bool = False,
        already: bool = False,
    ) -> Any:
        try:
            response = await self._http.request(method, forum + path, json=json)
        except httpx.HTTPError as exc:
            detail = redact(f"discourse {what}: {type(exc).__name__}", self._key)
            raise TransientPlatformError(detail) from None
        status = response.status_code
        body = _json(response)
        if status < 300:
            return body
        errors = _errors(body)
        if status == 429:
            raise RateLimited(_wait(response, body), detail=f"discourse {what}: rate limited")
        if status == 404 and gone_ok:
            return None
        if already and status == 422 and "already" in errors.lower():
            return None
        detail = redact(f"discourse {what}: {status} {errors}".strip(), self._key)[:500]
        if status >= 500:
            raise TransientPlatformError(detail, status=status)
        raise PermanentPlatformError(status, detail)


def _until(after: timedelta) -> str:
    return (datetime.now(UTC) + after).isoformat(timespec="seconds")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _errors(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    errors = body.get("errors")
    if isinstance(errors, list):
        return "; ".join(str(e) for e in errors)[:300]
    return str(body.get("error_type") or "")[:100]


def _wait(response: httpx.Response, body: Any) -> float:
    header = response.headers.get("Retry-After")
    try:
        if header is not None:
            return float(header)
        extras = body.get("extras") if isinstance(body, dict) else None
        if isinstance(extras, dict) and extras.get("wait_seconds") is not None:
            return float(extras["wait_seconds"])
    except (TypeError, ValueError):
        pass
    return 1.0
