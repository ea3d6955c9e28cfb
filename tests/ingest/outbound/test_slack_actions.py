"""Moderation deletes on Slack through the whole ingest service: the binding's user_token
is accepted and used, and without one the published result says what is missing."""

from __future__ import annotations

import pytest

from shared.bus.port import publish
from shared.events.payloads import ActionKind, ModerationAction
from tests.ingest.conftest import Ingest
from tests.ingest.fakes.slack import SlackFake

TEAM = "T0123ABCD"
BOT_TOKEN = "xoxb-0000000000-slack-SECRET-token"
USER_TOKEN = "xoxp-0000-admin-SECRET-token"
RESULTS = "ingest.action_results.v1"


@pytest.fixture
def ingest_env(slack_server: SlackFake) -> dict[str, str]:
    return {"HEARTH_INGEST_SLACK_API_URL": slack_server.api_url}


async def slack_community(ingest: Ingest, **secrets: str) -> str:
    community = await ingest.community()
    await ingest.bind(
        community, "slack", TEAM, {"signing_secret": "s3cret", "bot_token": BOT_TOKEN, **secrets}
    )
    return community


async def delete(ingest: Ingest, community: str) -> dict:
    command = ModerationAction(
        tenant_id=ingest.tenant_id,
        community_id=community,
        platform="slack",
        action=ActionKind.DELETE,
        channel_id="C0456EFGH",
        message_id="1700000000.000100",
        platform_user_id="U0789IJKL",
    )
    await publish(ingest.bus, "moderation.actions.v1", command.to_envelope(source="/test"))
    [result] = await ingest.published(
        RESULTS,
        match=lambda e: (
            e.data["action_id"] == command.action_id and e.data["outcome"] != "no_binding"
        ),
    )
    return dict(result.data)


async def test_a_binding_with_a_user_token_deletes_members_messages_with_it(
    ingest: Ingest, slack: SlackFake
) -> None:
    community = await slack_community(ingest, user_token=USER_TOKEN)

    result = await delete(ingest, community)

    assert result["outcome"] == "done"
    [call] = [c for c in slack.calls if slack.method(c) == "chat.delete"]
    assert call.headers["authorization"] == f"Bearer {USER_TOKEN}"


async def test_without_a_user_token_the_result_names_it_and_is_not_retried(
    ingest: Ingest, slack: SlackFake
) -> None:
    community = await slack_community(ingest)
    slack.refuse_next("cant_delete_message")

    result = await delete(ingest, community)

    assert (result["outcome"], result["attempts"]) == ("platform_error", 1)
    assert "user_token" in result["detail"]
    assert BOT_TOKEN not in result["detail"]


async def test_a_user_token_that_is_not_one_is_refused_with_its_name(ingest: Ingest) -> None:
    community = await ingest.community()
    answer = await ingest.client.post(
        f"/v1/ingest/communities/{community}/bindings",
        json={
            "platform": "slack",
            "external_id": TEAM,
            "secrets": {"signing_secret": "s", "user_token": BOT_TOKEN},
        },
        headers=ingest.auth(),
    )

    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "secrets.user_token" in answer.text
    assert BOT_TOKEN not in answer.text
