"""A member merge re-keys the ledger; an unmerge splits it back exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from ulid import ULID

from services.gamification.tables import ledger
from shared.events.envelope import Envelope
from shared.events.payloads import IdentityEvent, IdentityEventType
from shared.tenancy.repository import create_key
from tests.gamification.conftest import Gamification
from tests.gamification.test_revocation import deliver, points_become
from tests.gamification.traffic import decision, member, message

pytestmark = pytest.mark.integration

RULES = """\
rules:
  - id: message
    event: community.message.created
    points: 100
"""


async def owners(g: Gamification, community: str) -> dict[int, str]:
    """ledger line id → the member it counts for."""
    async with g.db.sessions() as session:
        query = select(ledger.c.id, ledger.c.member_id).where(ledger.c.community_id == community)
        return {int(row.id): row.member_id for row in await session.execute(query)}


async def board(g: Gamification, community: str) -> list[tuple[str, int]]:
    answer = await g.get(f"/v1/gamification/communities/{community}/leaderboard")
    assert answer.status_code == 200, answer.text
    return [(e["member_id"], e["points"]) for e in answer.json()["entries"]]


def identity(tenant: str, kind: IdentityEventType, member_id: str, other: str) -> Envelope:
    event = IdentityEvent(
        tenant_id=tenant, type=kind, member_id=member_id, merged_member_ids=[other]
    )
    return event.to_envelope(source="/hearth/ingest")


async def test_merge_then_unmerge_restores_both_ledgers_and_totals(g: Gamification) -> None:
    tenant, community = g.tenant_id, f"c{ULID()}".lower()
    key = await create_key(
        g.host.tenancy_db, tenant_id=tenant, name="cm", scopes=["admin"], community_ids=[community]
    )
    put = await g.client.put(
        f"/v1/gamification/communities/{community}/rules",
        content=RULES,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert put.status_code == 200, put.text
    at = datetime.now(UTC) + timedelta(seconds=2)
    ann, bob = member("ann"), member("bob")
    anns = [message(tenant, community, ann, at, n=n) for n in (1, 2)]
    bobs = message(tenant, community, bob, at, n=3)
    await deliver(g, "community.events.v1", *anns, bobs)
    await points_become(g, "m-ann", community, 200)
    await points_become(g, "m-bob", community, 100)
    before = await owners(g, community)

    merged = identity(tenant, IdentityEventType.MEMBERS_MERGED, "m-ann", "m-bob")
    await deliver(g, "members.identity.v1", merged, merged)  # delivered twice: moved once
    await points_become(g, "m-ann", community, 300)
    await points_become(g, "m-bob", community, 0)
    assert set((await owners(g, community)).values()) == {"m-ann"}
    assert await board(g, community) == [("m-ann", 300)]

    # While merged: bob's old message is removed (its points leave ann), ann posts again.
    await deliver(g, "moderation.decisions.v1", decision(tenant, community, bobs, removed=True))
    await points_become(g, "m-ann", community, 200)
    await deliver(g, "community.events.v1", message(tenant, community, ann, at, n=4))
    await points_become(g, "m-ann", community, 300)

    # Ingest undoes the merge: one event per member.
    unmerged = [
        identity(tenant, IdentityEventType.MEMBERS_UNMERGED, "m-bob", "m-ann"),
        identity(tenant, IdentityEventType.MEMBERS_UNMERGED, "m-ann", "m-bob"),
    ]
    await deliver(g, "members.identity.v1", *unmerged)
    await g.wait_processed({event.id for event in unmerged})
    await points_become(g, "m-bob", community, 0)  # the removal went back with the message
    await points_become(g, "m-ann", community, 300)
    after = await owners(g, community)
    assert {line: after[line] for line in before} == before
    assert sorted(set(after.values())) == ["m-ann", "m-bob"]
    await deliver(g, "moderation.decisions.v1", decision(tenant, community, bobs, removed=False))
    await points_become(g, "m-bob", community, 100)
    assert await board(g, community) == [("m-ann", 300), ("m-bob", 100)]


@pytest.fixture
def g(gamification: Gamification) -> Gamification:
    return gamification
