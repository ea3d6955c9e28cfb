"""What every platform adapter speaks: results, the errors a caller acts on, the client port."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from shared.events.community import Platform
from shared.events.payloads import ModerationAction


class ActionOutcome(StrEnum):
    """How carrying one action to a platform ended."""

    DONE = "done"
    UNSUPPORTED = "unsupported"
    PLATFORM_ERROR = "platform_error"
    RETRIES_EXHAUSTED = "retries_exhausted"


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The outcome, a redacted human-readable detail, calls made, and the last HTTP status."""

    outcome: ActionOutcome
    detail: str
    attempts: int
    platform_status: int | None = None


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """Give (grant=True) or take back a platform role from a core member.

    workspace_id is where the role lives: the Telegram chat, Slack team, Discord guild or
    GitHub organization; it must be the binding's own workspace. role_id is the platform's
    name for the role: a Discord role id, a Slack user-group id, a GitHub team slug, or the
    Telegram member tag (0-16 characters) to show.
    """

    platform: Platform
    workspace_id: str
    platform_user_id: str
    role_id: str
    grant: bool


class RateLimited(Exception):
    """The platform asked us to wait `retry_after` seconds before trying again."""

    def __init__(self, retry_after: float, *, status: int | None = 429, detail: str = "") -> None:
        self.retry_after = max(0.0, float(retry_after))
        self.status = status
        self.detail = detail or f"rate limited; retry after {self.retry_after:g}s"
        super().__init__(self.detail)


class TransientPlatformError(Exception):
    """A failure that may pass: network trouble, a timeout, a 5xx."""

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        self.status = status
        self.detail = detail
        super().__init__(detail)


class PermanentPlatformError(Exception):
    """The platform refused the call; asking again will not change its answer."""

    def __init__(self, status: int | None, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"{status}: {detail}" if status is not None else detail)


class InvalidAction(PermanentPlatformError):
    """The action cannot be sent as given: a malformed id, or a target outside the binding."""

    def __init__(self, detail: str) -> None:
        super().__init__(None, detail)


class MissingCredential(PermanentPlatformError):
    """The binding lacks (or has a malformed) secret this platform needs."""

    def __init__(self, platform: Platform, name: str, problem: str = "is missing") -> None:
        super().__init__(None, f"{platform} binding secret {name!r} {problem}")


class Unsupported(Exception):
    """The platform has no way to do this; `reason` says why and what to do instead."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class PlatformClient(Protocol):
    """Carries moderation actions and role grants to one platform.

    apply and grant_role raise RateLimited, TransientPlatformError, PermanentPlatformError
    or Unsupported; the executor decides what to retry. Error texts never contain secrets.
    A client may hold connections: close it with `aclose()` (or `contextlib.aclosing`).
    """

    async def apply(self, action: ModerationAction, *, external_id: str) -> None:
        """Carry out one moderation action inside the binding's workspace."""
        ...

    async def grant_role(self, grant: RoleGrant, *, external_id: str) -> None:
        """Give or take back a role inside the binding's workspace."""
        ...

    async def aclose(self) -> None:
        """Release connections; the client is not used afterwards."""
        ...


def redact(text: str, *secrets: str) -> str:
    """`text` with every secret replaced, for messages that quote a library's error."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def require(value: str | None, what: str, pattern: re.Pattern[str]) -> str:
    """The id `value` if it matches `pattern`; it goes into a URL, so nothing else passes."""
    if value is None:
        raise InvalidAction(f"{what} is required for this action")
    if not pattern.fullmatch(value):
        raise InvalidAction(f"{what} {value[:64]!r} is not a valid id")
    return value


def credential(credentials: Mapping[str, str], platform: Platform, name: str) -> str:
    """The secret `name` from a binding's decrypted secrets, or MissingCredential."""
    value = credentials.get(name)
    if not value:
        raise MissingCredential(platform, name)
    return value
