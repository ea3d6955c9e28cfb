"""Badges on the running service: awarded once, published, rechecked when points go."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from ulid import ULID

from services.gamification.tables import metadata
from shared.db.tables import outbox_table
from shared.tenancy.repository import create_key
from tests.gamification.conftest import Gamification, eventually
from tests.gamification.test_revocation import deliver, points_become
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


@pytest.fixture
def g(gamification: Gamification) -> Gamification:
    return gamification
