"""Retrying one platform call until it is done or plainly will not be, and picking the client.

Transient errors are retried with exponential backoff. A rate limit is honoured by waiting
exactly what the platform asked, and counts as an attempt. When a platform asks for more
than `max_retry_after`, the executor gives up at once (retries_exhausted) instead of coming
back early: an early retry only earns another 429, and Discord and Telegram lengthen the
penalty for clients that ignore it. Refusals and unsupported actions are never retried.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)
from tenacity.stop import stop_base

from services.ingest.outbound.base import (
    ActionOutcome,
    ActionResult,
    PermanentPlatformError,
    PlatformClient,
    RateLimited,
    TransientPlatformError,
    Unsupported,
)
from shared.events.community import Platform

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Adapters are imported on first use: aiogram and githubkit take seconds to import, and
# a process that never acts on a platform (or `hearth --help`) should not pay for them.
_ADAPTERS: Final[Mapping[Platform, tuple[str, str]]] = {
    Platform.TELEGRAM: ("services.ingest.outbound.telegram", "TelegramClient"),
    Platform.SLACK: ("services.ingest.outbound.slack", "SlackClient"),
    Platform.DISCORD: ("services.ingest.outbound.discord", "DiscordClient"),
    Platform.GITHUB: ("services.ingest.outbound.github", "GitHubClient"),
}


def default_base_url(platform: Platform) -> str:
    """The platform's public API, where a client goes unless told otherwise."""
    module, _ = _ADAPTERS[platform]
    url: str = importlib.import_module(module).DEFAULT_BASE_URL
    return url


async def execute(
    client_call: Callable[[], Awaitable[None]],
    *,
    attempts: int = 5,
    backoff_initial: float = 0.5,
    backoff_max: float = 30,
    max_retry_after: float = 300,
    sleep: Sleep = asyncio.sleep,
) -> ActionResult:
    """Call `client_call` until it succeeds, is refused, or `attempts` calls were made."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        await client_call()

    backoff = wait_exponential(multiplier=backoff_initial, max=backoff_max)

    def wait(state: RetryCallState) -> float:
        failure = _failure(state)
        return failure.retry_after if isinstance(failure, RateLimited) else backoff(state)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts) | _AsksTooLong(max_retry_after),
        wait=wait,
        retry=retry_if_exception_type((TransientPlatformError, RateLimited)),
        sleep=sleep,
        before_sleep=_log_retry,
        reraise=True,
    )
    try:
        await retrying(attempt)
    except Unsupported as exc:
        return _finish(ActionOutcome.UNSUPPORTED, exc.reason, calls, None)
    except PermanentPlatformError as exc:
        return _finish(ActionOutcome.PLATFORM_ERROR, exc.detail, calls, exc.status)
    except RateLimited as exc:
        detail = exc.detail
        if exc.retry_after > max_retry_after:
            detail += (
                f"; the platform asks to wait {exc.retry_after:g}s, more than "
                f"max_retry_after={max_retry_after:g}s"
            )
        return _finish(ActionOutcome.RETRIES_EXHAUSTED, detail, calls, exc.status)
    except TransientPlatformError as exc:
        return _finish(ActionOutcome.RETRIES_EXHAUSTED, exc.detail, calls, exc.status)
    return _finish(ActionOutcome.DONE, "done", calls, None)


def clients_for(
    platform: Platform,
    credentials: Mapping[str, str],
    base_urls: Mapping[Platform, str] | None = None,
) -> PlatformClient:
    """The client for `platform`, at base_urls[platform] or the platform's public API.

    Raises Unsupported for a platform without outbound actions, and MissingCredential when
    the binding's secrets lack the token. The caller closes the client (`aclose()`).
    """
    if platform not in _ADAPTERS:
        raise Unsupported(f"Hearth cannot act on {platform}: no outbound client for it")
    module, name = _ADAPTERS[platform]
    adapter: Callable[[Mapping[str, str], str], PlatformClient] = getattr(
        importlib.import_module(module), name
    )
    base_url = (base_urls or {}).get(platform) or default_base_url(platform)
    return adapter(credentials, base_url)


class _AsksTooLong(stop_base):
    """Stop when the platform asks for a longer wait than we are willing to give."""

    def __init__(self, max_retry_after: float) -> None:
        self.max_retry_after = max_retry_after

    def __call__(self, retry_state: RetryCallState) -> bool:
        failure = _failure(retry_state)
        return isinstance(failure, RateLimited) and failure.retry_after > self.max_retry_after


def _failure(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


def _log_retry(state: RetryCallState) -> None:
    failure = _failure(state)
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    logger.warning(
        "outbound attempt %d failed (%s); retrying in %.3gs",
        state.attempt_number,
        getattr(failure, "detail", type(failure).__name__),
        wait,
    )


def _finish(outcome: ActionOutcome, detail: str, calls: int, status: int | None) -> ActionResult:
    if outcome is not ActionOutcome.DONE:
        logger.warning("outbound action %s after %d attempt(s): %s", outcome, calls, detail)
    return ActionResult(outcome=outcome, detail=detail, attempts=calls, platform_status=status)
