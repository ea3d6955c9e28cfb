"""Events per second into the gamification ledger on PostgreSQL, beside a plain INSERT.

Runs the service's handlers through the kit's consumer processor (the code the host
runs for every consumer batch: dedup by processed_events, one transaction per batch,
handlers, outbox) on a throwaway schema, then inserts the same ledger rows with a plain
multi-row INSERT into a copy of the ledger table, batch for batch, as the baseline.

    DATABASE_URL=postgresql+asyncpg://... .venv/bin/python bench/gamification.py \
        --events 20000 --batch 500 --members 2000 [--profile out.prof]

Prints events/s for both sides and the ratio, and for reference the kit's own cost
(the same deliveries to handlers that do nothing: parsing, dedup, processed rows).
Events are a live community's traffic: messages (some from a bot), reactions to
others' messages, now and then a deletion.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from ulid import ULID

from services.gamification.app import SPEC, setup
from services.gamification.tables import ledger, metadata
from shared.bus.port import Record
from shared.bus.runtime import Delivery
from shared.db.consuming import UnitOfWork, idempotent_processor
from shared.db.engine import Database
from shared.db.migrations import upgrade
from shared.db.tables import outbox_table, processed_table
from shared.events.community import Actor, CommunityEvent, Content
from shared.events.envelope import Envelope


def traffic(count: int, members: int, seed: int = 11) -> list[Envelope]:
    """`count` events of one tenant in 4 communities, a few seconds apart."""
    rng = random.Random(seed)
    tenant = "tbench"
    people = [
        Actor(platform_user_id=f"p{i}", member_id=f"m{i}", username=f"u{i}") for i in range(members)
    ]
    bot = Actor(platform_user_id="pbot", member_id="mbot", username="bot", is_bot=True)
    at = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    recent: list[tuple[int, Actor, str]] = []
    events: list[CommunityEvent] = []
    for n in range(count):
        at += timedelta(milliseconds=rng.randint(50, 4000))
        community = f"c{n % 4}"
        base = {
            "occurred_at": at,
            "tenant_id": tenant,
            "community_id": community,
            "platform": "discord",
            "channel_id": "general",
            "dedup_key": f"discord:g:{n}",
        }
        roll = rng.random()
        if roll < 0.6 or len(recent) < 10:
            who = bot if rng.random() < 0.02 else rng.choice(people)
            events.append(
                CommunityEvent(
                    type="community.message.created",
                    source_event_id=f"msg-{n}",
                    actor=who,
                    content=Content(text=f"message number {n} with some words"),
                    **base,
                )
            )
            recent.append((n, who, community))
            recent = recent[-500:]
        elif roll < 0.97:
            of, author, where = rng.choice(recent)
            events.append(
                CommunityEvent(
                    **{**base, "community_id": where},
                    type="community.reaction.added",
                    source_event_id=f"msg-{of}",
                    parent_id=f"msg-{of}",
                    actor=rng.choice(people),
                    object_actor=author,
                    attributes={"reaction": {"name": "👍", "id": None}},
                )
            )
        else:
            of, _author, where = rng.choice(recent)
            events.append(
                CommunityEvent(
                    **{**base, "community_id": where},
                    type="community.message.deleted",
                    source_event_id=f"msg-{of}",
                    actor=Actor(platform_user_id="unknown"),
                )
            )
    return [event.to_envelope() for event in events]


def deliveries(envelopes: list[Envelope]) -> list[Delivery]:
    return [
        Delivery(Record("community.events.v1", 0, offset, None, b""), envelope)
        for offset, envelope in enumerate(envelopes)
    ]


async def _nothing(event: CommunityEvent, uow: UnitOfWork) -> None:
    """A handler that does nothing: what the kit alone costs (parse, dedup, processed rows)."""


async def kit_alone(db: Database, envelopes: list[Envelope], batch: int) -> float:
    process = idempotent_processor(
        db,
        group="bench-kit",
        handlers={event_type: _nothing for event_type in SPEC.handlers},
        processed=processed_table(metadata),
        outbox=outbox_table(metadata),
    )
    items = deliveries(envelopes)
    started = time.perf_counter()
    for start in range(0, len(items), batch):
        await process(items[start : start + batch])
    return len(items) / (time.perf_counter() - started)


async def ours(db: Database, envelopes: list[Envelope], batch: int, profile: str | None) -> float:
    process = idempotent_processor(
        db,
        group="bench-gamification",
        handlers=SPEC.handlers,
        processed=processed_table(metadata),
        outbox=outbox_table(metadata),
        unit_of_work=SPEC.unit_of_work,
    )
    items = deliveries(envelopes)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    for start in range(0, len(items), batch):
        await process(items[start : start + batch])
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    if profiler and profile:
        profiler.dump_stats(profile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(35)
    return len(items) / elapsed


async def baseline(db: Database, count: int, batch: int) -> tuple[float, int]:
    """The ledger rows our side wrote, inserted again with a plain multi-row INSERT."""
    async with db.sessions() as session:
        rows = [dict(row._mapping) for row in await session.execute(select(ledger))]
    async with db.engine.begin() as connection:
        await connection.execute(
            text(f'CREATE TABLE "{db.schema}".plain (LIKE "{db.schema}".ledger INCLUDING ALL)')
        )
    plain = ledger.to_metadata(metadata.__class__(schema=db.schema), name="plain")
    # The same number of transactions as events were delivered in batches of `batch`.
    per_batch = max(1, round(len(rows) * batch / count))
    started = time.perf_counter()
    for start in range(0, len(rows), per_batch):
        async with db.transaction() as session:
            await session.execute(plain.insert(), rows[start : start + per_batch])
    elapsed = time.perf_counter() - started
    return count / elapsed, len(rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--profile", help="write cProfile stats of our side here")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database")
    db = Database(url, schema=f"bench_gamification_{str(ULID()).lower()}", pool_size=2)
    setup(None, db, None)  # as the host does: the service's session settings
    try:
        await upgrade(db, SPEC.migrations)
        envelopes = traffic(args.events, args.members)
        rate = await ours(db, envelopes, args.batch, args.profile)
        plain_rate, rows = await baseline(db, args.events, args.batch)
        kit_rate = await kit_alone(db, envelopes, args.batch)
        print(f"events: {args.events}, batch: {args.batch}, members: {args.members}")
        print(f"ledger rows written: {rows}")
        print(f"ours (handlers, ledger, totals, outbox): {rate:10.0f} events/s")
        print(f"plain multi-row INSERT of the same rows: {plain_rate:10.0f} events/s")
        print(f"ratio ours / baseline: {rate / plain_rate:.3f}")
        print(f"the kit alone, handlers doing nothing:  {kit_rate:10.0f} events/s")
    finally:
        async with db.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE'))
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
