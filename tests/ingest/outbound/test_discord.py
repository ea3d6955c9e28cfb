"""Moderation actions and role grants reach Discord's REST API v10."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest

from services.ingest.outbound import ActionOutcome, RoleGrant, execute
from services.ingest.outbound.discord import DiscordClient
from shared.events.community import Platform
from shared.events.payloads import ActionKind
from tests.ingest.fakes.discord import DiscordFake
from tests.ingest.outbound.helpers import DISCORD_TOKEN, Sleeps, moderation

GUILD = "800000000000000001"
CHANNEL = "800000000000000002"
MESSAGE = "800000000000000003"
MEMBER = "800000000000000004"
ROLE = "800000000000000005"


@pytest.fixture
async def client(discord: DiscordFake) -> AsyncIterator[DiscordClient]:
    async with DiscordClient({"bot_token": DISCORD_TOKEN}, discord.api_url) as client:
        yield client


async def apply(client: DiscordClient, kind: ActionKind, sleeps: Sleeps, **fields: object):
    action = moderation(Platform.DISCORD, kind, **fields)
    return await execute(lambda: client.apply(action, external_id=GUILD), sleep=sleeps)


@pytest.mark.parametrize("kind", [ActionKind.DELETE, ActionKind.HIDE])
async def test_delete_and_hide_delete_the_message_with_the_reason_in_the_audit_log(
    client: DiscordClient, discord: DiscordFake, sleeps: Sleeps, kind: ActionKind
) -> None:
    result = await apply(
        client, kind, sleeps, channel_id=CHANNEL, message_id=MESSAGE, reason="Spam, links & ads"
    )

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 1)
    [call] = discord.calls
    assert (call.method, call.path) == ("DELETE", f"/api/v10/channels/{CHANNEL}/messages/{MESSAGE}")
    assert call.headers["authorization"] == f"Bot {DISCORD_TOKEN}"
    assert call.headers["x-audit-log-reason"] == "Spam%2C%20links%20%26%20ads"
    assert unquote(call.headers["x-audit-log-reason"]) == "Spam, links & ads"


async def test_a_message_already_gone_counts_as_deleted(
    client: DiscordClient, discord: DiscordFake, sleeps: Sleeps
) -> None:
    discord.fail_next(1, 404)  # {"code": 10008, "message": "Unknown Message"}

    result = await apply(client, ActionKind.DELETE, sleeps, channel_id=CHANNEL, message_id=MESSAGE)

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 1)


async def test_warn_replies_to_the_message(
    client: DiscordClient, discord: DiscordFake, sleeps: Sleeps
) -> None:
    result = await apply(
        client, ActionKind.WARN, sleeps, channel_id=CHANNEL, message_id=MESSAGE, reason="Be kind"
    )

    assert result.outcome is ActionOutcome.DONE
    [call] = discord.calls
    assert (call.method, call.path) == ("POST", f"/api/v10/channels/{CHANNEL}/messages")
    assert call.json["content"] == "Be kind"
    assert call.json["message_reference"] == {"message_id": MESSAGE, "fail_if_not_exists": False}
    assert call.json["allowed_mentions"] == {"parse": [], "replied_user": True}


async def test_mute_times_the_member_out_until_now_plus_duration(
    client: DiscordClient, discord: DiscordFake, sleeps: Sleeps
) -> None:
    result = await apply(
        client,
        ActionKind.MUTE,
        sleeps,
        platform_user_id=MEMBER,
        duration_seconds=600,
        reason="Cool off",
    )

    assert result.outcome is ActionOutcome.DONE
    [call] = discord.calls
    assert (call.method, call.path) == ("PATCH", f"/api/v10/guilds/{GUILD}/members/{MEMBER}")
    until = datetime.fromisoformat(call.json["communication_disabled_until"])
    assert abs(until - (datetime.now(UTC) + timedelta(seconds=600))) < timedelta(seconds=5)
    assert unquote(call.headers["x-audit-log-reason"]) == "Cool off"


async def test_unmute_ends_the_timeout(
    client: DiscordClient, discord: DiscordFake, sleeps: Sleeps
) -> None:
    result = await apply(client, ActionKind.UNMUTE, sleeps, platform_user_id=MEMBER)

    assert result.outcome is ActionOutcome.DONE
    [call] = discord.calls
    assert (call.method, call.path) == ("PATCH", f"/api/v10/guilds/{GUILD}/members/{MEMBER}")
    assert call.json == {"communication_disabled_until": None}


@pytest.mark.parametrize("duration", [None, 60 * 86400])
async def test_a_mute_longer_than_discord_allows_gets_the_28_day_cap(
    client: DiscordClient, discord: DiscordFake, sleeps: Sleeps, duration: int | None
) -> None:
    await apply(client, ActionKind.MUTE, sleeps, platform_user_id=MEMBER, duration_seconds=duration)

    until = datetime.fromisoformat(discord.calls[0].json["communication_disabled_until"])
    left = until - datetime.now(UTC)
    assert timedelta(days=27, hours=23) < left <= timedelta(days=28)


async def test_ban_bans_the_member(
    client: DiscordClient, discord: DiscordFake, sleeps: Sleeps
) -> None:
    result = await apply(client, ActionKind.BAN, sleeps, platform_user_id=MEMBER, reason="Raid")

    assert result.outcome is ActionOutcome.DONE
    [call] = discord.calls
    assert (call.method, call.path) == ("PUT", f"/api/v10/guilds/{GUILD}/bans/{MEMBER}")
    assert call.headers["x-audit-log-reason"] == "Raid"


async def test_a_timed_ban_is_unsupported_rather_than_made_permanent(
    client: DiscordClient, discord: DiscordFake, sleeps: Sleeps
) -> None:
    result = await apply(
        client, ActionKind.BAN, sleeps, platform_user_id=MEMBER, duration_seconds=3600
    )

    assert (result.outcome, result.attempts) == (ActionOutcome.UNSUPPORTED, 1)
    assert "no timed bans" in result.detail
    assert discord.calls == []


async def test_unban_lifts_the_ban(
    client: DiscordClient, discord: DiscordFake, sleeps: Sleeps
) -> None:
    discord.fail_next(1, 404, code=10026, message="Unknown Ban")

    result = await apply(client, ActionKind.UNBAN, sleeps, platform_user_id=MEMBER)

    assert result.outcome is ActionOutcome.DONE  # not banned any more: the goal is met
    [call] = discord.calls
    assert (call.method, call.path) == ("DELETE", f"/api/v10/guilds/{GUILD}/bans/{MEMBER}")


async def test_an_id_that_is_no_snowflake_never_reaches_a_url(
    client: DiscordClient, discord: DiscordFake, sleeps: Sleeps
) -> None:
    result = await apply(
        client, ActionKind.DELETE, sleeps, channel_id="../../guilds/1", message_id=MESSAGE
    )

    assert result.outcome is ActionOutcome.PLATFORM_ERROR
    assert discord.calls == []


@pytest.mark.parametrize(("give", "method"), [(True, "PUT"), (False, "DELETE")])
async def test_a_role_grant_adds_or_removes_the_guild_role(
    client: DiscordClient, discord: DiscordFake, sleeps: Sleeps, give: bool, method: str
) -> None:
    grant = RoleGrant(Platform.DISCORD, GUILD, MEMBER, ROLE, give)

    result = await execute(lambda: client.grant_role(grant, external_id=GUILD), sleep=sleeps)

    assert result.outcome is ActionOutcome.DONE
    [call] = discord.calls
    assert (call.method, call.path) == (
        method,
        f"/api/v10/guilds/{GUILD}/members/{MEMBER}/roles/{ROLE}",
    )
    assert "x-audit-log-reason" in call.headers


async def test_a_grant_for_another_guild_is_refused(
    client: DiscordClient, discord: DiscordFake, sleeps: Sleeps
) -> None:
    grant = RoleGrant(Platform.DISCORD, "800000000000000999", MEMBER, ROLE, True)

    result = await execute(lambda: client.grant_role(grant, external_id=GUILD), sleep=sleeps)

    assert result.outcome is ActionOutcome.PLATFORM_ERROR
    assert discord.calls == []
