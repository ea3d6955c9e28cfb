"""Manual grants and deductions: their own ledger lines, audited, moving totals and badges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ulid import ULID

from shared.tenancy.repository import create_key
from tests.gamification.conftest import Gamification, eventually
from tests.gamification.test_badges import held, published
from tests.gamification.test_revocation import deliver, points_become, standing
from tests.gamification.traffic import member, message

pytestmark = pytest.mark.integration

RULES = """\
rules:
  - id: message
    event: community.message.created
    points: 10
badges:
  - id: patron
    kind: threshold
    points: 500
    revoke: recheck
"""


async def test_a_grant_and_a_deduction_are_audited_ledger_lines_that_move_badges(
    g: Gamification,
) -> None:
    tenant, community = g.tenant_id, f"c{ULID()}".lower()
    manager = await create_key(
        g.host.tenancy_db, tenant_id=tenant, name="cm", scopes=["admin"], community_ids=[community]
    )
    reader = await create_key(
        g.host.tenancy_db, tenant_id=tenant, name="r", scopes=["gamification:read"]
    )
    auth = {"Authorization": f"Bearer {manager}"}
    put = await g.client.put(
        f"/v1/gamification/communities/{community}/rules", content=RULES, headers=auth
    )
    assert put.status_code == 200, put.text
    event = message(tenant, community, member("ann"), datetime.now(UTC) + timedelta(seconds=2), n=1)
    await deliver(g, "community.events.v1", event)
    await points_become(g, "m-ann", community, 10)

    grants = f"/v1/gamification/communities/{community}/members/m-ann/grants"
    for bad in ({"points": 0, "reason": "nothing"}, {"points": 5, "reason": "  "}, {"points": 5}):
        refused = await g.client.post(grants, json=bad, headers=auth)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    denied = await g.client.post(
        grants, json={"points": 5, "reason": "x"}, headers={"Authorization": f"Bearer {reader}"}
    )
    assert denied.status_code == 403
    assert (await standing(g, "m-ann", community) or {})["points"] == 10

    given = await g.client.post(
        grants, json={"points": 490, "reason": "hosted the AMA"}, headers=auth
    )
    assert given.status_code == 201, given.text
    assert given.json()["total"] == 500 and given.json()["level"] == 3
    assert (await standing(g, "m-ann", community) or {})["points"] == 500
    await eventually(lambda: held(g, "m-ann", community), lambda b: b == {("patron", None)})

    taken = await g.client.post(
        grants, json={"points": -50, "reason": "spam in #general"}, headers=auth
    )
    assert taken.status_code == 201, taken.text
    assert taken.json()["total"] == 450
    await eventually(lambda: held(g, "m-ann", community), lambda b: b == set())

    audit = await g.client.get(f"/v1/gamification/communities/{community}/grants", headers=auth)
    assert audit.status_code == 200, audit.text
    assert [(x["points"], x["reason"]) for x in audit.json()["grants"]] == [
        (-50, "spam in #general"),
        (490, "hosted the AMA"),
    ]
    key_id = manager.split("_")[1]
    assert {x["granted_by"] for x in audit.json()["grants"]} == {key_id}
    board = await g.get(f"/v1/gamification/communities/{community}/leaderboard")
    assert [(e["member_id"], e["points"]) for e in board.json()["entries"]] == [("m-ann", 450)]
    badges = await published(g, community)
    assert badges[("awarded", "patron", None)] == 1 and badges[("revoked", "patron", None)] == 1


@pytest.fixture
def g(gamification: Gamification) -> Gamification:
    return gamification
