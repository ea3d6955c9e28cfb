"""Replaying the same events with the same ruleset reproduces the ledger exactly.

10,000 community events (with removals and restores among them, under caps, cooldowns
and "random" XP) are scored through the kit's processor into two fresh databases, the
embedded one (SQLite) and PostgreSQL, in batches of 500 and of 400: both ledgers are
the same line for line, and so are the totals and the published event ids. A third
pass over the first database changes nothing.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from ulid import ULID

from services.gamification.app import SPEC
from services.gamification.tables import ledger, member_totals, metadata, rulesets
from shared.bus.port import Record
from shared.bus.runtime import Delivery
from shared.db.consuming import idempotent_processor
from shared.db.engine import Database
from shared.db.migrations import upgrade
from shared.db.tables import outbox_table, processed_table
from shared.events.community import CommunityEvent
from shared.events.envelope import Envelope
from tests.gamification.test_batching import TIGHT
from tests.gamification.traffic import busy_community, decision
from tests.shared.conftest import drop_schema

pytestmark = pytest.mark.integration

TENANT, COMMUNITY = "t-replay", "c-replay"


def deliveries(count: int) -> list[Delivery]:
    rng = random.Random(11)
    events = busy_community(TENANT, COMMUNITY, count, seed=13)
    messages = [e for e in events if e.type == "community.message.created"]
    items: list[tuple[str, Envelope]] = [("community.events.v1", e) for e in events]
    for subject in rng.sample(messages, count // 50):
        event = CommunityEvent.model_validate(subject.data)
        for removed in (True, False) if rng.random() < 0.5 else (True,):
            at = rng.randrange(len(items) + 1)
            items.insert(
                at, ("moderation.decisions.v1", decision(TENANT, COMMUNITY, event, removed=removed))
            )
    return [
        Delivery(Record(topic, 0, offset, None, b""), envelope)
        for offset, (topic, envelope) in enumerate(items)
    ]


async def replay(db: Database, items: list[Delivery], batch: int) -> dict[str, Any]:
    """Score `items` through the kit's processor; the ledger, totals and published ids."""
    process = idempotent_processor(
        db,
        group="g",
        handlers=SPEC.handlers,
        processed=processed_table(metadata),
        outbox=outbox_table(metadata),
        unit_of_work=SPEC.unit_of_work,
    )
    for start in range(0, len(items), batch):
        assert not await process(items[start : start + batch])
    async with db.sessions() as session:
        lines = [
            tuple(row)
            for row in await session.execute(
                select(
                    ledger.c.event_id,
                    ledger.c.source_event_id,
                    ledger.c.rule_id,
                    ledger.c.rule_version,
                    ledger.c.member_id,
                    ledger.c.kind,
                    ledger.c.points,
                    ledger.c.reason,
                    ledger.c.earned_at,
                ).order_by(ledger.c.id)
            )
        ]
        totals = {
            row.member_id: (row.points, row.level)
            for row in await session.execute(select(member_totals))
        }
        outbox = outbox_table(metadata)
        published = list(
            (await session.execute(select(outbox.c.event_id).order_by(outbox.c.id))).scalars()
        )
    lines = [(*line[:-1], _utc(line[-1])) for line in lines]
    return {"lines": lines, "totals": totals, "published": published}


async def fresh(db: Database) -> Database:
    await upgrade(db, SPEC.migrations)
    async with db.transaction() as session:
        await session.execute(
            rulesets.insert().values(
                tenant_id=TENANT,
                community_id=COMMUNITY,
                version=1,
                source=TIGHT,
                effective_from=datetime(2026, 1, 1, tzinfo=UTC),
                created_by="test",
            )
        )
    return db


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def test_replaying_the_same_events_reproduces_the_ledger_exactly(
    tmp_path: Any, postgres_url: str
) -> None:
    items = deliveries(10_000)
    embedded = await fresh(
        Database(f"sqlite+aiosqlite:///{tmp_path / 'replay.db'}", schema="gamification")
    )
    server = await fresh(
        Database(postgres_url, schema=f"gamification_replay_{str(ULID()).lower()}", pool_size=2)
    )
    try:
        first = await replay(embedded, items, 500)
        second = await replay(server, items, 400)
        assert len(first["lines"]) > 8_000
        assert second["lines"] == first["lines"]
        assert second["totals"] == first["totals"]
        assert second["published"] == first["published"]
        # The same events again into the same ledger: nothing new, nothing published.
        assert await replay(embedded, items, 500) == first
        reasons = {line[7] for line in first["lines"]}
        assert {"earned", "capped", "cooldown", "revoked", "restored"} <= reasons
    finally:
        await embedded.dispose()
        await drop_schema(server)
        await server.dispose()
