"""Moderation actions and team grants reach GitHub's REST API as githubkit sends them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.ingest.outbound import ActionOutcome, RoleGrant, execute
from services.ingest.outbound.github import GitHubClient
from shared.events.community import Platform
from shared.events.payloads import ActionKind
from tests.ingest.fakes.github import GitHubFake
from tests.ingest.fakes.server import Reply
from tests.ingest.outbound.helpers import GITHUB_TOKEN, Sleeps, moderation

BINDING = "hearth-org/forum"
REPO = "hearth-org/forum"


@pytest.fixture
async def client(github: GitHubFake) -> AsyncIterator[GitHubClient]:
    async with GitHubClient({"token": GITHUB_TOKEN}, github.api_url) as client:
        yield client


async def apply(client: GitHubClient, kind: ActionKind, sleeps: Sleeps, **fields: object):
    action = moderation(Platform.GITHUB, kind, **{"channel_id": REPO, **fields})
    return await execute(lambda: client.apply(action, external_id=BINDING), sleep=sleeps)


async def test_delete_deletes_the_issue_comment(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps
) -> None:
    result = await apply(client, ActionKind.DELETE, sleeps, message_id="comment:345")

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 1)
    [call] = github.calls
    assert (call.method, call.path) == ("DELETE", "/repos/hearth-org/forum/issues/comments/345")
    assert GITHUB_TOKEN in call.headers["authorization"]


@pytest.mark.parametrize(
    ("reason", "classifier"),
    [("spam link", "SPAM"), ("off-topic rant", "OFF_TOPIC"), (None, "ABUSE")],
)
async def test_hide_minimizes_the_comment_through_graphql_and_deletes_nothing(
    client: GitHubClient,
    github: GitHubFake,
    sleeps: Sleeps,
    reason: str | None,
    classifier: str,
) -> None:
    github.threads[345] = 12

    result = await apply(client, ActionKind.HIDE, sleeps, message_id="comment:345", reason=reason)

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 1)
    get, mutation = github.calls
    assert (get.method, get.path) == ("GET", "/repos/hearth-org/forum/issues/comments/345")
    assert (mutation.method, mutation.path) == ("POST", "/graphql")
    assert "minimizeComment" in mutation.json["query"]
    assert GITHUB_TOKEN in mutation.headers["authorization"]
    assert github.minimized == {GitHubFake.node_id("issues", 345): classifier}
    assert not [c for c in github.calls if c.method == "DELETE"]


async def test_hide_of_a_review_comment_minimizes_it(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps
) -> None:
    github.threads[678] = 31

    result = await apply(client, ActionKind.HIDE, sleeps, message_id="review_comment:678")

    assert result.outcome is ActionOutcome.DONE
    assert github.calls[0].path == "/repos/hearth-org/forum/pulls/comments/678"
    assert list(github.minimized) == [GitHubFake.node_id("pulls", 678)]


async def test_a_graphql_refusal_is_a_platform_error_without_retries(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps
) -> None:
    github.threads[345] = 12
    github.reply_next(Reply(200, {"id": 345, "node_id": "IC_gone"}))

    result = await apply(client, ActionKind.HIDE, sleeps, message_id="comment:345")

    assert (result.outcome, result.attempts) == (ActionOutcome.PLATFORM_ERROR, 1)
    assert result.detail == "github minimize comment: NOT_FOUND"
    assert github.minimized == {}


async def test_hiding_an_issue_is_unsupported(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps
) -> None:
    result = await apply(client, ActionKind.HIDE, sleeps, message_id="pr:12")

    assert result.outcome is ActionOutcome.UNSUPPORTED
    assert github.calls == []


async def test_delete_of_a_review_comment_uses_the_pulls_endpoint(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps
) -> None:
    await apply(client, ActionKind.DELETE, sleeps, message_id="review_comment:678")

    assert (github.calls[0].method, github.calls[0].path) == (
        "DELETE",
        "/repos/hearth-org/forum/pulls/comments/678",
    )


async def test_deleting_an_issue_is_unsupported(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps
) -> None:
    result = await apply(client, ActionKind.DELETE, sleeps, message_id="issue:12")

    assert result.outcome is ActionOutcome.UNSUPPORTED
    assert github.calls == []


async def test_a_bare_number_is_refused_as_ambiguous(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps
) -> None:
    result = await apply(client, ActionKind.DELETE, sleeps, message_id="345")

    assert result.outcome is ActionOutcome.PLATFORM_ERROR
    assert "issue:N" in result.detail
    assert github.calls == []


async def test_warn_on_an_issue_comments_on_it(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps
) -> None:
    result = await apply(client, ActionKind.WARN, sleeps, message_id="issue:12", reason="Be kind")

    assert result.outcome is ActionOutcome.DONE
    [call] = github.calls
    assert (call.method, call.path) == ("POST", "/repos/hearth-org/forum/issues/12/comments")
    assert call.json == {"body": "Be kind"}


async def test_warn_on_a_comment_comments_on_its_thread_and_links_the_comment(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps
) -> None:
    github.threads[345] = 12

    result = await apply(
        client, ActionKind.WARN, sleeps, message_id="comment:345", reason="Be kind"
    )

    assert result.outcome is ActionOutcome.DONE
    get, post = github.calls
    assert (get.method, get.path) == ("GET", "/repos/hearth-org/forum/issues/comments/345")
    assert (post.method, post.path) == ("POST", "/repos/hearth-org/forum/issues/12/comments")
    assert post.json["body"].startswith("Be kind\n\n(about https://github.com/hearth-org/forum/")


async def test_warn_on_a_review_comment_comments_on_its_pull_request(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps
) -> None:
    github.threads[678] = 31

    await apply(client, ActionKind.WARN, sleeps, message_id="review_comment:678")

    get, post = github.calls
    assert (get.method, get.path) == ("GET", "/repos/hearth-org/forum/pulls/comments/678")
    assert (post.method, post.path) == ("POST", "/repos/hearth-org/forum/issues/31/comments")


async def test_ban_blocks_the_login_in_the_org(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps
) -> None:
    result = await apply(client, ActionKind.BAN, sleeps, platform_user_id="spammer-42")

    assert result.outcome is ActionOutcome.DONE
    [call] = github.calls
    assert (call.method, call.path) == ("PUT", "/orgs/hearth-org/blocks/spammer-42")


async def test_ban_by_account_id_looks_the_login_up_first(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps
) -> None:
    github.logins[583231] = "octocat"

    result = await apply(client, ActionKind.BAN, sleeps, platform_user_id="583231")

    assert result.outcome is ActionOutcome.DONE
    assert [(c.method, c.path) for c in github.calls] == [
        ("GET", "/user/583231"),
        ("PUT", "/orgs/hearth-org/blocks/octocat"),
    ]


async def test_unban_unblocks(client: GitHubClient, github: GitHubFake, sleeps: Sleeps) -> None:
    await apply(client, ActionKind.UNBAN, sleeps, platform_user_id="spammer-42")

    assert (github.calls[0].method, github.calls[0].path) == (
        "DELETE",
        "/orgs/hearth-org/blocks/spammer-42",
    )


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        (ActionKind.MUTE, {"platform_user_id": "spammer-42", "duration_seconds": 60}),
        (ActionKind.UNMUTE, {"platform_user_id": "spammer-42"}),
        (ActionKind.BAN, {"platform_user_id": "spammer-42", "duration_seconds": 60}),
    ],
)
async def test_mute_and_timed_ban_are_unsupported(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps, kind: ActionKind, fields: dict
) -> None:
    result = await apply(client, kind, sleeps, **fields)

    assert (result.outcome, result.attempts) == (ActionOutcome.UNSUPPORTED, 1)
    assert github.calls == []


async def test_a_repository_outside_the_binding_org_is_refused(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps
) -> None:
    result = await apply(
        client, ActionKind.DELETE, sleeps, channel_id="someone-else/repo", message_id="comment:1"
    )

    assert result.outcome is ActionOutcome.PLATFORM_ERROR
    assert "outside the binding's org" in result.detail
    assert github.calls == []


@pytest.mark.parametrize(("give", "method"), [(True, "PUT"), (False, "DELETE")])
async def test_a_role_grant_adds_or_removes_the_team_membership(
    client: GitHubClient, github: GitHubFake, sleeps: Sleeps, give: bool, method: str
) -> None:
    grant = RoleGrant(Platform.GITHUB, "hearth-org", "octocat", "ambassadors", give)

    result = await execute(lambda: client.grant_role(grant, external_id=BINDING), sleep=sleeps)

    assert result.outcome is ActionOutcome.DONE
    [call] = github.calls
    assert (call.method, call.path) == (
        method,
        "/orgs/hearth-org/teams/ambassadors/memberships/octocat",
    )
    if give:
        assert call.json == {"role": "member"}
