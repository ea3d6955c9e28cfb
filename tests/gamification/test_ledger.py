"""The ledger counts every event once: redelivered, replayed, imported or live."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, func, select
from ulid import ULID

from services.gamification.tables import ledger, metadata
from shared.db.tables import outbox_table, processed_table
from tests.gamification.conftest import Gamification
from tests.gamification.traffic import busy_community

pytestmark = pytest.mark.integration


async def leaderboard(g: Gamification, community: str, **params: Any) -> list[dict[str, Any]]:
    """Every entry of a leaderboard, page by page."""
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 7, **params, **({"cursor": cursor} if cursor else {})}
        answer = await g.get(f"/v1/gamification/communities/{community}/leaderboard", **query)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        entries += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


async def counts(g: Gamification, community: str) -> tuple[int, int]:
    """(ledger entries, events queued for gamification.awards.v1) of one community.

    Other tests' events share the broker's topics, so only this community's count."""
    async with g.db.sessions() as session:
        query = select(func.count()).where(ledger.c.community_id == community)
        entries = (await session.execute(query)).scalar_one()
        keys = (await session.execute(select(outbox_table(metadata).c.key))).scalars()
        queued = sum(1 for key in keys if key and key.startswith(f"{community}:".encode()))
    return int(entries), queued


async def test_the_same_events_delivered_twice_give_identical_totals(g: Gamification) -> None:
    community = f"c{ULID()}".lower()
    count = 10_000
    envelopes = busy_community(g.tenant_id, community, count)
    ids = {envelope.id for envelope in envelopes}

    await g.send("community.events.v1", envelopes)
    await g.wait_processed(ids)
    first = await leaderboard(g, community)
    first_counts = await counts(g, community)

    # A replay after processed_events was pruned: only the ledger's own key stands guard.
    async with g.db.transaction() as session:
        await session.execute(delete(processed_table(metadata)))
    await g.send("community.events.v1", envelopes)
    await g.wait_processed(ids)
    second = await leaderboard(g, community)

    assert second == first
    assert await counts(g, community) == first_counts
    assert len(first) >= 20
    assert "m-bot" not in {entry["member_id"] for entry in first}
    ranks = [entry["rank"] for entry in first]
    assert ranks == sorted(ranks) and ranks[0] == 1
    # The leaderboard and each member's standing tell the same totals.
    top = first[0]
    standing = (await g.get(f"/v1/gamification/members/{top['member_id']}")).json()
    (here,) = [c for c in standing["communities"] if c["community_id"] == community]
    assert here["points"] == top["points"]


@pytest.fixture
def g(gamification: Gamification) -> Gamification:
    return gamification
