"""Discord Gateway end to end: a fake gateway's dispatches become events on the topic."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.ingest.conftest import Ingest
from tests.ingest.connectors.conftest import (
    Published,
    bind,
    discord_token,
    eventually,
    payload,
)
from tests.ingest.connectors.fake_discord import FakeDiscord

MESSAGE_GUILD = "694205451682978886"  # the guild of gateway.MESSAGE_CREATE.json
MEMBER_GUILD = "123456789012345678"  # of gateway.MESSAGE_REACTION_ADD / GUILD_MEMBER_ADD
PUBLIC_KEY = "a" * 64
# guilds | guild_members | guild_messages | guild_message_reactions | message_content
INTENTS = 1 << 0 | 1 << 1 | 1 << 9 | 1 << 10 | 1 << 15


async def guild_binding(
    ingest: Ingest, guild: str, token: str, options: dict[str, Any] | None = None
) -> str:
    community = await ingest.community(f"Guild {guild}")
    secrets = {"public_key": PUBLIC_KEY, "bot_token": token}
    await bind(ingest, community, "discord", guild, secrets, options)
    return community


def of(community: str) -> Any:
    return lambda envelope: envelope.data.get("community_id") == community


async def test_gateway_dispatches_become_events_of_the_guilds_community(
    ingest: Ingest, published: Published, fake_discord: FakeDiscord
) -> None:
    token = discord_token()
    bot = fake_discord.bot(token)
    bot.guilds = [MESSAGE_GUILD, MEMBER_GUILD]
    # Two guilds of one bot, bound to two communities: one connection serves both.
    messages = await guild_binding(ingest, MESSAGE_GUILD, token)
    members = await guild_binding(ingest, MEMBER_GUILD, token)
    await eventually(lambda: len(bot.identifies) == 1)
    await asyncio.sleep(0.5)  # a reload (0.2 s) hands the second binding to the connection
    for name in ("MESSAGE_CREATE", "MESSAGE_REACTION_ADD", "GUILD_MEMBER_ADD"):
        bot.dispatch(payload(f"discord/gateway.{name}.json"))
    stranger = payload("discord/gateway.MESSAGE_CREATE.json")
    stranger["d"] |= {"guild_id": "555555555555555555", "id": "732582724170285999"}
    bot.dispatch(stranger)

    [message] = await published.wait(of(messages))
    reaction_and_join = await published.wait(of(members), expected=2)

    assert message.type == "community.message.created"
    assert message.data["workspace_id"] == MESSAGE_GUILD
    assert message.data["content"]["text"] == ".ping"
    assert message.data["actor"]["platform_user_id"] == "562268917771413264"
    assert message.data["actor"]["member_id"]
    by_type = {envelope.type: envelope.data for envelope in reaction_and_join}
    assert sorted(by_type) == ["community.member.joined", "community.reaction.added"]
    assert by_type["community.reaction.added"]["parent_id"] == "679003565884440580"
    assert by_type["community.member.joined"]["actor"]["username"] == "abcd"
    assert {e.data["workspace_id"] for e in reaction_and_join} == {MEMBER_GUILD}
    unbound = await published.wait(
        lambda e: e.data.get("workspace_id") == "555555555555555555", timeout=0.5
    )
    assert unbound == [], "a guild nobody bound is not published"
    assert len(bot.identifies) == 1, "one gateway session per bot token"
    assert bot.identifies[0]["intents"] == INTENTS
    assert bot.compress == ["zlib-stream"]
    assert "GET /api/v10/gateway/bot" in bot.rest_calls


async def test_a_dropped_connection_resumes_and_keeps_delivering(
    ingest: Ingest, published: Published, fake_discord: FakeDiscord
) -> None:
    token = discord_token()
    bot = fake_discord.bot(token)
    bot.guilds = [MESSAGE_GUILD]
    community = await guild_binding(ingest, MESSAGE_GUILD, token)
    await eventually(lambda: bot.open_sockets == 1)

    await bot.sockets[0].close(code=4000, message=b"Unknown error")  # Discord: reconnect
    await eventually(lambda: len(bot.resumes) == 1)
    bot.dispatch(payload("discord/gateway.MESSAGE_CREATE.json"))

    [message] = await published.wait(of(community))
    assert message.type == "community.message.created"
    assert bot.resumes[0]["session_id"] == "session-1" and len(bot.identifies) == 1


async def test_an_interactions_only_binding_opens_no_gateway(
    ingest: Ingest, fake_discord: FakeDiscord
) -> None:
    quiet = fake_discord.bot(token := discord_token())
    await guild_binding(ingest, MESSAGE_GUILD, token, {"discord_gateway": False})
    connected = fake_discord.bot(other := discord_token())
    await guild_binding(ingest, MEMBER_GUILD, other)

    await eventually(lambda: len(connected.identifies) == 1)
    assert quiet.rest_calls == [] and quiet.identifies == []


async def test_a_rejected_token_is_reported_without_the_token(
    ingest: Ingest, fake_discord: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    token = discord_token()  # unknown to the fake: 401 on login
    caplog.set_level(logging.INFO)
    await guild_binding(ingest, MESSAGE_GUILD, token)

    await eventually(lambda: any("rejects the bot token" in r.message for r in caplog.records))

    assert token not in caplog.text
