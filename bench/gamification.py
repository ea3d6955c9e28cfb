"""Events per second into the gamification ledger, and leaderboard latency at 1M members.

Both on PostgreSQL, each beside a baseline measured in the same run.

Throughput (`--part throughput`):

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

Leaderboards (`--part leaderboard`): loads one board of `--board-members` members
(default 1,000,000; points log-uniform in 1..100,000, so many share low scores) into the
read model with generate_series, then times the service's own reads (`Leaderboards.top`
for the top 100, `points_of` + `rank_of` for one member's dense rank, `neighbours`) for
random members, beside the same answers computed live with `dense_rank() OVER` on the
same rows. Prints p50/p99 in ms. Everything lives in a throwaway schema, dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from ulid import ULID

from services.gamification.app import SPEC, setup
from services.gamification.domain.leaderboard import Board, Period
from services.gamification.leaderboard import Leaderboards
from services.gamification.tables import ledger, metadata
from shared.api.auth import Caller
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


BOARD = Board("tbench", "cbig", "", Period.ALL_TIME, "all")


async def load_board(db: Database, members: int) -> float:
    """One board of `members` members, and its score counts; seconds it took."""
    started = time.perf_counter()
    schema = db.schema
    async with db.engine.begin() as connection:
        await connection.execute(text("SELECT setseed(0.42)"))
        await connection.execute(
            text(
                f'INSERT INTO "{schema}".leaderboard_totals '
                "(tenant_id, community_id, channel_id, period, bucket, member_id, points) "
                "SELECT 'tbench', 'cbig', '', 'all_time', 'all', 'm' || g, "
                "floor(power(100000, random()))::int FROM generate_series(1, :n) AS g"
            ),
            {"n": members},
        )
        await connection.execute(
            text(
                f'INSERT INTO "{schema}".leaderboard_scores '
                "(tenant_id, community_id, channel_id, period, bucket, points, members) "
                "SELECT tenant_id, community_id, channel_id, period, bucket, points, count(*) "
                f'FROM "{schema}".leaderboard_totals GROUP BY 1, 2, 3, 4, 5, 6'
            )
        )
        await connection.execute(
            text(
                f'INSERT INTO "{schema}".leaderboard_score_blocks '
                "(tenant_id, community_id, channel_id, period, bucket, block, scores) "
                "SELECT tenant_id, community_id, channel_id, period, bucket, points / 512, "
                f'count(*) FROM "{schema}".leaderboard_scores GROUP BY 1, 2, 3, 4, 5, 6'
            )
        )
    async with db.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("leaderboard_totals", "leaderboard_scores", "leaderboard_score_blocks"):
            await autocommit.execute(text(f'VACUUM ANALYZE "{schema}".{table}'))
    return time.perf_counter() - started


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1000:7.2f} ms p99 {p99 * 1000:7.2f} ms (n={len(ordered)})"


class _Recorder:
    """Keeps the statements a session executes, to time them again inside PostgreSQL."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.statements: list[Any] = []
        self._execute = session.execute

    async def __aenter__(self) -> _Recorder:
        async def recording(statement: Any, *args: Any, **kwargs: Any) -> Any:
            self.statements.append(statement)
            return await self._execute(statement, *args, **kwargs)

        self.session.execute = recording
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.session.execute = self._execute


async def _server_ms(session: Any, statements: list[Any]) -> float:
    """Planning + execution time PostgreSQL reports for these statements, in seconds."""
    total = 0.0
    dialect = session.get_bind().dialect
    for statement in statements:
        sql = (
            statement
            if isinstance(statement, str)
            else str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        )
        plan = (await session.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"))).scalar_one()
        plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
        total += plan["Planning Time"] + plan["Execution Time"]
    return total / 1000


async def leaderboard_latency(db: Database, members: int, samples: int, live: int) -> None:
    loaded = await load_board(db, members)
    caller = Caller.system("tbench")
    rng = random.Random(5)
    board_sql = (
        f"FROM \"{db.schema}\".leaderboard_totals WHERE tenant_id = 'tbench' "
        "AND community_id = 'cbig' AND channel_id = '' AND period = 'all_time' "
        "AND bucket = 'all'"
    )
    live_top_sql = (
        "SELECT member_id, points, dense_rank() OVER (ORDER BY points DESC) "
        f"{board_sql} ORDER BY points DESC, member_id LIMIT 100"
    )
    live_rank_sql = (
        "SELECT r FROM (SELECT member_id, dense_rank() OVER "
        f"(ORDER BY points DESC) AS r {board_sql}) AS ranked WHERE member_id = '{{}}'"
    )
    async with db.sessions() as session:
        await session.execute(text(f'SET search_path TO "{db.schema}"'))
        distinct = (
            await session.execute(text(f'SELECT count(*) FROM "{db.schema}".leaderboard_scores'))
        ).scalar_one()
        boards = Leaderboards(session)
        kinds = ("top", "rank", "around", "live top", "live rank")
        client: dict[str, list[float]] = {kind: [] for kind in kinds}
        server: dict[str, list[float]] = {kind: [] for kind in kinds}
        checked = 0
        for n in range(samples):
            member = f"m{rng.randint(1, members)}"
            started = time.perf_counter()
            async with _Recorder(session) as top:
                rows = await boards.top(caller, BOARD, after=None, limit=100)
                await boards.rank_of(caller, BOARD, rows[0][1])
            client["top"].append(time.perf_counter() - started)
            started = time.perf_counter()
            async with _Recorder(session) as one:
                points = await boards.points_of(caller, BOARD, member)
                assert points is not None
                rank = await boards.rank_of(caller, BOARD, points)
            client["rank"].append(time.perf_counter() - started)
            started = time.perf_counter()
            async with _Recorder(session) as around:
                await boards.neighbours(caller, BOARD, points, member, 5)
            client["around"].append(time.perf_counter() - started)
            for kind, recorded in (("top", top), ("rank", one), ("around", around)):
                server[kind].append(await _server_ms(session, recorded.statements))
            if n >= live:
                continue
            started = time.perf_counter()
            await session.execute(text(live_top_sql))
            client["live top"].append(time.perf_counter() - started)
            started = time.perf_counter()
            found = (await session.execute(text(live_rank_sql.format(member)))).scalar_one()
            client["live rank"].append(time.perf_counter() - started)
            server["live top"].append(await _server_ms(session, [live_top_sql]))
            server["live rank"].append(await _server_ms(session, [live_rank_sql.format(member)]))
            assert found == rank, (member, found, rank)
            checked += 1
    print(f"board: {members} members, {distinct} distinct scores, loaded in {loaded:.1f} s")
    print("                                   round trip from Python            inside PostgreSQL")
    names = {
        "top": "top 100 (read model)",
        "rank": "one member's rank (read model)",
        "around": "5 + 5 neighbours (read model)",
        "live top": "top 100, live dense_rank() OVER",
        "live rank": "one rank, live dense_rank() OVER",
    }
    for kind in kinds:
        print(f"{names[kind]:34s} {_percentiles(client[kind])}   {_percentiles(server[kind])}")
    print(f"live ranks equal the read model's for {checked} members")


async def throughput(db: Database, args: argparse.Namespace) -> None:
    envelopes = traffic(args.events, args.members)
    rate = await ours(db, envelopes, args.batch, args.profile)
    plain_rate, rows = await baseline(db, args.events, args.batch)
    kit_rate = await kit_alone(db, envelopes, args.batch)
    print(f"events: {args.events}, batch: {args.batch}, members: {args.members}")
    print(f"ledger rows written: {rows}")
    print(f"ours (handlers, ledger, totals, boards, outbox): {rate:10.0f} events/s")
    print(f"plain multi-row INSERT of the same rows:         {plain_rate:10.0f} events/s")
    print(f"ratio ours / baseline: {rate / plain_rate:.3f}")
    print(f"the kit alone, handlers doing nothing:          {kit_rate:10.0f} events/s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--profile", help="write cProfile stats of our side here")
    parser.add_argument("--part", choices=["all", "throughput", "leaderboard"], default="all")
    parser.add_argument("--board-members", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1000, help="timed reads per kind")
    parser.add_argument("--live", type=int, default=20, help="live dense_rank() OVER queries")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database")
    db = Database(url, schema=f"bench_gamification_{str(ULID()).lower()}", pool_size=2)
    setup(None, db, None)  # as the host does: the service's session settings
    try:
        await upgrade(db, SPEC.migrations)
        if args.part in ("all", "throughput"):
            await throughput(db, args)
        if args.part in ("all", "leaderboard"):
            await leaderboard_latency(db, args.board_members, args.samples, args.live)
    finally:
        async with db.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE'))
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
