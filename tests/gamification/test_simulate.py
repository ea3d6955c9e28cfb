"""Simulate: a candidate ruleset's effect on recent activity, without changing anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from ulid import ULID

from services.gamification.tables import ledger, member_totals, metadata, rulesets
from shared.db.tables import outbox_table
from shared.tenancy.repository import create_key
from tests.gamification.conftest import Gamification
from tests.gamification.test_revocation import deliver, points_become
from tests.gamification.traffic import decision, member, message

pytestmark = pytest.mark.integration

NOW = """\
rules:
  - id: message
    event: community.message.created
    points: 10
"""

CANDIDATE = """\
rules:
  - id: help
    event: community.message.created
    points: 25
    when: {channels: [help]}
"""


async def footprint(g: Gamification, community: str) -> tuple[int, ...]:
    """Everything a simulation must leave alone: ledger lines, totals, versions, outbox."""
    async with g.db.sessions() as session:
        counts = []
        for table, column in (
            (ledger, ledger.c.community_id),
            (member_totals, member_totals.c.community_id),
            (rulesets, rulesets.c.community_id),
        ):
            query = select(func.count()).select_from(table).where(column == community)
            counts.append(int((await session.execute(query)).scalar_one()))
        outbox = select(func.count()).select_from(outbox_table(metadata))
        counts.append(int((await session.execute(outbox)).scalar_one()))
        points = select(func.sum(member_totals.c.points)).where(
            member_totals.c.community_id == community
        )
        counts.append(int((await session.execute(points)).scalar_one() or 0))
    return tuple(counts)


async def test_simulate_reports_a_rule_changes_effect_and_changes_nothing(g: Gamification) -> None:
    tenant, community = g.tenant_id, f"c{ULID()}".lower()
    key = await create_key(
        g.host.tenancy_db, tenant_id=tenant, name="cm", scopes=["admin"], community_ids=[community]
    )
    auth = {"Authorization": f"Bearer {key}"}
    rules = f"/v1/gamification/communities/{community}/rules"
    assert (await g.client.put(rules, content=NOW, headers=auth)).status_code == 200
    at = datetime.now(UTC) + timedelta(seconds=2)
    ann, bob, cyd = member("ann"), member("bob"), member("cyd")
    removed = message(tenant, community, cyd, at, n=6, channel_id="help")
    events = [
        *(message(tenant, community, ann, at, n=n) for n in (1, 2, 3)),
        *(message(tenant, community, bob, at, n=n, channel_id="help") for n in (4, 5)),
        removed,
    ]
    await deliver(g, "community.events.v1", *events)
    await deliver(g, "moderation.decisions.v1", decision(tenant, community, removed, removed=True))
    await points_become(g, "m-ann", community, 30)
    await points_become(g, "m-bob", community, 20)
    await points_become(g, "m-cyd", community, 0)
    before = await footprint(g, community)

    simulate = f"{rules}/simulate"
    bad = await g.client.post(simulate, content=CANDIDATE.replace("25", "lots"), headers=auth)
    assert bad.status_code == 422 and [e["line"] for e in bad.json()["errors"]] == [4]
    answer = await g.client.post(
        simulate, params={"days": 2, "top": 3}, content=CANDIDATE, headers=auth
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["events"] == 6 and report["truncated"] is False
    assert report["points"] == {"current": 50, "simulated": 50}
    assert [
        (m["member_id"], m["current"], m["simulated"], m["difference"]) for m in report["members"]
    ] == [
        ("m-ann", 30, 0, -30),
        ("m-bob", 20, 50, 30),
        ("m-cyd", 0, 0, 0),
    ]
    assert report["top"] == {"current": ["m-ann", "m-bob"], "simulated": ["m-bob"]}

    assert await footprint(g, community) == before
    versions = await g.client.get("/v1/gamification/members/m-bob", headers=auth)
    assert [c["points"] for c in versions.json()["communities"]] == [20]


@pytest.fixture
def g(gamification: Gamification) -> Gamification:
    return gamification
