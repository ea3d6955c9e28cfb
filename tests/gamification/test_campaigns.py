"""Campaigns: entries by tag in their channels, votes from distinct members (never the
author, once per member per entry), winners at the close, announced through ingest."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from ulid import ULID

from services.gamification.app import SPEC, setup
from services.gamification.campaigns import Campaigns
from services.gamification.domain.campaigns import CampaignSpec, Entry, standings, winners
from services.gamification.tables import ledger, metadata, rulesets
from shared.api.auth import Caller
from shared.bus.port import Record
from shared.bus.runtime import Delivery
from shared.db.consuming import idempotent_processor
from shared.db.engine import Database
from shared.db.migrations import upgrade
from shared.db.tables import outbox_table, processed_table
from shared.events.community import Actor, CommunityEvent, Content
from tests.gamification.conftest import Gamification
from tests.gamification.traffic import member, message
from tests.shared.conftest import drop_schema

T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)


def test_the_order_by_votes_entries_and_jury() -> None:
    def spec(scoring: str) -> CampaignSpec:
        return CampaignSpec(
            name="c",
            platform="discord",
            starts_at=T0,
            ends_at=T0 + timedelta(days=1),
            tag="c",
            scoring=scoring,
            winners=2,
        )

    entries = [
        Entry("e1", "ann", T0 + timedelta(minutes=1), votes=3, jury_rank=2),
        Entry("e2", "bob", T0 + timedelta(minutes=2), votes=3, jury_rank=None),
        Entry("e3", "ann", T0 + timedelta(minutes=3), votes=5, jury_rank=1),
        Entry("e4", "cid", T0 + timedelta(minutes=4), votes=0),
    ]
    # By votes: ann's best entry places her once, her other one gives bob's tie no
    # competition; cid has no votes and no place.
    assert [(w.member_id, w.entry_id, w.score) for w in winners(spec("votes"), entries)] == [
        ("ann", "e3", 5),
        ("bob", "e2", 3),
    ]
    assert [s.member_id for s in standings(spec("entries"), entries)] == ["ann", "bob", "cid"]
    assert [w.entry_id for w in winners(spec("jury"), entries)] == ["e3"]


def test_a_spec_says_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="ends_at must be after starts_at"):
        CampaignSpec(name="c", platform="discord", starts_at=T0, ends_at=T0, tag="x")
    with pytest.raises(ValueError, match="needs a tag"):
        CampaignSpec(name="c", platform="discord", starts_at=T0, ends_at=T0 + timedelta(1))


def post(
    tenant: str, community: str, who: Actor, at: datetime, n: int, text: str, **kw: Any
) -> CommunityEvent:
    return message(
        tenant,
        community,
        who,
        at,
        n=n,
        channel_id=kw.pop("channel", "art"),
        content=Content(text=text),
        **kw,
    )


def vote(
    tenant: str,
    community: str,
    who: Actor,
    author: Actor,
    at: datetime,
    n: int,
    of: int,
    emoji: str,
) -> CommunityEvent:
    return message(
        tenant,
        community,
        who,
        at,
        n=n,
        type="community.reaction.added",
        channel_id="art",
        parent_id=f"msg-{of}",
        source_event_id=f"msg-{of}",
        dedup_key=f"discord:g:reaction-{n}",
        object_actor=author,
        content=None,
        attributes={"reaction": {"name": emoji, "id": None}},
    )


async def published_actions(g: Gamification, community: str) -> list[dict[str, Any]]:
    outbox = outbox_table(metadata)
    async with g.db.sessions() as session:
        rows = await session.execute(
            select(outbox.c.value).where(outbox.c.topic == "moderation.actions.v1")
        )
        found = [json.loads(value) for value in rows.scalars()]
    return [f for f in found if f.get("community_id") == community]


@pytest.mark.integration
async def test_self_votes_and_duplicate_votes_do_not_crown_the_wrong_winner(
    g: Gamification,
) -> None:
    tenant, community = g.tenant_id, f"c{ULID()}".lower()
    ann, bob, cid, dan = member("ann"), member("bob"), member("cid"), member("dan")
    voters = [member(f"v{n}") for n in range(3)]
    now = datetime.now(UTC)
    hello = post(tenant, community, ann, now, 0, "hello")
    await g.send("community.events.v1", [hello.to_envelope()])
    await g.wait_processed({hello.event_id})
    base = f"/v1/gamification/communities/{community}/campaigns"
    spec = {
        "name": "Fan art contest",
        "platform": "discord",
        "starts_at": (now - timedelta(hours=2)).isoformat(),
        "ends_at": (now - timedelta(minutes=1)).isoformat(),
        "channels": ["art"],
        "entry_by": "tag",
        "tag": "fanart",
        "scoring": "votes",
        "winners": 2,
        "winner_role": "role-champion",
        "announce_channel": "announcements",
    }
    created = await g.client.post(base, json=spec, headers=g.auth())
    assert created.status_code == 201, created.text
    campaign_id = created.json()["campaign_id"]

    at = now - timedelta(hours=1)
    events = [
        post(tenant, community, ann, at, 1, "my #FanArt piece"),  # entry A
        post(tenant, community, bob, at, 2, "#fanart here's mine"),  # entry B
        post(tenant, community, cid, at, 3, "no tag, no entry"),
        post(tenant, community, dan, at, 4, "#fanart in the wrong channel", channel="general"),
        post(tenant, community, dan, now + timedelta(hours=1), 5, "#fanart too late"),
    ]
    # Ann votes for herself three times and one voter reacts to her twice, the same
    # reaction arriving twice as well; bob gets two honest votes.
    events += [vote(tenant, community, ann, ann, at, 10 + k, 1, e) for k, e in enumerate("👍❤🔥")]
    events += [
        vote(tenant, community, voters[0], ann, at, 20, 1, "👍"),
        vote(tenant, community, voters[0], ann, at, 21, 1, "❤"),
        vote(tenant, community, voters[0], ann, at, 22, 1, "👍"),
        vote(tenant, community, voters[1], bob, at, 23, 2, "👍"),
        vote(tenant, community, voters[2], bob, at, 24, 2, "👍"),
        vote(tenant, community, bob, bob, at, 25, 2, "👍"),
    ]
    envelopes = [event.to_envelope() for event in events]
    await g.send("community.events.v1", envelopes)
    await g.wait_processed({e.id for e in envelopes})

    running = (await g.get(f"{base}/{campaign_id}")).json()
    assert running["status"] == "ended"
    assert [(p["member_id"], p["score"]) for p in running["standings"]] == [
        ("m-bob", 2),
        ("m-ann", 1),
    ]

    closed = await g.client.post(f"{base}/{campaign_id}/close", headers=g.auth())
    assert closed.status_code == 200, closed.text
    crowned = closed.json()["winners"]
    assert [(w["place"], w["member_id"], w["score"]) for w in crowned] == [
        (1, "m-bob", 2),
        (2, "m-ann", 1),
    ]
    assert crowned[0]["entry_id"] == events[1].event_id
    again = await g.client.post(f"{base}/{campaign_id}/close", headers=g.auth())
    assert again.status_code == 409
    actions = await published_actions(g, community)
    announce = [a for a in actions if a["action"] == "announce"]
    roles = sorted(
        (a["platform_user_id"], a["role_id"]) for a in actions if a["action"] == "grant_role"
    )
    assert len(announce) == 1 and announce[0]["channel_id"] == "announcements"
    assert "Fan art contest" in announce[0]["text"] and "m-bob" in announce[0]["text"]
    assert roles == [("p-ann", "role-champion"), ("p-bob", "role-champion")]

    # A campaign that still runs cannot be closed; a bad spec is a 422 naming the field.
    later = {**spec, "ends_at": (now + timedelta(days=1)).isoformat()}
    running_id = (await g.client.post(base, json=later, headers=g.auth())).json()["campaign_id"]
    early = await g.client.post(f"{base}/{running_id}/close", headers=g.auth())
    assert early.status_code == 409
    bad = await g.client.post(base, json={**spec, "tag": None}, headers=g.auth())
    assert bad.status_code == 422 and "tag" in bad.text


@pytest.fixture
def g(gamification: Gamification) -> Gamification:
    return gamification


FLAT = """\
time_zone: UTC
rules:
  - id: message
    event: community.message.created
    points: 10
"""


@pytest.mark.integration
async def test_points_are_multiplied_in_a_campaigns_channels_while_it_runs(db: Database) -> None:
    tenant, community = "t-multiplied", "c-multiplied"
    async with db.transaction() as session:
        await session.execute(
            rulesets.insert().values(
                tenant_id=tenant,
                community_id=community,
                version=1,
                source=FLAT,
                effective_from=T0 - timedelta(days=30),
                created_by="test",
            )
        )
        spec = CampaignSpec(
            name="Double XP in #art",
            platform="discord",
            starts_at=T0,
            ends_at=T0 + timedelta(hours=2),
            channels=["art"],
            tag="art",
            multiplier=2.5,
        )
        await Campaigns(session).create(Caller.system(tenant), community, spec)
    ann = member("ann")
    events = [
        post(tenant, community, ann, T0 + timedelta(minutes=1), 1, "in art, running"),
        post(tenant, community, ann, T0 + timedelta(minutes=2), 2, "elsewhere", channel="general"),
        post(tenant, community, ann, T0 + timedelta(hours=3), 3, "in art, over"),
        post(tenant, community, ann, T0 - timedelta(hours=1), 4, "in art, not yet"),
    ]
    process = idempotent_processor(
        db,
        group="g",
        handlers=SPEC.handlers,
        processed=processed_table(metadata),
        outbox=outbox_table(metadata),
        unit_of_work=SPEC.unit_of_work,
    )
    items = [
        Delivery(Record("community.events.v1", 0, n, None, b""), event.to_envelope())
        for n, event in enumerate(events)
    ]
    assert not await process(items)
    async with db.sessions() as session:
        points = {
            row.source_event_id: row.points
            for row in await session.execute(select(ledger.c.source_event_id, ledger.c.points))
        }
    assert [points[e.event_id] for e in events] == [25, 10, 10, 10]


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", schema="gamification")
    else:
        url = request.getfixturevalue("postgres_url")
        database = Database(url, schema=f"campaigns_{str(ULID()).lower()}", pool_size=2)
        setup(None, database, None)
    await upgrade(database, SPEC.migrations)
    try:
        yield database
    finally:
        if request.param == "postgresql":
            await drop_schema(database)
        await database.dispose()
