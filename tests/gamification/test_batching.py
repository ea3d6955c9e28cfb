"""A consumer batch scored at once gives exactly what one event at a time gives.

The batch decides in memory what each event would have read back from the ledger;
this runs the same deliveries (community events with moderation decisions among them,
tight caps and cooldowns so that they bite inside a batch) through the kit's processor
in batches of 300 and in batches of 1, on two embedded databases, and compares the
ledger, the totals and the published awards line for line.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

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
from tests.gamification.traffic import busy_community, decision

TENANT, COMMUNITY = "t-batch", "c-batch"

TIGHT = """\
time_zone: America/New_York
caps:
  - {per: day, points: 120}
rules:
  - id: message
    event: community.message.created
    random: {min: 5, max: 15}
    cooldown_seconds: 600
    caps: [{per: day, points: 80}]
  - id: thumbs
    event: community.reaction.added
    to: receiver
    points: 7
    pair_caps: [{per: day, points: 14}]
"""


def deliveries() -> list[Delivery]:
    """800 community events, with removals and restores of some messages among them."""
    rng = random.Random(3)
    events = busy_community(TENANT, COMMUNITY, 800, seed=5)
    messages = [e for e in events if e.type == "community.message.created"]
    items: list[tuple[str, Envelope]] = [("community.events.v1", e) for e in events]
    for subject in rng.sample(messages, 60):
        event = CommunityEvent.model_validate(subject.data)
        for removed in (True, False) if rng.random() < 0.4 else (True,):
            # Anywhere: before its subject arrives, in the same batch, or long after.
            at = rng.randrange(len(items) + 1)
            items.insert(
                at, ("moderation.decisions.v1", decision(TENANT, COMMUNITY, event, removed=removed))
            )
    return [
        Delivery(Record(topic, 0, offset, None, b""), envelope)
        for offset, (topic, envelope) in enumerate(items)
    ]


async def score(path: Path, items: list[Delivery], batch: int) -> dict[str, Any]:
    db = Database(f"sqlite+aiosqlite:///{path}", schema="gamification")
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
    await db.dispose()
    return {"lines": lines, "totals": totals, "published": published}


async def test_a_batch_scores_exactly_like_one_event_at_a_time(tmp_path: Path) -> None:
    items = deliveries()
    together = await score(tmp_path / "together.db", items, 300)
    one_by_one = await score(tmp_path / "one.db", items, 1)

    assert together["lines"] == one_by_one["lines"]
    assert together["totals"] == one_by_one["totals"]
    assert together["published"] == one_by_one["published"]
    # The caps, cooldowns and revocations did bite, inside batches too.
    reasons = {line[6] for line in together["lines"]}
    assert {"earned", "capped", "cooldown", "revoked", "restored"} <= reasons
