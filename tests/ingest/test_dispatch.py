"""Actions reach the platform after the consumer's commit, once each, one binding at a time.

Each test drives ingest end to end (moderation.actions.v1 in, a fake Discord REST API,
ingest.action_results.v1 out) on the embedded backend and on real Kafka + PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest
from prometheus_client import REGISTRY
from starlette.requests import Request
from starlette.responses import Response

from services.ingest import repository
from services.ingest.context import IngestContext
from services.ingest.dispatch import Dispatcher
from shared.bus.port import envelope_message
from shared.events.envelope import Envelope, new_event_id
from shared.events.payloads import ActionKind, ModerationAction
from tests.ingest.conftest import Ingest
from tests.ingest.fakes.discord import DiscordFake
from tests.ingest.fakes.server import Call, Reply, serve
from tests.ingest.test_actions import TOKEN, result_of, send

ACTIONS = "moderation.actions.v1"
GUILD_A = "290926798626357001"
GUILD_B = "290926798626357002"
USER = "1100000000000000003"


class Discord(DiscordFake):
    """Discord, where one guild is rate-limited for two minutes and replies can be held."""

    def __init__(self) -> None:
        super().__init__()
        self.limited_guild: str | None = None
        self.held = 0  # how many of the next replies wait for `released`
        self.released = asyncio.Event()

    def succeed(self, call: Call) -> Reply:
        if self.limited_guild and f"/guilds/{self.limited_guild}/" in call.path:
            return self.failure(429, retry_after=120)
        return super().succeed(call)

    async def _handle(self, request: Request) -> Response:
        response = await super()._handle(request)  # the call is made: Discord acted on it
        if self.held and _acts(request.url.path):
            self.held -= 1
            await self.released.wait()
        return response

    def calls_to(self, fragment: str) -> list[Call]:
        return [call for call in self.calls if fragment in call.path]

    def actions(self) -> list[Call]:
        """Calls that act on a guild or channel (the gateway connector also logs in)."""
        return [
            c for c in self.calls if c.path.startswith(("/api/v10/channels/", "/api/v10/guilds/"))
        ]


def _acts(path: str) -> bool:
    return path.startswith(("/api/v10/channels/", "/api/v10/guilds/"))


@pytest.fixture
async def discord_api() -> AsyncIterator[Discord]:
    fake = Discord()
    async with serve(fake):
        yield fake
        fake.released.set()


@pytest.fixture
def dispatch_env() -> dict[str, str]:
    return {}


@pytest.fixture
def ingest_env(discord_api: Discord, dispatch_env: dict[str, str]) -> dict[str, str]:
    return {
        "HEARTH_INGEST_DISCORD_API_URL": discord_api.api_url,
        "HEARTH_INGEST_ACTION_ATTEMPTS": "3",
        "HEARTH_INGEST_ACTION_BACKOFF_SECONDS": "0.01",
        **dispatch_env,
    }


async def community_on(ingest: Ingest, guild: str) -> str:
    community = await ingest.community()
    await ingest.bind(community, "discord", guild, {"public_key": "ab" * 32, "bot_token": TOKEN})
    return community


def ban(ingest: Ingest, community: str) -> ModerationAction:
    return ModerationAction(
        tenant_id=ingest.tenant_id,
        community_id=community,
        platform="discord",
        action=ActionKind.BAN,
        platform_user_id=USER,
        reason="spam",
    )


def delete(ingest: Ingest, community: str, message_id: str) -> ModerationAction:
    return ModerationAction(
        tenant_id=ingest.tenant_id,
        community_id=community,
        platform="discord",
        action=ActionKind.DELETE,
        channel_id="1100000000000000001",
        message_id=message_id,
        platform_user_id=USER,
        reason="spam link",
    )


def results_counted(platform: str, action: str, outcome: str) -> float:
    labels = {"platform": platform, "action": action, "outcome": outcome}
    return REGISTRY.get_sample_value("hearth_ingest_action_results_total", labels) or 0.0


def retries_counted(platform: str) -> float:
    labels = {"platform": platform}
    return REGISTRY.get_sample_value("hearth_ingest_action_retries_total", labels) or 0.0


async def until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        await asyncio.sleep(0.02)


async def attempts_of(ingest: Ingest, action_id: str) -> list[dict]:
    [hosted] = ingest.host.services
    async with hosted.db.transaction() as session:
        rows = await repository.attempts_of(session, ingest.tenant_id, action_id)
    return [dict(row) for row in rows]


def context_of(ingest: Ingest) -> IngestContext:
    [hosted] = ingest.host.services
    assert isinstance(hosted.context, IngestContext)
    return hosted.context


async def test_a_batch_that_fails_at_its_last_event_sends_each_action_once(
    ingest: Ingest, discord_api: Discord
) -> None:
    community = await community_on(ingest, GUILD_A)
    first = delete(ingest, community, "1100000000000000021")
    second = delete(ingest, community, "1100000000000000022")
    broken = Envelope(
        source="/hearth/moderation",
        type="moderation.action.requested",
        tenantid=ingest.tenant_id,
        partitionkey=f"{community}:{USER}",
        data={"tenant_id": ingest.tenant_id, "community_id": community},  # no action
    )
    envelopes = [c.to_envelope(source="/hearth/moderation") for c in (first, second)]
    await ingest.bus.publish_many(
        [envelope_message(ACTIONS, envelope) for envelope in (*envelopes, broken)]
    )

    await ingest.published(f"{ACTIONS}.{ingest.group}.dlq", match=lambda e: e.id == broken.id)
    for command in (first, second):
        assert (await result_of(ingest, command.action_id))["outcome"] == "done"
    assert len(discord_api.calls_to(first.message_id or "")) == 1
    assert len(discord_api.calls_to(second.message_id or "")) == 1
    assert len(discord_api.actions()) == 2


async def test_a_rate_limited_community_does_not_hold_up_another(
    ingest: Ingest, discord_api: Discord
) -> None:
    limited = await community_on(ingest, GUILD_A)
    other = await community_on(ingest, GUILD_B)
    discord_api.limited_guild = GUILD_A
    retries_before = retries_counted("discord")
    waiting = ban(ingest, limited)
    await send(ingest, waiting)
    await until(lambda: len(discord_api.calls_to(GUILD_A)) == 1)

    passing = ban(ingest, other)
    bans_done = results_counted("discord", "ban", "done")
    await send(ingest, passing)

    result = await result_of(ingest, passing.action_id)
    assert result["outcome"] == "done" and result["attempts"] == 1
    assert results_counted("discord", "ban", "done") == bans_done + 1
    assert retries_counted("discord") >= retries_before + 1  # the 429 rescheduled the ban
    assert len(discord_api.calls_to(GUILD_A)) == 1  # not asked again before Retry-After
    [attempt] = await attempts_of(ingest, waiting.action_id)
    assert (attempt["status"], attempt["attempts"]) == ("pending", 1)
    assert "rate limit" in attempt["detail"]


@pytest.mark.parametrize(
    "dispatch_env",
    [
        {
            "HEARTH_INGEST_DISPATCH_WORKERS": "0",  # the test runs the dispatchers
            "HEARTH_INGEST_ACTION_CALL_TIMEOUT_SECONDS": "3",
            "HEARTH_INGEST_ACTION_LEASE_SECONDS": "4",
        }
    ],
)
async def test_a_dispatcher_killed_mid_call_is_retried_after_its_lease_and_done_is_final(
    ingest: Ingest, discord_api: Discord
) -> None:
    community = await community_on(ingest, GUILD_A)
    command = delete(ingest, community, "1100000000000000031")
    discord_api.held = 1
    await send(ingest, command)
    crashing = asyncio.create_task(Dispatcher(context_of(ingest), workers=2).run())
    await until(lambda: len(discord_api.actions()) == 1)

    crashing.cancel()  # Discord acted, the outcome was never recorded
    with contextlib.suppress(asyncio.CancelledError):
        await crashing
    [attempt] = await attempts_of(ingest, command.action_id)
    assert (attempt["status"], attempt["attempts"]) == ("in_flight", 1)

    restarted = asyncio.create_task(Dispatcher(context_of(ingest), workers=2).run())
    try:
        result = await result_of(ingest, command.action_id)
        assert result["outcome"] == "done" and result["attempts"] == 2
        # The same event again, and the same action under a new event id: both no-ops.
        await send(ingest, command)
        await send(ingest, command.model_copy(update={"event_id": new_event_id()}))
        marker = delete(ingest, community, "1100000000000000032")
        await send(ingest, marker)
        await result_of(ingest, marker.action_id)
    finally:
        restarted.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await restarted

    assert len(discord_api.calls_to(command.message_id or "")) == 2
    assert (await result_of(ingest, command.action_id))["outcome"] == "done"  # one result
    [attempt] = await attempts_of(ingest, command.action_id)
    assert (attempt["status"], attempt["attempts"]) == ("done", 2)


@pytest.mark.parametrize("dispatch_env", [{"HEARTH_INGEST_DISPATCH_WORKERS": "0"}])
async def test_two_dispatchers_never_send_the_same_attempt(
    ingest: Ingest, discord_api: Discord
) -> None:
    guilds = [f"29092679862635710{n}" for n in range(3)]
    communities = [await community_on(ingest, guild) for guild in guilds]
    commands = [
        delete(ingest, community, f"11000000000000001{n}{m}")
        for n, community in enumerate(communities)
        for m in range(4)
    ]
    for command in commands:
        await send(ingest, command)
    replicas = [
        asyncio.create_task(Dispatcher(context_of(ingest), workers=2).run()) for _ in range(2)
    ]
    try:
        for command in commands:
            assert (await result_of(ingest, command.action_id))["outcome"] == "done"
    finally:
        for replica in replicas:
            replica.cancel()
        await asyncio.gather(*replicas, return_exceptions=True)

    for command in commands:
        assert len(discord_api.calls_to(command.message_id or "")) == 1
    assert len(discord_api.actions()) == len(commands)
