"""Leaderboards: kept with the ledger, rebuildable from it, ranked densely, paged safely."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from ulid import ULID

from services.gamification.app import SPEC, setup
from services.gamification.leaderboard import Leaderboards
from services.gamification.tables import (
    leaderboard_score_blocks,
    leaderboard_scores,
    leaderboard_totals,
    ledger,
    member_totals,
    metadata,
    rulesets,
)
from shared.api.pagination import decode_cursor, encode_cursor
from shared.bus.port import Record
from shared.bus.runtime import Delivery
from shared.db.consuming import idempotent_processor
from shared.db.engine import Database
from shared.db.migrations import upgrade
from shared.db.tables import outbox_table, processed_table
from shared.events.community import CommunityEvent
from shared.events.envelope import Envelope
from tests.gamification.conftest import Gamification
from tests.gamification.traffic import busy_community, decision, member, message
from tests.shared.conftest import drop_schema

TENANT = "t-boards"

# Tokyo: a busy day in UTC spans two local days, so daily boards differ from UTC's.
TOKYO = """\
time_zone: Asia/Tokyo
rules:
  - id: message
    event: community.message.created
    random: {min: 5, max: 15}
    cooldown_seconds: 300
  - id: thumbs
    event: community.reaction.added
    to: receiver
    points: 7
"""


def community_traffic(community: str, seed: int) -> list[Delivery]:
    """A busy community over days, in three channels, with removals and restores."""
    rng = random.Random(seed)
    events = busy_community(TENANT, community, 600, seed=seed)
    items: list[tuple[str, Envelope]] = []
    for envelope in events:
        data = dict(envelope.data)
        data["channel_id"] = rng.choice(["general", "help", "memes"])
        # A deletion names its message by channel: keep the message's channel for it.
        items.append(("community.events.v1", CommunityEvent.model_validate(data).to_envelope()))
    messages = [e for _t, e in items if e.type == "community.message.created"]
    for subject in rng.sample(messages, 40):
        event = CommunityEvent.model_validate(subject.data)
        for removed in (True, False) if rng.random() < 0.5 else (True,):
            at = rng.randrange(len(items) + 1)
            items.insert(
                at,
                ("moderation.decisions.v1", decision(TENANT, community, event, removed=removed)),
            )
    return [
        Delivery(Record(topic, 0, offset, None, b""), envelope)
        for offset, (topic, envelope) in enumerate(items)
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", schema="gamification")
    else:
        url = request.getfixturevalue("postgres_url")
        database = Database(url, schema=f"boards_{str(ULID()).lower()}", pool_size=2)
        setup(None, database, None)
    await upgrade(database, SPEC.migrations)
    try:
        yield database
    finally:
        if request.param == "postgresql":
            await drop_schema(database)
        await database.dispose()


async def read_model(db: Database, community: str) -> list[list[Any]]:
    """Every row of the community's boards: totals, score counts, score blocks."""
    found = []
    async with db.sessions() as session:
        for table in (leaderboard_totals, leaderboard_scores, leaderboard_score_blocks):
            query = (
                select(table)
                .where(table.c.community_id == community)
                .order_by(*table.primary_key.columns)
            )
            found.append([tuple(row) for row in await session.execute(query)])
    return found


@pytest.mark.integration
async def test_the_boards_kept_with_the_ledger_equal_a_rebuild_from_it(db: Database) -> None:
    community = "c-tokyo"
    async with db.transaction() as session:
        await session.execute(
            rulesets.insert().values(
                tenant_id=TENANT,
                community_id=community,
                version=1,
                source=TOKYO,
                effective_from=datetime(2026, 1, 1, tzinfo=UTC),
                created_by="test",
            )
        )
    process = idempotent_processor(
        db,
        group="g",
        handlers=SPEC.handlers,
        processed=processed_table(metadata),
        outbox=outbox_table(metadata),
        unit_of_work=SPEC.unit_of_work,
    )
    items = community_traffic(community, seed=8)
    for start in range(0, len(items), 120):
        assert not await process(items[start : start + 120])
    # Redelivered: counts nothing twice.
    assert not await process(items[:120])
    incremental = await read_model(db, community)

    async with db.transaction() as session:
        counted = await Leaderboards(session).rebuild(TENANT, community)
    rebuilt = await read_model(db, community)

    assert counted > 300
    assert rebuilt == incremental
    totals, scores, blocks = incremental
    async with db.sessions() as session:
        standing = {
            row.member_id: row.points
            for row in await session.execute(
                select(member_totals).where(member_totals.c.community_id == community)
            )
        }
        lines = list(
            await session.execute(
                select(ledger.c.member_id, ledger.c.channel_id, ledger.c.points).where(
                    ledger.c.community_id == community
                )
            )
        )
    # All time, community-wide, is each member's total; per channel, what they earned there.
    all_time = {row[5]: row[6] for row in totals if row[2] == "" and row[3] == "all_time"}
    assert all_time == standing
    by_channel: dict[tuple[str, str], int] = defaultdict(int)
    for line in lines:
        if line.points:
            by_channel[(line.channel_id, line.member_id)] += line.points
    assert {
        (row[2], row[5]): row[6] for row in totals if row[2] != "" and row[3] == "all_time"
    } == by_channel
    # Revocations moved some boards back, and several local days have boards of their own.
    assert {"revoke", "regrant"} <= {kind for (kind,) in await _kinds(db, community)}
    days = {row[4] for row in totals if row[3] == "day"}
    assert len(days) >= 2
    # Each board's score counts say how many members hold each positive score.
    holders: dict[tuple[Any, ...], int] = defaultdict(int)
    for row in totals:
        if row[6] > 0:
            holders[(*row[:5], row[6])] += 1
    assert {row[:6]: row[6] for row in scores} == holders
    distinct: dict[tuple[Any, ...], int] = defaultdict(int)
    for row in scores:
        distinct[(*row[:5], row[5] // 512)] += 1
    assert {row[:6]: row[6] for row in blocks} == distinct


async def _kinds(db: Database, community: str) -> list[Any]:
    async with db.sessions() as session:
        return list(
            await session.execute(
                select(ledger.c.kind).where(ledger.c.community_id == community).distinct()
            )
        )


# --- the HTTP API ------------------------------------------------------------------------

FLAT = """\
time_zone: UTC
rules:
  - id: message
    event: community.message.created
    points: 10
"""


async def seeded(g: Gamification) -> tuple[str, dict[str, int]]:
    """A community where members earn known points: ties, two channels, an older day."""
    tenant, community = g.tenant_id, f"c{ULID()}".lower()
    async with g.db.transaction() as session:
        await session.execute(
            rulesets.insert().values(
                tenant_id=tenant,
                community_id=community,
                version=1,
                source=FLAT,
                effective_from=datetime(2026, 1, 1, tzinfo=UTC),
                created_by="test",
            )
        )
    now = datetime.now(UTC).replace(microsecond=0)
    # messages today per member (general, help); ann also earned 3 days ago
    plan = {"ann": (3, 0), "bob": (2, 1), "cid": (1, 2), "dan": (2, 0), "eve": (1, 0)}
    plan |= {f"x{n:02d}": (1, 0) for n in range(7)}
    events, n = [], 0
    for name, (general, help_) in plan.items():
        for channel, count in (("general", general), ("help", help_)):
            for _ in range(count):
                n += 1
                events.append(
                    message(tenant, community, member(name), now, n=n, channel_id=channel)
                )
    old = now - timedelta(days=3)
    for _ in range(5):
        n += 1
        events.append(message(tenant, community, member("ann"), old, n=n))
    envelopes = [event.to_envelope() for event in events]
    await g.send("community.events.v1", envelopes)
    await g.wait_processed({e.id for e in envelopes})
    return community, {name: 10 * (a + b) for name, (a, b) in plan.items()}


async def board(g: Gamification, community: str, **params: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 3, **params, **({"cursor": cursor} if cursor else {})}
        answer = await g.get(f"/v1/gamification/communities/{community}/leaderboard", **query)
        assert answer.status_code == 200, answer.text
        entries += answer.json()["entries"]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return entries


@pytest.mark.integration
async def test_boards_rank_densely_by_period_and_channel(g: Gamification) -> None:
    community, today = await seeded(g)
    all_time = await board(g, community)
    # Paged by 3, ranks run on across pages and ties share one: 80 | 30 30 30 | 20 | 10 …
    assert [(e["member_id"], e["points"], e["rank"]) for e in all_time[:6]] == [
        ("m-ann", 80, 1),
        ("m-bob", 30, 2),
        ("m-cid", 30, 2),
        ("m-dan", 20, 3),
        ("m-eve", 10, 4),
        ("m-x00", 10, 4),
    ]
    assert len(all_time) == 12 and {e["rank"] for e in all_time[4:]} == {4}
    daily = await board(g, community, period="daily")
    assert daily[:3] == [
        {"rank": 1, "member_id": "m-ann", "points": 30},
        {"rank": 1, "member_id": "m-bob", "points": 30},
        {"rank": 1, "member_id": "m-cid", "points": 30},
    ]
    assert {e["member_id"]: e["points"] for e in daily} == {f"m-{k}": v for k, v in today.items()}
    help_board = await board(g, community, period="yearly", channel="help")
    assert [(e["member_id"], e["points"], e["rank"]) for e in help_board] == [
        ("m-cid", 20, 1),
        ("m-bob", 10, 2),
    ]


@pytest.mark.integration
async def test_a_members_rank_and_neighbours(g: Gamification) -> None:
    community, _today = await seeded(g)
    base = f"/v1/gamification/communities/{community}/leaderboard/members"
    answer = await g.get(f"{base}/m-dan", neighbours=2)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["member"] == {"rank": 3, "member_id": "m-dan", "points": 20}
    assert found["above"] == [
        {"rank": 2, "member_id": "m-bob", "points": 30},
        {"rank": 2, "member_id": "m-cid", "points": 30},
    ]
    assert [e["member_id"] for e in found["below"]] == ["m-eve", "m-x00"]
    assert {e["rank"] for e in found["below"]} == {4}
    top = (await g.get(f"{base}/m-ann", neighbours=1)).json()
    assert top["above"] == [] and top["member"]["rank"] == 1
    assert (await g.get(f"{base}/m-nobody")).status_code == 404
    channel = (await g.get(f"{base}/m-bob", channel="help")).json()
    assert channel["member"] == {"rank": 2, "member_id": "m-bob", "points": 10}


@pytest.mark.integration
async def test_a_cursor_from_elsewhere_or_tampered_is_a_400(g: Gamification) -> None:
    community, _today = await seeded(g)
    path = f"/v1/gamification/communities/{community}/leaderboard"
    page = (await g.get(path, limit=2)).json()
    cursor = page["next_cursor"]
    assert cursor is not None
    position = decode_cursor(cursor)
    forged = [
        "not-a-cursor!",
        encode_cursor({**position, "p": "80"}),
        encode_cursor({**position, "k": "day"}),
        encode_cursor({k: v for k, v in position.items() if k != "m"}),
        encode_cursor({**position, "b": "x" * 500}),
    ]
    for bad in forged:
        answer = await g.get(path, limit=2, cursor=bad)
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    # The channel board's cursor does not page the community's board.
    help_page = (await g.get(path, limit=1, channel="general")).json()
    answer = await g.get(path, limit=2, cursor=help_page["next_cursor"])
    assert answer.status_code == 400
    # A forged rank cannot lift anyone: ranks are counted, never read from the cursor.
    second = (await g.get(path, limit=2, cursor=encode_cursor({**position, "r": 99}))).json()
    assert second["entries"][0]["rank"] == 2


@pytest.fixture
def g(gamification: Gamification) -> Gamification:
    return gamification
