"""Discord Gateway end to end: a fake gateway's dispatches become events on the topic."""

from __future__ import annotations

import logging
from typing import Any

import discord
import pytest
import yarl

from services.ingest import repository
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
    ingest: Ingest,
    published: Published,
    fake_discord: FakeDiscord,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="services.ingest.connectors")
    token = discord_token()
    bot = fake_discord.bot(token)
    bot.guilds = [MESSAGE_GUILD, MEMBER_GUILD]
    # Two guilds of one bot, bound to two communities: one connection serves both.
    messages = await guild_binding(ingest, MESSAGE_GUILD, token)
    members = await guild_binding(ingest, MEMBER_GUILD, token)
    ids = await ingest.client.get(
        f"/v1/ingest/communities/{members}/bindings", headers=ingest.auth()
    )
    second = ids.json()["items"][0]["id"]
    await eventually(lambda: len(bot.identifies) == 1)
    # A reload (0.2 s) hands the second binding to the connection; the fleet says so.
    await eventually(
        lambda: any(
            "discord connector" in r.getMessage() and second in r.getMessage()
            for r in caplog.records
        )
    )
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


OFF = {"discord_gateway": False}
CHANNEL = "727947198481956945"
GONE = "100000000000000001"  # the channel of gateway.MESSAGE_CREATE.json


def message(message_id: int, text: str) -> dict[str, Any]:
    """A REST message object of CHANNEL (what GET /channels/{id}/messages returns)."""
    data = dict(payload("discord/gateway.MESSAGE_CREATE.json")["d"])
    data.pop("guild_id", None)
    data.pop("member", None)
    return data | {"id": str(message_id), "content": text}


def live(data: dict[str, Any]) -> dict[str, Any]:
    return {"op": 0, "t": "MESSAGE_CREATE", "s": None, "d": data | {"guild_id": MESSAGE_GUILD}}


async def test_after_a_session_that_could_not_resume_the_gap_is_read_from_history(
    ingest: Ingest,
    published: Published,
    fake_discord: FakeDiscord,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # discord.py identifies again at its default gateway URL: point that at the fake.
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake_discord.gateway_url)
    )
    token = discord_token()
    bot = fake_discord.bot(token)
    bot.guilds = [MESSAGE_GUILD]
    community = await guild_binding(ingest, MESSAGE_GUILD, token)
    seen = message(1_100_000_000_000_000_001, "before the outage")
    bot.history[CHANNEL] = [seen]
    await eventually(lambda: bot.open_sockets == 1)
    bot.dispatch(live(seen))
    await published.wait(of(community))

    bot.refuse_resume = True
    missed = [message(1_100_000_000_000_000_000 + n, f"missed {n}") for n in (2, 3)]
    bot.history[CHANNEL] += missed  # posted while the bot was away
    await bot.sockets[0].close(code=4000, message=b"Unknown error")
    await eventually(lambda: len(bot.identifies) == 2)
    bot.dispatch(live(message(1_100_000_000_000_000_004, "after")))

    found = await published.wait(of(community), expected=4)
    texts = sorted(e.data["content"]["text"] for e in found)
    assert texts == ["after", "before the outage", "missed 2", "missed 3"]  # each once
    assert bot.history_reads[0]["after"] == seen["id"]
    keys = {e.data["dedup_key"] for e in found}
    assert f"discord:message:{CHANNEL}:{missed[0]['id']}" in keys


async def test_frames_lost_by_a_crash_before_publishing_are_read_from_history(
    ingest: Ingest, published: Published, fake_discord: FakeDiscord
) -> None:
    token = discord_token()
    bot = fake_discord.bot(token)
    bot.guilds = [MESSAGE_GUILD]
    community = await ingest.community()
    secrets = {"public_key": PUBLIC_KEY, "bot_token": token}
    binding = await bind(ingest, community, "discord", MESSAGE_GUILD, secrets, OFF)
    published_before = message(1_200_000_000_000_000_001, "published before the crash")
    lost = message(1_200_000_000_000_000_002, "received, never published")
    bot.history[CHANNEL] = [published_before, lost]
    # What the process that crashed left: the mark of the last message it published.
    db = ingest.host.hosted("ingest").db
    async with db.transaction() as session:
        await repository.advance_channel_marks(
            session,
            binding["id"],
            # and a channel deleted since (404): the fill goes on with the others
            {CHANNEL: int(published_before["id"]), GONE: 1_000_000_000_000_000_000},
        )

    turned_on = await ingest.client.patch(
        f"/v1/ingest/communities/{community}/bindings/{binding['id']}",
        json={"options": {}},
        headers=ingest.auth(),
    )
    assert turned_on.status_code == 200, turned_on.text

    [found] = await published.wait(of(community))
    assert found.data["content"]["text"] == "received, never published"
    assert {"channel": CHANNEL, "limit": "100", "after": published_before["id"]} in (
        bot.history_reads
    )
