"""Core members on the running service: the top N by engagement, with hysteresis, published."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from ulid import ULID

from services.gamification.tables import metadata
from shared.db.tables import outbox_table
from shared.tenancy.repository import create_key
from tests.gamification.conftest import Gamification
from tests.gamification.test_revocation import deliver
from tests.gamification.traffic import member, message

pytestmark = pytest.mark.integration

CORE = """\
rules:
  - id: message
    event: community.message.created
    points: 10
core:
  size: 2
  window_days: 7
  min_points: 30
  min_active_days: 2
  enter_after: 2
  leave_after: 2
  exclude: [m-staff{more}]
"""


async def changes(g: Gamification, community: str) -> list[tuple[str, bool]]:
    """The core-member changes queued for gamification.core_members.v1, in order."""
    async with g.db.sessions() as session:
        outbox = outbox_table(metadata)
        query = (
            select(outbox.c.key, outbox.c.value)
            .where(outbox.c.topic == "gamification.core_members.v1")
            .order_by(outbox.c.id)
        )
        return [
            (data["member_id"], data["core_member"])
            for key, value in await session.execute(query)
            if key.startswith(f"{community}:".encode()) and (data := json.loads(value))
        ]


async def test_the_most_engaged_enter_the_core_after_k_evaluations_and_leave_after_k(
    g: Gamification,
) -> None:
    tenant, community = g.tenant_id, f"c{ULID()}".lower()
    key = await create_key(
        g.host.tenancy_db, tenant_id=tenant, name="cm", scopes=["admin"], community_ids=[community]
    )
    auth = {"Authorization": f"Bearer {key}"}
    now = datetime.now(UTC)
    days_ago = [now - timedelta(days=d, minutes=m) for d in (1, 2, 3, 4) for m in (0, 5)]
    plan = {
        "ann": days_ago[::2],  # 4 messages on 4 days: 60-100 XP (default ruleset)
        "bob": days_ago[:4],  # 4 on 2 days: 60-100
        "eve": days_ago[:3:2],  # 2 on 2 days: 30-50, third: outside the top 2
        "cyd": [now - timedelta(hours=2, minutes=m) for m in (0, 5, 10, 15)],  # one day only
        "staff": days_ago,  # excluded
    }
    events = [
        message(tenant, community, member(name), at, n=100 * i + j)
        for i, (name, times) in enumerate(plan.items())
        for j, at in enumerate(times)
    ]
    await deliver(g, "community.events.v1", *events)
    await g.wait_processed({event.event_id for event in events})

    rules = f"/v1/gamification/communities/{community}/rules"
    evaluate = f"/v1/gamification/communities/{community}/core/evaluations"
    assert (await g.client.post(evaluate, headers=auth)).status_code == 409  # no core yet
    put = await g.client.put(rules, content=CORE.format(more=""), headers=auth)
    assert put.status_code == 200, put.text

    first = await g.client.post(evaluate, headers=auth)
    assert first.status_code == 200, first.text
    assert first.json() == {"community_id": community, "core": [], "entered": [], "left": []}
    second = (await g.client.post(evaluate, headers=auth)).json()
    assert second["entered"] == ["m-ann", "m-bob"] and second["core"] == ["m-ann", "m-bob"]
    listed = await g.get(f"/v1/gamification/communities/{community}/core")
    assert [m["member_id"] for m in listed.json()["members"]] == ["m-ann", "m-bob"]

    # Bob becomes staff: out once, still core (hysteresis); out twice, he leaves, and eve,
    # now in the top 2 twice, enters.
    put = await g.client.put(rules, content=CORE.format(more=", m-bob"), headers=auth)
    assert put.status_code == 200, put.text
    third = (await g.client.post(evaluate, headers=auth)).json()
    assert third["core"] == ["m-ann", "m-bob"] and third["left"] == []
    fourth = (await g.client.post(evaluate, headers=auth)).json()
    assert (fourth["left"], fourth["entered"]) == (["m-bob"], ["m-eve"])
    assert fourth["core"] == ["m-ann", "m-eve"]

    assert await changes(g, community) == [
        ("m-ann", True),
        ("m-bob", True),
        ("m-bob", False),
        ("m-eve", True),
    ]


@pytest.fixture
def g(gamification: Gamification) -> Gamification:
    return gamification
