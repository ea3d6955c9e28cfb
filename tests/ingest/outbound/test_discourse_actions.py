"""Moderation actions on a Discourse forum through the whole ingest service: the binding's
forum URL and api_key reach the forum, and the outcome is published."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.bus.port import publish
from shared.events.payloads import ActionKind, ModerationAction
from tests.ingest.conftest import Ingest
from tests.ingest.fakes.discourse import DiscourseFake
from tests.ingest.fakes.server import serve

RESULTS = "ingest.action_results.v1"


@pytest.fixture
async def forum() -> AsyncIterator[DiscourseFake]:
    async with serve(DiscourseFake()) as fake:
        fake.usernames[17] = "spammer"
        yield fake


async def test_a_ban_suspends_the_member_on_the_bindings_forum(
    ingest: Ingest, forum: DiscourseFake
) -> None:
    community = await ingest.community()
    secrets = {"webhook_secret": "hook", "api_key": forum.api_key}
    await ingest.bind(community, "discourse", forum.url, secrets)
    command = ModerationAction(
        tenant_id=ingest.tenant_id,
        community_id=community,
        platform="discourse",
        action=ActionKind.BAN,
        platform_user_id="17",
        duration_seconds=86_400,
        reason="spam",
    )

    await publish(ingest.bus, "moderation.actions.v1", command.to_envelope(source="/test"))
    [result] = await ingest.published(
        RESULTS,
        match=lambda e: (
            e.data["action_id"] == command.action_id and e.data["outcome"] != "no_binding"
        ),
    )

    assert (result.data["outcome"], result.data["attempts"]) == ("done", 1)
    assert list(forum.suspended) == [17]
    [call] = forum.calls
    assert call.headers["api-username"] == "system"
