"""A draft ruleset tried on the community's recent messages says what it would decide,
and stores, publishes and activates nothing; the window of recent messages is bounded;
the queue gauges show what waits for a moderator."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from ulid import ULID

from services.moderation.context import ModerationContext, refresh_queue_gauges
from services.moderation.tables import recent_messages
from tests.moderation.conftest import Moderation
from tests.moderation.test_handlers import message, stored
from tests.moderation.test_review import ours, put_rules

pytestmark = pytest.mark.integration

DRAFT = """\
rules:
  - {id: no-pineapple, kind: keywords, words: [pineapple], action: hide, reason: pizza war}
classifier: {enabled: false}
"""


async def dry_run(moderation: Moderation, community: str, rules: str) -> Any:
    return await moderation.client.post(
        f"/v1/moderation/communities/{community}/rules:dry-run",
        content=rules,
        headers={**moderation.auth(), "Content-Type": "application/yaml"},
    )


async def test_a_dry_run_judges_recent_messages_without_storing_anything(
    moderation: Moderation,
) -> None:
    community = f"c{ULID()}".lower()
    await put_rules(moderation, community, "rules: []\nclassifier: {enabled: false}\n")
    texts = ["pineapple on pizza is great", "hello", "PINEAPPLE forever", "bye"]
    events = [message(community, moderation.tenant_id, text) for text in texts]
    for event in events:
        await moderation.send(event)
        assert (await stored(moderation, event.event_id))["verdict"] == "allow"

    response = await dry_run(moderation, community, DRAFT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["messages"], body["verdicts"], body["current_verdicts"], body["changed"]) == (
        4,
        {"allow": 2, "hide": 2},
        {"allow": 4},
        2,
    )
    assert [(i["text"], i["current_verdict"], i["verdict"]) for i in body["items"]] == [
        ("PINEAPPLE forever", "allow", "hide"),  # newest first
        ("pineapple on pizza is great", "allow", "hide"),
    ]
    assert body["items"][0]["reasons"][0]["rule"] == "no-pineapple"

    # nothing was activated, stored or published
    rules = await moderation.client.get(
        f"/v1/moderation/communities/{community}/rules", headers=moderation.auth()
    )
    assert rules.json()["version"] == 1
    for event in events:
        assert (await stored(moderation, event.event_id))["verdict"] == "allow"
    actions = await moderation.published("moderation.actions.v1", ours(community), expected=0)
    assert actions == []

    invalid = await dry_run(moderation, community, "rules:\n  - {id: x, kind: nope}\n")
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["line"] == 2
    elsewhere = await moderation.key("moderation:read", communities=["other"])
    refused = await moderation.client.post(
        f"/v1/moderation/communities/{community}/rules:dry-run",
        content=DRAFT,
        headers=moderation.auth(elsewhere),
    )
    assert refused.status_code == 403


@pytest.mark.parametrize("moderation", ["memory"], indirect=True)  # the bound, the gauges
async def test_the_recent_window_is_bounded_and_the_queue_gauges_count_waiting_items(
    moderation: Moderation,
) -> None:
    context = moderation.host.services[0].context
    assert isinstance(context, ModerationContext)
    context.settings.recent_messages = 3
    community = f"c{ULID()}".lower()
    await put_rules(
        moderation,
        community,
        "rules:\n  - {id: mild, kind: keywords, words: [heck], action: flag, reason: mild}\n"
        "classifier: {enabled: false}\n",
    )
    for n in range(5):
        event = message(community, moderation.tenant_id, f"heck {n}")
        await moderation.send(event)
        await stored(moderation, event.event_id)
    async with moderation.db.sessions() as session:
        kept = await session.scalar(
            select(func.count())
            .select_from(recent_messages)
            .where(recent_messages.c.community_id == community)
        )
    assert kept == 3
    body = (await dry_run(moderation, community, DRAFT)).json()
    assert body["messages"] == 3

    await refresh_queue_gauges(moderation.db)
    assert REGISTRY.get_sample_value("hearth_moderation_queue_depth") == 5
    oldest = REGISTRY.get_sample_value("hearth_moderation_queue_oldest_age_seconds")
    assert oldest is not None and oldest >= 0
