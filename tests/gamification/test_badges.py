"""Badges on the running service: awarded once, published, rechecked when points go."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from ulid import ULID

from services.gamification.tables import metadata
from shared.db.tables import outbox_table
from shared.tenancy.repository import create_key
from tests.gamification.conftest import Gamification, eventually
from tests.gamification.test_revocation import deliver, points_become, standing
from tests.gamification.traffic import decision, member, message

pytestmark = pytest.mark.integration

RULES = """\
time_zone: Europe/Berlin
rules:
  - id: message
    event: community.message.created
    points: 100
badges:
  - id: first-words
    kind: first
  - id: centurion
    kind: threshold
    tiers: {bronze: 100, silver: 200}
    revoke: recheck
  - id: keeper
    kind: threshold
    points: 200
"""


async def held(g: Gamification, member_id: str, community: str) -> set[tuple[str, str | None]]:
    answer = await g.get(f"/v1/gamification/members/{member_id}/badges")
    assert answer.status_code == 200, answer.text
    return {
        (b["badge_id"], b["tier"])
        for b in answer.json()["badges"]
        if b["community_id"] == community
    }


async def published(g: Gamification, community: str) -> Counter[tuple[str, str, str | None]]:
    """The badge events the service queued on gamification.awards.v1 for this community."""
    found: Counter[tuple[str, str, str | None]] = Counter()
    async with g.db.sessions() as session:
        outbox = outbox_table(metadata)
        query = select(outbox.c.key, outbox.c.value).where(
            outbox.c.topic == "gamification.awards.v1"
        )
        for key, value in await session.execute(query):
            data = json.loads(value)
            if key.startswith(f"{community}:".encode()) and data["type"].startswith(
                "gamification.badge."
            ):
                found[(data["type"].rsplit(".", 1)[1], data["badge"], data["tier"])] += 1
    return found


async def test_a_threshold_badge_is_withdrawn_with_its_points_and_given_back_on_restore(
    g: Gamification,
) -> None:
    tenant, community = g.tenant_id, f"c{ULID()}".lower()
    key = await create_key(
        g.host.tenancy_db, tenant_id=tenant, name="cm", scopes=["admin"], community_ids=[community]
    )
    stored = await g.client.put(
        f"/v1/gamification/communities/{community}/rules",
        content=RULES,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert stored.status_code == 200, stored.text
    ann = member("ann")
    later = datetime.now(UTC) + timedelta(seconds=2)
    first, second = (message(tenant, community, ann, later, n=n) for n in (1, 2))
    await deliver(g, "community.events.v1", first, second)
    await points_become(g, "m-ann", community, 200)
    everything = {
        ("first-words", None),
        ("centurion", "bronze"),
        ("centurion", "silver"),
        ("keeper", None),
    }
    await eventually(lambda: held(g, "m-ann", community), lambda b: b == everything)
    profile = await standing(g, "m-ann", community)
    assert profile is not None and profile["streak_days"] == 1
    assert {(b["badge_id"], b["tier"]) for b in profile["badges"]} == everything

    # Moderation removes the second message: its points go, and with them the silver tier
    # (recheck); `keeper` keeps what it gave, bronze still holds at 100 points.
    await deliver(g, "moderation.decisions.v1", decision(tenant, community, second, removed=True))
    await points_become(g, "m-ann", community, 100)
    withdrawn = everything - {("centurion", "silver")}
    await eventually(lambda: held(g, "m-ann", community), lambda b: b == withdrawn)

    await deliver(g, "moderation.decisions.v1", decision(tenant, community, second, removed=False))
    await points_become(g, "m-ann", community, 200)
    await eventually(lambda: held(g, "m-ann", community), lambda b: b == everything)

    # The same activity again changes nothing: each badge was published once per change.
    await deliver(g, "community.events.v1", first, second)
    await g.wait_processed({first.event_id, second.event_id})
    assert await published(g, community) == Counter(
        {
            ("awarded", "first-words", None): 1,
            ("awarded", "centurion", "bronze"): 1,
            ("awarded", "centurion", "silver"): 2,
            ("revoked", "centurion", "silver"): 1,
            ("awarded", "keeper", None): 1,
        }
    )


STREAK = """\
time_zone: {zone}
rules:
  - id: message
    event: community.message.created
    points: 10
badges:
  - id: three-days
    kind: streak
    per: day
    length: 3
"""


@pytest.mark.parametrize("zone", ["Europe/Berlin", "UTC"])
async def test_a_streak_badge_counts_local_days_across_the_end_of_summer_time(
    g: Gamification, zone: str
) -> None:
    tenant, community = g.tenant_id, f"c{ULID()}".lower()
    key = await create_key(
        g.host.tenancy_db, tenant_id=tenant, name="cm", scopes=["admin"], community_ids=[community]
    )
    stored = await g.client.put(
        f"/v1/gamification/communities/{community}/rules",
        content=STREAK.format(zone=zone),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert stored.status_code == 200, stored.text
    # Imported history: 23:30 on 24 and 25 October and 00:10 on the 26th, Berlin time
    # (summer time ends on the 25th); in UTC these are two days only.
    evenings = [
        datetime(2026, 10, 24, 21, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 22, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 23, 10, tzinfo=UTC),
    ]
    history = [
        message(tenant, community, member("ann"), at, n=n, backfilled=True)
        for n, at in enumerate(evenings)
    ]
    before = REGISTRY.get_sample_value(
        "hearth_gamification_badges_awarded_total", {"badge_kind": "streak"}
    )
    await deliver(g, "community.events.v1", *history)
    await g.wait_processed({event.event_id for event in history})
    expected = {("three-days", None)} if zone == "Europe/Berlin" else set()
    assert await held(g, "m-ann", community) == expected
    if g.kind == "memory":  # the service runs in this process: its metrics are ours
        after = REGISTRY.get_sample_value(
            "hearth_gamification_badges_awarded_total", {"badge_kind": "streak"}
        )
        assert (after or 0) - (before or 0) == len(expected)


RANKED = """\
time_zone: Europe/Berlin
rules:
  - id: message
    event: community.message.created
    points: 10
badges:
  - id: top-of-the-day
    kind: ranked
    per: day
    top: 1
"""


async def test_a_ranked_badge_crowns_yesterdays_best_once_todays_activity_closes_the_day(
    g: Gamification,
) -> None:
    tenant, community = g.tenant_id, f"c{ULID()}".lower()
    key = await create_key(
        g.host.tenancy_db, tenant_id=tenant, name="cm", scopes=["admin"], community_ids=[community]
    )
    stored = await g.client.put(
        f"/v1/gamification/communities/{community}/rules",
        content=RANKED,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert stored.status_code == 200, stored.text
    berlin = ZoneInfo("Europe/Berlin")
    today = datetime.now(berlin).date()
    noon = datetime(today.year, today.month, today.day, 12, tzinfo=berlin) - timedelta(days=1)
    history = [
        message(
            tenant, community, member(name), noon + timedelta(minutes=5 * n), n=n, backfilled=True
        )
        for n, name in enumerate(["ann", "ann", "ann", "bob"])
    ]
    await deliver(g, "community.events.v1", *history)
    await g.wait_processed({event.event_id for event in history})
    assert await held(g, "m-ann", community) == set()  # the day is not closed by its own history

    later = datetime.now(UTC) + timedelta(seconds=2)
    live = [message(tenant, community, member("cyd"), later, n=10 + n) for n in range(2)]
    await deliver(g, "community.events.v1", live[0])
    day = (today - timedelta(days=1)).isoformat()
    await eventually(lambda: held(g, "m-ann", community), lambda b: b == {("top-of-the-day", day)})
    await deliver(g, "community.events.v1", live[1])
    await g.wait_processed({live[1].event_id})
    assert await held(g, "m-bob", community) == set()
    assert (await published(g, community))[("awarded", "top-of-the-day", day)] == 1


@pytest.fixture
def g(gamification: Gamification) -> Gamification:
    return gamification
