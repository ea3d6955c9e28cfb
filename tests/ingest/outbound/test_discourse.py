"""Moderation actions and group grants reach a Discourse forum's REST API with its headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.outbound import ActionOutcome, RoleGrant, execute
from services.ingest.outbound.discourse import SPAM, DiscourseClient
from shared.events.community import Platform
from shared.events.payloads import ActionKind
from tests.ingest.fakes.discourse import DiscourseFake
from tests.ingest.outbound.helpers import DISCOURSE_KEY, Sleeps, moderation

POST = 41
MEMBER = 17
GROUP = 12


@pytest.fixture
def forum(discourse: DiscourseFake) -> DiscourseFake:
    discourse.posts.add(POST)
    discourse.usernames[MEMBER] = "spammer"
    discourse.groups[GROUP] = ["ann"]
    return discourse


@pytest.fixture
async def client(forum: DiscourseFake) -> AsyncIterator[DiscourseClient]:
    async with DiscourseClient({"api_key": DISCOURSE_KEY, "api_username": "mod-bot"}) as client:
        yield client


async def apply(client: DiscourseClient, forum: DiscourseFake, kind: ActionKind, **fields: object):
    action = moderation(Platform.DISCOURSE, kind, **fields)
    return await execute(lambda: client.apply(action, external_id=forum.url), sleep=Sleeps())


async def test_delete_removes_the_post_with_the_api_key_headers(
    client: DiscourseClient, forum: DiscourseFake
) -> None:
    result = await apply(client, forum, ActionKind.DELETE, message_id=str(POST))

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 1)
    [call] = forum.calls
    assert (call.method, call.path) == ("DELETE", f"/posts/{POST}.json")
    assert (call.headers["api-key"], call.headers["api-username"]) == (DISCOURSE_KEY, "mod-bot")
    assert POST not in forum.posts


async def test_a_post_already_gone_counts_as_deleted(
    client: DiscourseClient, forum: DiscourseFake
) -> None:
    forum.posts.clear()

    result = await apply(client, forum, ActionKind.DELETE, message_id=str(POST))

    assert result.outcome is ActionOutcome.DONE


async def test_hide_flags_the_post_as_staff_taking_action(
    client: DiscourseClient, forum: DiscourseFake
) -> None:
    result = await apply(client, forum, ActionKind.HIDE, message_id=str(POST), reason="spam link")

    assert result.outcome is ActionOutcome.DONE
    assert forum.hidden == {POST: SPAM}
    assert forum.calls[0].json["take_action"] is True
    assert POST in forum.posts


async def test_warn_sends_the_author_a_private_message(
    client: DiscourseClient, forum: DiscourseFake
) -> None:
    result = await apply(
        client, forum, ActionKind.WARN, platform_user_id=str(MEMBER), reason="Be kind"
    )

    assert result.outcome is ActionOutcome.DONE
    [message] = forum.messages
    assert message["target_recipients"] == "spammer"
    assert (message["archetype"], message["raw"]) == ("private_message", "Be kind")


async def test_mute_silences_the_member_for_the_duration(
    client: DiscourseClient, forum: DiscourseFake
) -> None:
    before = datetime.now(UTC)

    result = await apply(
        client, forum, ActionKind.MUTE, platform_user_id=str(MEMBER), duration_seconds=3600
    )

    assert result.outcome is ActionOutcome.DONE
    until = datetime.fromisoformat(str(forum.silenced[MEMBER]))
    assert before + timedelta(minutes=59) <= until <= datetime.now(UTC) + timedelta(hours=1)


async def test_ban_suspends_for_the_duration_or_for_good(
    client: DiscourseClient, forum: DiscourseFake
) -> None:
    await apply(client, forum, ActionKind.BAN, platform_user_id=str(MEMBER), duration_seconds=60)
    timed = datetime.fromisoformat(forum.suspended[MEMBER])
    await apply(client, forum, ActionKind.BAN, platform_user_id=str(MEMBER))
    forever = datetime.fromisoformat(forum.suspended[MEMBER])

    assert timed < datetime.now(UTC) + timedelta(minutes=2)
    assert forever > datetime.now(UTC) + timedelta(days=365 * 100)


async def test_unmute_lifts_the_silence_only(client: DiscourseClient, forum: DiscourseFake) -> None:
    forum.suspended[MEMBER] = "3000-01-01T00:00:00+00:00"
    forum.silenced[MEMBER] = None

    result = await apply(client, forum, ActionKind.UNMUTE, platform_user_id=str(MEMBER))

    assert result.outcome is ActionOutcome.DONE
    assert forum.silenced == {}
    assert MEMBER in forum.suspended


async def test_unban_lifts_the_suspension_and_the_silence(
    client: DiscourseClient, forum: DiscourseFake
) -> None:
    forum.suspended[MEMBER] = "3000-01-01T00:00:00+00:00"
    forum.silenced[MEMBER] = None

    result = await apply(client, forum, ActionKind.UNBAN, platform_user_id=str(MEMBER))

    assert result.outcome is ActionOutcome.DONE
    assert (forum.suspended, forum.silenced) == ({}, {})


@pytest.mark.parametrize("give", [True, False])
async def test_a_role_grant_adds_or_removes_the_group_member(
    client: DiscourseClient, forum: DiscourseFake, give: bool
) -> None:
    if not give:
        forum.groups[GROUP].append("spammer")
    grant = RoleGrant(Platform.DISCOURSE, forum.url, str(MEMBER), str(GROUP), give)

    result = await execute(lambda: client.grant_role(grant, external_id=forum.url), sleep=Sleeps())

    assert result.outcome is ActionOutcome.DONE
    assert forum.groups[GROUP] == (["ann", "spammer"] if give else ["ann"])
    assert [c.method for c in forum.calls] == ["GET", "PUT" if give else "DELETE"]


async def test_a_grant_already_in_place_counts_as_done(
    client: DiscourseClient, forum: DiscourseFake
) -> None:
    forum.groups[GROUP].append("spammer")
    grant = RoleGrant(Platform.DISCOURSE, forum.url, str(MEMBER), str(GROUP), True)

    result = await execute(lambda: client.grant_role(grant, external_id=forum.url), sleep=Sleeps())

    assert result.outcome is ActionOutcome.DONE
    assert forum.groups[GROUP] == ["ann", "spammer"]


async def test_a_wrong_key_is_a_platform_error_that_never_quotes_the_key(forum: DiscourseFake):
    async with DiscourseClient({"api_key": "wrong-key"}) as client:
        result = await apply(client, forum, ActionKind.DELETE, message_id=str(POST))

    assert (result.outcome, result.attempts, result.platform_status) == (
        ActionOutcome.PLATFORM_ERROR,
        1,
        403,
    )
    assert "wrong-key" not in result.detail
    assert POST in forum.posts


async def test_an_unknown_member_is_refused_without_a_second_call(
    client: DiscourseClient, forum: DiscourseFake
) -> None:
    result = await apply(client, forum, ActionKind.WARN, platform_user_id="999")

    assert result.outcome is ActionOutcome.PLATFORM_ERROR
    assert len(forum.calls) == 1


async def test_an_action_without_its_id_is_refused_before_any_call(
    client: DiscourseClient, forum: DiscourseFake
) -> None:
    result = await apply(client, forum, ActionKind.DELETE, message_id="../admin")

    assert result.outcome is ActionOutcome.PLATFORM_ERROR
    assert forum.calls == []
