"""What the recent-message window and conflict detection cost moderation's consumer.

Runs moderation's message handler on PostgreSQL (a throwaway schema, migrated, dropped
after), one transaction per batch as the consumer does, for live chat traffic in a few
channels and threads, twice in the same run:

- `window + conflicts`: the defaults (each message kept in the community's bounded
  recent window, pruned to HEARTH_MODERATION_RECENT_MESSAGES, and its conversation's
  window read for conflict detection);
- baseline `no window`: `recent_messages = 0` and `conflicts: {enabled: false}`, i.e.
  the handler as it was before either existed.

Rules without classifiers, so the database work is what differs.

    DATABASE_URL=postgresql+asyncpg://... .venv/bin/python bench/moderation_window.py \
        --messages 3000 --batch 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ulid import ULID

from services.moderation.context import Engines, ModerationContext
from services.moderation.handlers import moderate_message
from services.moderation.settings import Settings
from services.moderation.tables import metadata
from services.moderation.uow import ModerationUoW
from shared.api.auth import Principal
from shared.db.engine import Database
from shared.db.migrations import upgrade
from shared.db.outbox import Outbox
from shared.db.tables import outbox_table
from shared.events.community import Actor, CommunityEvent, CommunityEventType, Content, Platform

MIGRATIONS = Path(__file__).parents[1] / "services" / "moderation" / "migrations"
RULES = """\
rules:
  - {id: rude, kind: keywords, words: [idiot], action: flag, reason: rude}
classifier: {enabled: false}
"""
NO_WINDOW = RULES + "conflicts: {enabled: false}\n"


def traffic(count: int, community: str, tenant: str) -> list[CommunityEvent]:
    """Messages of 40 members in 5 channels and 10 threads, some rude, many replies."""
    rng = random.Random(11)
    members = [Actor(platform_user_id=str(n), member_id=str(ULID())) for n in range(40)]
    start = datetime.now(UTC) - timedelta(hours=1)
    events = []
    for n in range(count):
        author, other = rng.sample(members, 2)
        events.append(
            CommunityEvent(
                type=CommunityEventType.MESSAGE_CREATED,
                occurred_at=start + timedelta(seconds=n),
                tenant_id=tenant,
                community_id=community,
                platform=Platform.TELEGRAM,
                channel_id=f"ch{rng.randrange(5)}",
                thread_id=f"t{rng.randrange(10)}" if rng.random() < 0.5 else None,
                source_event_id=f"m{n}",
                dedup_key=f"bench:{community}:{n}",
                actor=author,
                object_actor=other if rng.random() < 0.6 else None,
                content=Content(text="you idiot" if rng.random() < 0.1 else f"hello {n}"),
                attributes={"message_id": n},
            )
        )
    return events


async def run(
    db: Database, rules: str, keep: int, events: list[CommunityEvent], batch: int
) -> float:
    """Messages per second through the handler, one transaction per batch."""
    settings = Settings(recent_messages=keep)
    context = ModerationContext(settings, Engines(0.05), db=db)
    caller = Principal(tenant_id=events[0].tenant_id, key_id="bench", scopes=frozenset({"*"}))
    async with db.sessions() as session, session.begin():
        uow = ModerationUoW(session, Outbox(session, outbox_table(metadata)), context=context)
        await uow.rulesets.add(caller, events[0].community_id, rules)
    started = time.perf_counter()
    for offset in range(0, len(events), batch):
        async with db.sessions() as session, session.begin():
            uow = ModerationUoW(session, Outbox(session, outbox_table(metadata)), context=context)
            for event in events[offset : offset + batch]:
                await moderate_message(event, uow)
    return len(events) / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--keep", type=int, default=500)
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    db = Database(url, schema=f"bench_moderation_{str(ULID()).lower()}", pool_size=2)
    try:
        await upgrade(db, MIGRATIONS)
        tenant = "bench"
        results = {}
        for name, rules, keep in (
            ("baseline: no window", NO_WINDOW, 0),
            ("window + conflicts", RULES, args.keep),
        ):
            events = traffic(args.messages, f"c{str(ULID()).lower()}", tenant)
            results[name] = await run(db, rules, keep, events, args.batch)
        for name, rate in results.items():
            print(f"{name:24s} {rate:8.0f} msg/s")
        base = results["baseline: no window"]
        print(f"{'ratio':24s} {results['window + conflicts'] / base:8.2f}")
    finally:
        async with db.engine.begin() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE')
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
