"""One platform call judged: done, plainly never, or when to try again; and picking the client.

`attempt_once` makes one call and says what it came to: a finished ActionResult, or a
Retry after some delay. The action dispatcher (services/ingest/dispatch.py) stores that
delay and comes back later, so no call chain ever sleeps; `execute` loops over it with a
sleep, for tools and tests that want the whole exchange in one await.

Transient errors are retried with exponential backoff. A rate limit is honoured by waiting
exactly what the platform asked, and counts as an attempt. When a platform asks for more
than `max_retry_after`, the action gives up at once (retries_exhausted) instead of coming
back early: an early retry only earns another 429, and Discord and Telegram lengthen the
penalty for clients that ignore it. Refusals and unsupported actions are never retried.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

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
    Platform.DISCOURSE: ("services.ingest.outbound.discourse", "DiscourseClient"),
}


@dataclass(frozen=True, slots=True)
class Retry:
    """The call failed in a way that may pass: call again after `delay` seconds."""

    delay: float
    detail: str
    status: int | None = None


def default_base_url(platform: Platform) -> str:
    """The platform's public API, where a client goes unless told otherwise."""
    module, _ = _ADAPTERS[platform]
    url: str = importlib.import_module(module).DEFAULT_BASE_URL
    return url


def backoff(attempt: int, *, initial: float, cap: float) -> float:
    """Seconds to wait after failed call number `attempt` (1-based): doubling, capped."""
    return float(min(initial * 2 ** (attempt - 1), cap))


async def attempt_once(
    client_call: Callable[[], Awaitable[None]],
    *,
    attempt: int,
    attempts: int = 5,
    backoff_initial: float = 0.5,
    backoff_max: float = 30,
    max_retry_after: float = 300,
) -> ActionResult | Retry:
    """Make call number `attempt` of at most `attempts`; a finished result, or when to retry.

    A bug in a client (any other exception) is raised, not reported as a platform outcome.
    """
    if not 1 <= attempt <= attempts:
        raise ValueError("attempt must be between 1 and attempts")
    try:
        await client_call()
    except Unsupported as exc:
        return _finish(ActionOutcome.UNSUPPORTED, exc.reason, attempt, None)
    except PermanentPlatformError as exc:
        return _finish(ActionOutcome.PLATFORM_ERROR, exc.detail, attempt, exc.status)
    except RateLimited as exc:
        if exc.retry_after > max_retry_after:
            detail = (
                f"{exc.detail}; the platform asks to wait {exc.retry_after:g}s, more than "
                f"max_retry_after={max_retry_after:g}s"
            )
            return _finish(ActionOutcome.RETRIES_EXHAUSTED, detail, attempt, exc.status)
        if attempt >= attempts:
            return _finish(ActionOutcome.RETRIES_EXHAUSTED, exc.detail, attempt, exc.status)
        return Retry(exc.retry_after, exc.detail, exc.status)
    except TransientPlatformError as exc:
        if attempt >= attempts:
            return _finish(ActionOutcome.RETRIES_EXHAUSTED, exc.detail, attempt, exc.status)
        delay = backoff(attempt, initial=backoff_initial, cap=backoff_max)
        return Retry(delay, exc.detail, exc.status)
    return _finish(ActionOutcome.DONE, "done", attempt, None)


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
    attempt = 1
    while True:
        step = await attempt_once(
            client_call,
            attempt=attempt,
            attempts=attempts,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            max_retry_after=max_retry_after,
        )
        if isinstance(step, ActionResult):
            return step
        log_retry(attempt, step)
        await sleep(step.delay)
        attempt += 1


async def load_client(platform: Platform) -> None:
    """Import the platform's client module in a worker thread.

    A platform SDK can take seconds to import (aiogram builds hundreds of pydantic models):
    imported inline on the first action, it froze every request and consumer of the
    process meanwhile. Once imported, this is a dictionary lookup.
    """
    if platform in _ADAPTERS and _ADAPTERS[platform][0] not in sys.modules:
        await asyncio.to_thread(importlib.import_module, _ADAPTERS[platform][0])


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


def log_retry(attempt: int, retry: Retry) -> None:
    """Say that call number `attempt` failed and when the next one is due."""
    logger.warning(
        "outbound attempt %d failed (%s); retrying in %.3gs", attempt, retry.detail, retry.delay
    )


def _finish(outcome: ActionOutcome, detail: str, calls: int, status: int | None) -> ActionResult:
    if outcome is not ActionOutcome.DONE:
        logger.warning("outbound action %s after %d attempt(s): %s", outcome, calls, detail)
    return ActionResult(outcome=outcome, detail=detail, attempts=calls, platform_status=status)
