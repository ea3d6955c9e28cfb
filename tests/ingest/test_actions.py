"""Decisions carried back to the platforms: a moderation action or a core-member role
reaches a fake Discord REST API through the real client, and its outcome is published."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.bus.port import publish
from shared.events.payloads import ActionKind, CoreMemberChange, ModerationAction
from tests.ingest.conftest import Ingest
from tests.ingest.fakes.discord import DiscordFake
from tests.ingest.fakes.server import serve

GUILD = "290926798626357999"
TOKEN = "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs"
RESULTS = "ingest.action_results.v1"


@pytest.fixture
async def discord_api() -> AsyncIterator[DiscordFake]:
    async with serve(DiscordFake()) as fake:
        yield fake


@pytest.fixture
def ingest_env(discord_api: DiscordFake) -> dict[str, str]:
    return {
        "HEARTH_INGEST_DISCORD_API_URL": discord_api.api_url,
        "HEARTH_INGEST_ACTION_ATTEMPTS": "3",
        "HEARTH_INGEST_ACTION_BACKOFF_SECONDS": "0.01",
    }


async def discord_community(ingest: Ingest, **options: str) -> str:
    community = await ingest.community()
    answer = await ingest.client.post(
        f"/v1/ingest/communities/{community}/bindings",
        json={
            "platform": "discord",
            "external_id": GUILD,
            "secrets": {"public_key": "ab" * 32, "bot_token": TOKEN},
            "options": options,
        },
        headers=ingest.auth(),
    )
    assert answer.status_code == 201, answer.text
    return community


def action(ingest: Ingest, community: str, kind: ActionKind) -> ModerationAction:
    return ModerationAction(
        tenant_id=ingest.tenant_id,
        community_id=community,
        platform="discord",
        action=kind,
        channel_id="1100000000000000001",
        message_id="1100000000000000002",
        platform_user_id="1100000000000000003",
        reason="spam link",
    )


async def send(ingest: Ingest, command: ModerationAction) -> None:
    envelope = command.to_envelope(source="/hearth/moderation")
    await publish(ingest.bus, "moderation.actions.v1", envelope)


async def result_of(ingest: Ingest, action_id: str) -> dict:
    # Another ingest on the same broker (a parallel run) answers no_binding: not ours.
    [envelope] = await ingest.published(
        RESULTS,
        match=lambda e: e.data["action_id"] == action_id and e.data["outcome"] != "no_binding",
    )
    return dict(envelope.data)


async def test_delete_reaches_discord_and_the_result_is_published(
    ingest: Ingest, discord_api: DiscordFake
) -> None:
    community = await discord_community(ingest)
    command = action(ingest, community, ActionKind.DELETE)
    await send(ingest, command)
    result = await result_of(ingest, command.action_id)
    assert result["outcome"] == "done" and result["attempts"] == 1
    [call] = discord_api.calls
    assert call.method == "DELETE"
    assert call.path == "/api/v10/channels/1100000000000000001/messages/1100000000000000002"
    assert call.headers["authorization"] == f"Bot {TOKEN}"


async def test_rate_limit_is_honoured_then_the_ban_succeeds(
    ingest: Ingest, discord_api: DiscordFake
) -> None:
    community = await discord_community(ingest)
    discord_api.fail_next(1, 429, retry_after=0.05)
    command = action(ingest, community, ActionKind.BAN)
    await send(ingest, command)
    result = await result_of(ingest, command.action_id)
    assert result["outcome"] == "done" and result["attempts"] == 2
    assert [c.method for c in discord_api.calls] == ["PUT", "PUT"]
    assert discord_api.calls[-1].path == f"/api/v10/guilds/{GUILD}/bans/1100000000000000003"


async def test_failing_platform_exhausts_retries_and_dead_letters_the_action(
    ingest: Ingest, discord_api: DiscordFake
) -> None:
    community = await discord_community(ingest)
    discord_api.fail_next(10, 500)
    command = action(ingest, community, ActionKind.MUTE)
    await send(ingest, command)
    result = await result_of(ingest, command.action_id)
    assert result["outcome"] == "retries_exhausted" and result["attempts"] == 3
    assert TOKEN not in result["detail"]
    [dead] = await ingest.published(
        f"moderation.actions.v1.{ingest.group}.dlq",
        match=lambda e: e.data.get("action_id") == command.action_id,
    )
    assert dead.id == command.event_id


async def test_permission_error_is_reported_without_retrying(
    ingest: Ingest, discord_api: DiscordFake
) -> None:
    community = await discord_community(ingest)
    discord_api.fail_next(1, 403)
    command = action(ingest, community, ActionKind.DELETE)
    await send(ingest, command)
    result = await result_of(ingest, command.action_id)
    assert result["outcome"] == "platform_error" and result["attempts"] == 1
    assert "Missing Permissions" in result["detail"]


async def test_core_member_gets_the_configured_discord_role(
    ingest: Ingest, discord_api: DiscordFake
) -> None:
    community = await discord_community(ingest, core_member_role_id="1300000000000000001")
    sent = await ingest.client.post(
        "/v1/ingest/events",
        json={
            "type": "community.message.created",
            "community_id": community,
            "platform": "discord",
            "occurred_at": "2026-11-20T10:00:00Z",
            "source_event_id": "m1",
            "actor": {"platform_user_id": "1100000000000000009", "username": "ann"},
        },
        headers=ingest.auth(),
    )
    member = sent.json()["items"][0]
    listed = await ingest.client.get(
        "/v1/ingest/events", params={"community_id": community}, headers=ingest.auth()
    )
    member_id = listed.json()["items"][0]["actor"]["member_id"]
    assert member["status"] == "accepted"
    change = CoreMemberChange(
        tenant_id=ingest.tenant_id, community_id=community, member_id=member_id, core_member=True
    )
    await publish(
        ingest.bus,
        "gamification.core_members.v1",
        change.to_envelope(source="/hearth/gamification"),
    )
    result = await result_of(ingest, change.event_id)
    assert result["action"] == "grant_role" and result["outcome"] == "done"
    [call] = discord_api.calls
    assert call.method == "PUT"
    assert call.path == (
        f"/api/v10/guilds/{GUILD}/members/1100000000000000009/roles/1300000000000000001"
    )
