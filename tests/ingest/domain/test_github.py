"""GitHub webhook deliveries become the canonical events of an open-source community."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.ingest.domain.github import normalize_github
from services.ingest.domain.model import MalformedPayload, Normalized
from shared.events.community import CommunityEvent, CommunityEventType, Platform
from tests.ingest.domain.support import (
    RECEIVED,
    binding,
    ignored,
    payloads,
    the_event,
    utc,
    without,
)

CTX = binding(Platform.GITHUB, "Codertocat/Hello-World")
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
fixture, ours = payloads(Platform.GITHUB)


def normalize(event_name: str, payload: dict[str, Any]) -> Normalized:
    return normalize_github(event_name, DELIVERY, payload, CTX, received_at=RECEIVED)


def only_event(event_name: str, payload: dict[str, Any]) -> CommunityEvent:
    return the_event(normalize(event_name, payload))


def assert_codertocat_in_hello_world(event: CommunityEvent) -> None:
    assert event.platform is Platform.GITHUB
    assert (event.tenant_id, event.community_id) == ("tenant-1", "community-1")
    assert event.actor.platform_user_id == "21031067"
    assert event.actor.username == "Codertocat"
    assert event.actor.is_bot is False
    assert event.workspace_id == "Codertocat"
    assert event.channel_id == "Codertocat/Hello-World"
    assert event.dedup_key == f"github:{DELIVERY}"
    assert event.source_event_id == DELIVERY
    assert event.ingested_at == RECEIVED


# platform fixtures ----------------------------------------------------------


def test_an_opened_issue():
    event = only_event("issues", fixture("issues.opened.json"))

    assert event.type is CommunityEventType.ISSUE_OPENED
    assert_codertocat_in_hello_world(event)
    assert event.thread_id == "1"
    assert event.parent_id is None
    assert event.content is not None
    assert event.content.title == "Spelling error in the README file"
    assert event.content.text == "It looks like you accidently spelled 'commit' with two 't's."
    assert str(event.content.url) == "https://github.com/Codertocat/Hello-World/issues/1"
    assert event.occurred_at == utc("2019-05-15T15:20:18Z")
    assert event.attributes["number"] == 1


def test_a_comment_on_an_issue_answers_the_issue_and_its_author():
    event = only_event("issue_comment", fixture("issue_comment.created.json"))

    assert event.type is CommunityEventType.ISSUE_COMMENTED
    assert_codertocat_in_hello_world(event)
    assert event.thread_id == event.parent_id == "1"
    assert event.object_actor is not None
    assert event.object_actor.username == "Codertocat"
    assert event.content is not None
    assert event.content.text == "You are totally right! I'll get this fixed right away."
    assert str(event.content.url).endswith("/issues/1#issuecomment-492700400")
    assert event.occurred_at == utc("2019-05-15T15:20:21Z")
    assert event.attributes["kind"] == "issue_comment"
    assert event.attributes["message_id"] == 492700400
    assert event.attributes["is_pull_request"] is False


def test_a_new_discussion_is_a_new_thread():
    event = only_event("discussion", fixture("discussion.created.json"))

    assert event.type is CommunityEventType.THREAD_CREATED
    assert_codertocat_in_hello_world(event)
    assert event.thread_id == "4"
    assert event.content is not None
    assert event.content.title == "TEST edit"
    assert event.content.text == "TEST edit"
    assert event.occurred_at == utc("2021-03-30T20:09:52Z")
    assert event.attributes["discussion_id"] == 3299614
    assert event.attributes["category"] == "General"


def test_a_discussion_comment_is_a_message_in_the_discussions_thread():
    event = only_event("discussion_comment", fixture("discussion_comment.created.json"))

    assert event.type is CommunityEventType.MESSAGE_CREATED
    assert_codertocat_in_hello_world(event)
    assert event.thread_id == event.parent_id == "4"
    assert event.content is not None
    assert event.content.text == "ANSWER"
    assert event.occurred_at == utc("2021-03-30T20:21:30Z")
    assert event.attributes["message_id"] == 550062


def test_a_reply_to_a_discussion_comment_points_at_that_comment():
    payload = fixture("discussion_comment.created.json")
    payload["comment"]["parent_id"] = 550001

    event = only_event("discussion_comment", payload)

    assert (event.thread_id, event.parent_id) == ("4", "550001")
    assert event.object_actor is None


def test_an_opened_pull_request():
    event = only_event("pull_request", fixture("pull_request.opened.json"))

    assert event.type is CommunityEventType.PULL_REQUEST_OPENED
    assert_codertocat_in_hello_world(event)
    assert event.thread_id == "2"
    assert event.content is not None
    assert event.content.title == "Update the README with new information."
    assert str(event.content.url) == "https://github.com/Codertocat/Hello-World/pull/2"
    assert event.occurred_at == utc("2019-05-15T15:20:33Z")
    assert event.attributes["draft"] is False


def test_a_review_comment_is_an_issue_comment_of_kind_review_comment():
    event = only_event(
        "pull_request_review_comment", fixture("pull_request_review_comment.created.json")
    )

    assert event.type is CommunityEventType.ISSUE_COMMENTED
    assert_codertocat_in_hello_world(event)
    assert event.thread_id == event.parent_id == "2"
    assert event.content is not None
    assert event.content.text == "Maybe you should use more emoji on this line."
    assert event.occurred_at == utc("2019-05-15T15:20:37Z")
    assert event.attributes["kind"] == "review_comment"
    assert event.attributes["path"] == "README.md"
    assert event.attributes["message_id"] == 284312630


def test_a_star_is_a_member_joining():
    event = only_event("star", fixture("star.created.json"))

    assert event.type is CommunityEventType.MEMBER_JOINED
    assert_codertocat_in_hello_world(event)
    assert event.attributes["kind"] == "star"
    assert event.occurred_at == utc("2019-05-15T15:20:40Z")


def test_a_fork_is_a_member_joining():
    event = only_event("fork", fixture("fork.json"))

    assert event.type is CommunityEventType.MEMBER_JOINED
    assert event.actor.username == "Octocoders"
    assert event.actor.platform_user_id == "38302899"
    assert event.channel_id == "Codertocat/Hello-World"
    assert event.attributes == {"kind": "fork", "fork_full_name": "Octocoders/Hello-World"}
    assert event.occurred_at == utc("2019-05-15T15:20:42Z")


def test_ping_is_ignored():
    result = normalize("ping", fixture("ping.json"))

    assert result == Normalized(ignored="ping")


# our own payloads -------------------------------------------------------------


def test_an_accepted_answer_credits_the_answers_author():
    event = only_event("discussion", ours("discussion.answered.json"))

    assert event.type is CommunityEventType.ANSWER_ACCEPTED
    assert event.actor.username == "ada-l"
    assert event.object_actor is not None
    assert event.object_actor.username == "grace-h"
    assert event.object_actor.platform_user_id == "1002"
    assert event.workspace_id == "hearth-example"
    assert event.channel_id == "hearth-example/hearth"
    assert (event.thread_id, event.parent_id) == ("17", "880001")
    assert event.occurred_at == datetime(2025, 3, 12, 14, 15, tzinfo=UTC)
    assert event.attributes["category"] == "Q&A"


def test_a_bots_comment_on_a_pull_request_keeps_that_it_is_one():
    event = only_event("issue_comment", ours("issue_comment.on_pull_request.bot.json"))

    assert event.type is CommunityEventType.ISSUE_COMMENTED
    assert event.actor.username == "dependabot[bot]"
    assert event.actor.is_bot is True
    assert event.workspace_id == "hearth-example"
    assert event.thread_id == "31"
    assert event.attributes["is_pull_request"] is True
    assert (
        event.attributes["pull_request_url"] == "https://github.com/hearth-example/hearth/pull/31"
    )
    assert event.content is not None
    assert event.content.links == ["https://github.com/pydantic/pydantic/releases"]


# ignored and malformed ------------------------------------------------------


@pytest.mark.parametrize(
    ("event_name", "name", "action"),
    [
        ("issues", "issues.opened.json", "closed"),
        ("issue_comment", "issue_comment.created.json", "deleted"),
        ("pull_request", "pull_request.opened.json", "synchronize"),
        ("discussion", "discussion.created.json", "edited"),
        ("star", "star.created.json", "deleted"),
    ],
)
def test_unmapped_actions_are_ignored_with_the_action_named(event_name, name, action):
    payload = fixture(name)
    payload["action"] = action

    assert ignored(normalize(event_name, payload)) == f"GitHub {event_name}.{action} is not mapped"


def test_an_unknown_event_is_ignored_not_an_error():
    assert "workflow_run" in ignored(normalize("workflow_run", {"action": "completed"}))


def test_organization_login_is_the_workspace_when_present():
    payload = fixture("issues.opened.json")
    payload["organization"] = {"login": "octo-org", "id": 1}

    assert only_event("issues", payload).workspace_id == "octo-org"


@pytest.mark.parametrize(
    ("event_name", "name", "path", "named"),
    [
        ("issues", "issues.opened.json", ("issue",), "issue"),
        ("issues", "issues.opened.json", ("issue", "number"), "issue.number"),
        ("issues", "issues.opened.json", ("sender",), "sender"),
        ("issues", "issues.opened.json", ("sender", "id"), "sender.id"),
        ("issues", "issues.opened.json", ("repository",), "repository"),
        ("issues", "issues.opened.json", ("repository", "full_name"), "repository.full_name"),
        ("issue_comment", "issue_comment.created.json", ("comment",), "comment"),
        ("issue_comment", "issue_comment.created.json", ("comment", "id"), "comment.id"),
        ("discussion_comment", "discussion_comment.created.json", ("discussion",), "discussion"),
        ("pull_request", "pull_request.opened.json", ("pull_request",), "pull_request"),
        ("fork", "fork.json", ("forkee",), "forkee"),
    ],
)
def test_a_missing_required_field_is_malformed_and_named(event_name, name, path, named):
    with pytest.raises(MalformedPayload, match=named.replace(".", r"\.")):
        normalize(event_name, without(fixture(name), *path))


def test_an_answered_discussion_without_its_answer_is_malformed():
    with pytest.raises(MalformedPayload, match="answer"):
        normalize("discussion", without(ours("discussion.answered.json"), "answer"))


def test_a_malformed_timestamp_is_named():
    payload = fixture("issues.opened.json")
    payload["issue"]["created_at"] = "last tuesday"

    with pytest.raises(MalformedPayload, match=r"issue\.created_at"):
        normalize("issues", payload)


def test_a_delivery_without_its_id_is_malformed():
    with pytest.raises(MalformedPayload, match="X-GitHub-Delivery"):
        normalize_github("issues", "", fixture("issues.opened.json"), CTX, received_at=RECEIVED)
