"""Points follow their content: removed → gone, restored → back; deletions cancel them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ulid import ULID

from shared.events.community import CommunityEvent
from shared.events.envelope import Envelope
from tests.gamification.conftest import Gamification, eventually
from tests.gamification.traffic import decision, member, message, reaction

pytestmark = pytest.mark.integration

RULES = """\
time_zone: Europe/Berlin
rules:
  - id: message
    event: community.message.created
    points: 100
  - id: thumbs
    event: community.reaction.added
    to: receiver
    points: 10
"""


async def standing(g: Gamification, member_id: str, community: str) -> dict[str, Any] | None:
    """The member's standing in one community; None when it has none there."""
    answer = await g.get(f"/v1/gamification/members/{member_id}")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    found = [c for c in answer.json()["communities"] if c["community_id"] == community]
    return dict(found[0]) if found else None


async def points_become(
    g: Gamification, member_id: str, community: str, expected: int
) -> dict[str, Any]:
    found = await eventually(
        lambda: standing(g, member_id, community),
        lambda s: s is not None and s["points"] == expected,
    )
    assert found is not None
    return found


async def deliver(g: Gamification, topic: str, *items: CommunityEvent | Envelope) -> None:
    envelopes = [i if isinstance(i, Envelope) else i.to_envelope() for i in items]
    await g.send(topic, envelopes)


async def test_removal_takes_points_away_and_restore_gives_them_back(g: Gamification) -> None:
    tenant, community = g.tenant_id, f"c{ULID()}".lower()
    ann, bob = member("ann"), member("bob")
    now = datetime.now(UTC)
    # The community's first message earns under the default ruleset (15 to 25 XP).
    first = message(tenant, community, ann, now - timedelta(minutes=5), n=1)
    await deliver(g, "community.events.v1", first)
    default_xp = await eventually(lambda: standing(g, "m-ann", community), lambda s: s is not None)
    assert default_xp is not None and 15 <= default_xp["points"] <= 25
    base = default_xp["points"]

    rules_url = f"/v1/gamification/communities/{community}/rules"
    bad = await g.client.put(
        rules_url, content=RULES.replace("points: 10\n", "points: ten\n"), headers=g.auth()
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert [e["line"] for e in bad.json()["errors"]] == [9]
    stored = await g.client.put(rules_url, content=RULES, headers=g.auth())
    assert stored.status_code == 200, stored.text
    assert stored.json()["version"] == 1

    later = datetime.now(UTC) + timedelta(seconds=1)
    second = message(tenant, community, ann, later, n=2)
    thumbs = reaction(tenant, community, bob, ann, later, n=3, of=1)
    await deliver(g, "community.events.v1", second, thumbs)
    reached = await points_become(g, "m-ann", community, base + 110)
    assert reached["level"] == 1

    removed = decision(tenant, community, second, removed=True)
    await deliver(g, "moderation.decisions.v1", removed)
    assert (await points_become(g, "m-ann", community, base + 10))["level"] == 0

    restored = decision(tenant, community, second, removed=False)
    await deliver(g, "moderation.decisions.v1", restored)
    assert (await points_become(g, "m-ann", community, base + 110))["level"] == 1

    untouched = reaction(tenant, community, bob, ann, later, n=4, of=1, removed=True)
    deleted = message(
        tenant,
        community,
        member("unknown"),
        later,
        n=5,
        type="community.message.deleted",
        source_event_id="msg-2",
        dedup_key="discord:g:delete-2",
        content=None,
    )
    await deliver(g, "community.events.v1", untouched, deleted)
    await points_become(g, "m-ann", community, base)

    # The same decisions again, and a restore of deleted content: nothing comes back.
    again = decision(tenant, community, second, removed=False)
    await deliver(g, "moderation.decisions.v1", removed, restored, again)
    await g.wait_processed({removed.id, restored.id, again.id})
    assert (await standing(g, "m-ann", community)) == {
        **(await standing(g, "m-ann", community) or {}),
        "points": base,
    }

    board = await g.get(f"/v1/gamification/communities/{community}/leaderboard", period="daily")
    assert board.status_code == 200
    assert [e["member_id"] for e in board.json()["entries"]] in (["m-ann"], [])


async def test_content_removed_before_its_event_arrives_earns_nothing_until_restored(
    g: Gamification,
) -> None:
    tenant, community = g.tenant_id, f"c{ULID()}".lower()
    ann = member("ann")
    early = message(tenant, community, ann, datetime.now(UTC), n=1)
    removed = decision(tenant, community, early, removed=True)
    await deliver(g, "moderation.decisions.v1", removed)
    await g.wait_processed({removed.id})
    await deliver(g, "community.events.v1", early)
    await g.wait_processed({early.event_id})
    assert (await standing(g, "m-ann", community) or {"points": 0})["points"] == 0
    await deliver(g, "moderation.decisions.v1", decision(tenant, community, early, removed=False))
    back = await eventually(
        lambda: standing(g, "m-ann", community), lambda s: s is not None and s["points"] > 0
    )
    assert back is not None and 15 <= back["points"] <= 25


async def test_standings_are_read_only_within_the_callers_tenant_and_communities(
    g: Gamification,
) -> None:
    from shared.tenancy.repository import create_key, create_tenant

    tenant, community = g.tenant_id, f"c{ULID()}".lower()
    event = message(tenant, community, member("ann"), datetime.now(UTC), n=1)
    await deliver(g, "community.events.v1", event)
    await g.wait_processed({event.event_id})
    other = f"t{ULID()}".lower()
    await create_tenant(g.host.tenancy_db, other, "Tenant B")
    stranger = await create_key(g.host.tenancy_db, tenant_id=other, name="b", scopes=["admin"])
    elsewhere = await create_key(
        g.host.tenancy_db, tenant_id=tenant, name="x", scopes=["admin"], community_ids=["other"]
    )
    for key, expected in ((stranger, 404), (elsewhere, 403)):
        auth = {"Authorization": f"Bearer {key}"}
        base = f"/v1/gamification/communities/{community}"
        board = await g.client.get(f"{base}/leaderboard", headers=auth)
        assert board.status_code == expected, board.text
        rules = await g.client.put(f"{base}/rules", content=RULES, headers=auth)
        assert rules.status_code == expected, rules.text
        found = await g.client.get("/v1/gamification/members/m-ann", headers=auth)
        assert found.status_code == 404
        assert "m-ann" not in board.text + found.text


@pytest.fixture
def g(gamification: Gamification) -> Gamification:
    return gamification
