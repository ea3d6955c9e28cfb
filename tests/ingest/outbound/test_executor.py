"""The executor's retry rules, alone and against each platform's fake."""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from services.ingest.outbound import (
    ActionOutcome,
    MissingCredential,
    PermanentPlatformError,
    PlatformClient,
    RateLimited,
    TransientPlatformError,
    Unsupported,
    clients_for,
    execute,
)
from services.ingest.outbound.discord import DiscordClient
from services.ingest.outbound.discourse import DiscourseClient
from services.ingest.outbound.github import GitHubClient
from services.ingest.outbound.slack import SlackClient
from services.ingest.outbound.telegram import TelegramClient
from shared.events.community import Platform
from shared.events.payloads import ActionKind, ModerationAction
from tests.ingest.fakes.discourse import DiscourseFake
from tests.ingest.fakes.server import FakePlatform
from tests.ingest.outbound.helpers import (
    DISCORD_TOKEN,
    GITHUB_TOKEN,
    SLACK_TOKEN,
    TELEGRAM_TOKEN,
    TOKENS,
    Sleeps,
    moderation,
)


class Script:
    """A client call that fails with the given exceptions, in order, then succeeds."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


# the executor alone ---------------------------------------------------------


async def test_a_call_that_works_is_done_after_one_attempt(sleeps: Sleeps) -> None:
    result = await execute(Script(), sleep=sleeps)

    assert (result.outcome, result.attempts, result.detail) == (ActionOutcome.DONE, 1, "done")
    assert sleeps.waits == []


async def test_transient_failures_back_off_exponentially_up_to_the_cap(sleeps: Sleeps) -> None:
    script = Script(*(TransientPlatformError("timeout") for _ in range(5)))

    result = await execute(script, attempts=6, backoff_initial=1, backoff_max=3, sleep=sleeps)

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 6)
    assert sleeps.waits == [1, 2, 3, 3, 3]


async def test_a_rate_limit_waits_exactly_what_the_platform_asked(sleeps: Sleeps) -> None:
    result = await execute(Script(RateLimited(2.5)), sleep=sleeps)

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 2)
    assert sleeps.waits == [2.5]


async def test_rate_limits_count_as_attempts(sleeps: Sleeps) -> None:
    script = Script(*(RateLimited(1) for _ in range(9)))

    result = await execute(script, attempts=3, sleep=sleeps)

    assert (result.outcome, result.attempts, result.platform_status) == (
        ActionOutcome.RETRIES_EXHAUSTED,
        3,
        429,
    )
    assert sleeps.waits == [1, 1]


async def test_a_wait_longer_than_max_retry_after_gives_up_instead_of_retrying_early(
    sleeps: Sleeps,
) -> None:
    result = await execute(Script(RateLimited(3600)), max_retry_after=300, sleep=sleeps)

    assert (result.outcome, result.attempts) == (ActionOutcome.RETRIES_EXHAUSTED, 1)
    assert "more than max_retry_after=300s" in result.detail
    assert sleeps.waits == []


async def test_a_refusal_is_not_retried(sleeps: Sleeps) -> None:
    script = Script(PermanentPlatformError(403, "Missing Permissions"))

    result = await execute(script, sleep=sleeps)

    assert (result.outcome, result.attempts, result.platform_status) == (
        ActionOutcome.PLATFORM_ERROR,
        1,
        403,
    )
    assert result.detail == "Missing Permissions"
    assert script.calls == 1


async def test_unsupported_is_not_retried(sleeps: Sleeps) -> None:
    result = await execute(Script(Unsupported("no mute here")), sleep=sleeps)

    assert (result.outcome, result.attempts, result.detail) == (
        ActionOutcome.UNSUPPORTED,
        1,
        "no mute here",
    )


async def test_a_bug_is_raised_not_reported_as_a_platform_outcome(sleeps: Sleeps) -> None:
    with pytest.raises(KeyError):
        await execute(Script(KeyError("oops")), sleep=sleeps)


async def test_each_retry_is_logged(sleeps: Sleeps, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="services.ingest.outbound")

    await execute(Script(TransientPlatformError("telegram deleteMessage: 502")), sleep=sleeps)

    assert (
        "outbound attempt 1 failed (telegram deleteMessage: 502); retrying in 0.5s" in caplog.text
    )


# picking the client ---------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "secrets", "kind"),
    [
        (Platform.TELEGRAM, {"bot_token": TELEGRAM_TOKEN}, TelegramClient),
        (Platform.SLACK, {"bot_token": SLACK_TOKEN}, SlackClient),
        (Platform.DISCORD, {"bot_token": DISCORD_TOKEN}, DiscordClient),
        (Platform.GITHUB, {"token": GITHUB_TOKEN}, GitHubClient),
        (Platform.DISCOURSE, {"api_key": DiscourseFake.api_key}, DiscourseClient),
    ],
)
async def test_clients_for_picks_the_platforms_client(
    platform: Platform, secrets: dict[str, str], kind: type
) -> None:
    client = clients_for(platform, secrets, {platform: "http://127.0.0.1:9"})

    assert isinstance(client, kind)
    assert secrets[next(iter(secrets))] not in repr(client)
    await client.aclose()


def test_clients_for_a_platform_without_actions_is_unsupported() -> None:
    with pytest.raises(Unsupported, match="api"):
        clients_for(Platform.API, {"api_key": "k"})


def test_a_missing_or_malformed_token_names_the_secret_not_its_value() -> None:
    with pytest.raises(MissingCredential, match="'bot_token' is missing"):
        clients_for(Platform.DISCORD, {"public_key": "ab" * 32})
    with pytest.raises(MissingCredential, match="'bot_token' is malformed") as raised:
        clients_for(Platform.TELEGRAM, {"bot_token": "not a token SECRET"})
    assert "SECRET" not in "".join(traceback.format_exception_only(raised.value))
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


# every platform, through its fake --------------------------------------------


@dataclass(frozen=True)
class Case:
    """One platform: its fake, a client on it, an action, and how the platform rate-limits."""

    platform: Platform
    fake: str
    secrets: dict[str, str]
    action: ModerationAction
    external_id: str
    rate_limit: dict[str, Any]
    asked_wait: float

    def client(self, base_url: str) -> PlatformClient:
        return clients_for(self.platform, self.secrets, {self.platform: base_url})


CASES = [
    Case(
        Platform.TELEGRAM,
        "telegram",
        {"bot_token": TELEGRAM_TOKEN},
        moderation(Platform.TELEGRAM, ActionKind.DELETE, channel_id="-100123", message_id="7"),
        "-100123",
        {"retry_after": 3},
        3,
    ),
    Case(
        Platform.SLACK,
        "slack",
        {"bot_token": SLACK_TOKEN},
        moderation(Platform.SLACK, ActionKind.DELETE, channel_id="C0123", message_id="1700.0001"),
        "T0123",
        {"retry_after": 7},
        7,
    ),
    Case(
        Platform.DISCORD,
        "discord",
        {"bot_token": DISCORD_TOKEN},
        moderation(
            Platform.DISCORD,
            ActionKind.DELETE,
            channel_id="800000000000000002",
            message_id="800000000000000003",
        ),
        "800000000000000001",
        {"retry_after": 0.25},
        0.25,
    ),
    Case(
        Platform.GITHUB,
        "github",
        {"token": GITHUB_TOKEN},
        moderation(
            Platform.GITHUB, ActionKind.DELETE, channel_id="org/repo", message_id="comment:9"
        ),
        "org/repo",
        {"retry_after": 5},
        5,
    ),
    Case(
        Platform.DISCOURSE,
        "discourse",
        {"api_key": DiscourseFake.api_key},
        moderation(Platform.DISCOURSE, ActionKind.DELETE, message_id="41"),
        "https://forum.example.com",
        {"retry_after": 6},
        6,
    ),
]
ids = [case.fake for case in CASES]


async def run(case: Case, fake: FakePlatform, sleeps: Sleeps, **retry: Any):
    client = case.client(fake.api_url)
    try:
        return await execute(
            lambda: client.apply(case.action, external_id=case.external_id), sleep=sleeps, **retry
        )
    finally:
        await client.aclose()


@pytest.fixture
def fake_of(
    telegram: FakePlatform,
    slack: FakePlatform,
    discord: FakePlatform,
    github: FakePlatform,
    discourse: DiscourseFake,
) -> Callable[[Case], FakePlatform]:
    discourse.posts.add(41)
    fakes = {
        "telegram": telegram,
        "slack": slack,
        "discord": discord,
        "github": github,
        "discourse": discourse,
    }
    return lambda case: fakes[case.fake]


@pytest.mark.parametrize("case", CASES, ids=ids)
async def test_a_rate_limit_is_honoured_then_the_call_succeeds(
    case: Case, fake_of: Callable[[Case], FakePlatform], sleeps: Sleeps
) -> None:
    fake = fake_of(case)
    fake.fail_next(1, 429, **case.rate_limit)

    result = await run(case, fake, sleeps)

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 2)
    assert sleeps.waits == [case.asked_wait]
    assert len(fake.calls) == 2


async def test_githubs_secondary_rate_limit_on_403_is_honoured(
    github: FakePlatform, sleeps: Sleeps
) -> None:
    github.fail_next(1, 403, retry_after=4)

    result = await run(CASES[3], github, sleeps)

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 2)
    assert sleeps.waits == [4]


async def test_githubs_primary_rate_limit_waits_until_the_reset(
    github: FakePlatform, sleeps: Sleeps
) -> None:
    github.fail_next(1, 403, reset_in=30)

    result = await run(CASES[3], github, sleeps)

    assert result.outcome is ActionOutcome.DONE
    [wait] = sleeps.waits
    assert 28 <= wait <= 30


@pytest.mark.parametrize("case", CASES, ids=ids)
async def test_two_server_errors_then_success_is_done_after_three_attempts(
    case: Case, fake_of: Callable[[Case], FakePlatform], sleeps: Sleeps
) -> None:
    fake = fake_of(case)
    fake.fail_next(2, 502)

    result = await run(case, fake, sleeps)

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 3)
    assert sleeps.waits == [0.5, 1.0]
    assert len(fake.calls) == 3


@pytest.mark.parametrize("case", CASES, ids=ids)
async def test_persistent_server_errors_exhaust_the_retries(
    case: Case, fake_of: Callable[[Case], FakePlatform], sleeps: Sleeps
) -> None:
    fake = fake_of(case)
    fake.fail_next(10, 500)

    result = await run(case, fake, sleeps)

    assert (result.outcome, result.attempts) == (ActionOutcome.RETRIES_EXHAUSTED, 5)
    assert sleeps.waits == [0.5, 1.0, 2.0, 4.0]
    assert len(fake.calls) == 5


@pytest.mark.parametrize("status", [400, 403])
@pytest.mark.parametrize("case", CASES, ids=ids)
async def test_a_refusal_is_a_platform_error_without_retry(
    case: Case, fake_of: Callable[[Case], FakePlatform], sleeps: Sleeps, status: int
) -> None:
    fake = fake_of(case)
    fake.fail_next(1, status)

    result = await run(case, fake, sleeps)

    assert (result.outcome, result.attempts, result.platform_status) == (
        ActionOutcome.PLATFORM_ERROR,
        1,
        status,
    )
    assert len(fake.calls) == 1
    assert sleeps.waits == []


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("case", CASES, ids=ids)
async def test_the_token_never_shows_in_results_exceptions_or_logs(
    case: Case,
    fake_of: Callable[[Case], FakePlatform],
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = fake_of(case)
    seen: list[str] = []
    for status in (429, 500, 401, 403, 404):
        fake.fail_next(3, status)
        seen.append(str(await run(case, fake, sleeps, attempts=3)))
        fake.reset()
    unreachable = f"http://127.0.0.1:{_closed_port()}{fake.api_path}"
    client = case.client(unreachable)
    for failing in (None, 500, 403):
        if failing is not None:
            fake.fail_next(1, failing)
        target = client if failing is None else case.client(fake.api_url)
        try:
            await target.apply(case.action, external_id=case.external_id)
        except (RateLimited, TransientPlatformError, PermanentPlatformError) as exc:
            seen.append("".join(traceback.format_exception(exc)))
        finally:
            await target.aclose()
    await client.aclose()

    assert any("ConnectionRefused" in s or "Connect" in s for s in seen), seen
    text = "\n".join(seen) + caplog.text
    for token in TOKENS:
        assert token not in text
