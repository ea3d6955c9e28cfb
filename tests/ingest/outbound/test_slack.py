"""Moderation actions and user-group grants reach the Slack Web API as slack_sdk sends them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.ingest.outbound import ActionOutcome, RoleGrant, execute
from services.ingest.outbound.slack import CANNOT_DELETE_DETAIL, WARNING_TEXT, SlackClient
from shared.events.community import Platform
from shared.events.payloads import ActionKind
from tests.ingest.fakes.slack import SlackFake
from tests.ingest.outbound.helpers import SLACK_TOKEN, Sleeps, moderation

TEAM = "T0123ABCD"
CHANNEL = "C0456EFGH"
TS = "1700000000.000100"
MEMBER = "U0789IJKL"
GROUP = "S0604QSJC"
ADMIN_TOKEN = "xoxp-0000-admin-SECRET-token"


@pytest.fixture
async def client(slack: SlackFake) -> AsyncIterator[SlackClient]:
    async with SlackClient({"bot_token": SLACK_TOKEN}, slack.api_url) as client:
        yield client


async def apply(client: SlackClient, kind: ActionKind, sleeps: Sleeps, **fields: object):
    action = moderation(Platform.SLACK, kind, channel_id=CHANNEL, **fields)
    return await execute(lambda: client.apply(action, external_id=TEAM), sleep=sleeps)


@pytest.mark.parametrize("kind", [ActionKind.DELETE, ActionKind.HIDE])
async def test_delete_and_hide_delete_the_message(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps, kind: ActionKind
) -> None:
    result = await apply(client, kind, sleeps, message_id=TS)

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 1)
    [call] = slack.calls
    assert slack.method(call) == "chat.delete"
    assert call.headers["authorization"] == f"Bearer {SLACK_TOKEN}"
    assert call.params == {"channel": CHANNEL, "ts": TS}


async def test_delete_uses_the_admin_user_token_when_the_binding_has_one(
    slack: SlackFake, sleeps: Sleeps
) -> None:
    secrets = {"bot_token": SLACK_TOKEN, "user_token": ADMIN_TOKEN}
    async with SlackClient(secrets, slack.api_url) as client:
        await apply(client, ActionKind.DELETE, sleeps, message_id=TS)

    assert slack.calls[0].headers["authorization"] == f"Bearer {ADMIN_TOKEN}"


async def test_a_message_already_gone_counts_as_deleted(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps
) -> None:
    slack.refuse_next("message_not_found")

    result = await apply(client, ActionKind.DELETE, sleeps, message_id=TS)

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 1)


async def test_a_refusal_is_a_platform_error_with_slacks_error_code(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps
) -> None:
    slack.refuse_next("channel_not_found")

    result = await apply(client, ActionKind.DELETE, sleeps, message_id=TS)

    assert (result.outcome, result.attempts) == (ActionOutcome.PLATFORM_ERROR, 1)
    assert result.detail == "slack chat.delete: channel_not_found"
    assert result.platform_status == 200


async def test_without_a_user_token_a_members_message_fails_once_naming_the_missing_secret(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps
) -> None:
    slack.refuse_next("cant_delete_message")

    result = await apply(client, ActionKind.DELETE, sleeps, message_id=TS)

    assert (result.outcome, result.attempts) == (ActionOutcome.PLATFORM_ERROR, 1)
    assert result.detail == CANNOT_DELETE_DETAIL
    assert "user_token" in result.detail
    assert sleeps.waits == []


async def test_with_a_user_token_slacks_refusal_is_reported_as_is(
    slack: SlackFake, sleeps: Sleeps
) -> None:
    slack.refuse_next("cant_delete_message")
    secrets = {"bot_token": SLACK_TOKEN, "user_token": ADMIN_TOKEN}
    async with SlackClient(secrets, slack.api_url) as client:
        result = await apply(client, ActionKind.DELETE, sleeps, message_id=TS)

    assert result.detail == "slack chat.delete: cant_delete_message"


async def test_warn_posts_an_ephemeral_message_to_the_author_in_the_thread(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps
) -> None:
    result = await apply(
        client, ActionKind.WARN, sleeps, message_id=TS, platform_user_id=MEMBER, reason="Be kind"
    )

    assert result.outcome is ActionOutcome.DONE
    [call] = slack.calls
    assert slack.method(call) == "chat.postEphemeral"
    params = call.params
    assert (params["channel"], params["user"], params["thread_ts"]) == (CHANNEL, MEMBER, TS)
    assert params["text"] == "Be kind"


async def test_warn_without_a_reason_sends_the_standard_warning(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps
) -> None:
    await apply(client, ActionKind.WARN, sleeps, message_id=TS, platform_user_id=MEMBER)

    assert slack.calls[0].params["text"] == WARNING_TEXT


@pytest.mark.parametrize("kind", [ActionKind.MUTE, ActionKind.UNMUTE])
async def test_mute_and_unmute_are_unsupported(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps, kind: ActionKind
) -> None:
    result = await apply(client, kind, sleeps, platform_user_id=MEMBER, duration_seconds=60)

    assert (result.outcome, result.attempts) == (ActionOutcome.UNSUPPORTED, 1)
    assert "no mute" in result.detail
    assert slack.calls == []


async def test_ban_removes_the_member_from_the_channel(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps
) -> None:
    result = await apply(client, ActionKind.BAN, sleeps, platform_user_id=MEMBER)

    assert result.outcome is ActionOutcome.DONE
    [call] = slack.calls
    assert slack.method(call) == "conversations.kick"
    assert call.params == {"channel": CHANNEL, "user": MEMBER}


async def test_a_timed_ban_is_unsupported_rather_than_made_permanent(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps
) -> None:
    result = await apply(
        client, ActionKind.BAN, sleeps, platform_user_id=MEMBER, duration_seconds=60
    )

    assert result.outcome is ActionOutcome.UNSUPPORTED
    assert slack.calls == []


async def test_unban_invites_the_member_back(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps
) -> None:
    slack.refuse_next("already_in_channel")

    result = await apply(client, ActionKind.UNBAN, sleeps, platform_user_id=MEMBER)

    assert result.outcome is ActionOutcome.DONE
    [call] = slack.calls
    assert slack.method(call) == "conversations.invite"
    assert call.params == {"channel": CHANNEL, "users": MEMBER}


def grant(*, give: bool) -> RoleGrant:
    return RoleGrant(Platform.SLACK, TEAM, MEMBER, GROUP, give)


async def test_a_grant_adds_the_member_to_the_user_group_keeping_the_others(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps
) -> None:
    slack.usergroups[GROUP] = ["U0AAA1111"]

    result = await execute(
        lambda: client.grant_role(grant(give=True), external_id=TEAM), sleep=sleeps
    )

    assert result.outcome is ActionOutcome.DONE
    assert [slack.method(c) for c in slack.calls] == [
        "usergroups.users.list",
        "usergroups.users.update",
    ]
    assert slack.calls[1].params["users"] == f"U0AAA1111,{MEMBER}"
    assert slack.usergroups[GROUP] == ["U0AAA1111", MEMBER]


async def test_a_revoke_removes_only_that_member(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps
) -> None:
    slack.usergroups[GROUP] = ["U0AAA1111", MEMBER]

    await execute(lambda: client.grant_role(grant(give=False), external_id=TEAM), sleep=sleeps)

    assert slack.usergroups[GROUP] == ["U0AAA1111"]


async def test_a_grant_already_in_place_writes_nothing(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps
) -> None:
    slack.usergroups[GROUP] = [MEMBER]

    result = await execute(
        lambda: client.grant_role(grant(give=True), external_id=TEAM), sleep=sleeps
    )

    assert result.outcome is ActionOutcome.DONE
    assert [slack.method(c) for c in slack.calls] == ["usergroups.users.list"]


async def test_revoking_the_last_member_is_unsupported(
    client: SlackClient, slack: SlackFake, sleeps: Sleeps
) -> None:
    slack.usergroups[GROUP] = [MEMBER]

    result = await execute(
        lambda: client.grant_role(grant(give=False), external_id=TEAM), sleep=sleeps
    )

    assert result.outcome is ActionOutcome.UNSUPPORTED
    assert slack.usergroups[GROUP] == [MEMBER]
