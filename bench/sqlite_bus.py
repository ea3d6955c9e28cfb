"""Throughput of the embedded durable bus (SQLite, WAL) with FULL and NORMAL sync.

Single webhooks: many concurrent callers publishing one event each (group commit batches
them). Batches: publish_many of 1,000 events. Messages are real CloudEvents as ingest
publishes them. Also: the cost of one round trip to a SQLite thread, stdlib executor vs
aiosqlite. Run: .venv/bin/python bench/sqlite_bus.py
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

import aiosqlite

from shared.bus.port import Outgoing, envelope_message
from shared.bus.sqlite import SqliteBus, Synchronous
from shared.events.envelope import Envelope


def message(n: int) -> Outgoing:
    envelope = Envelope(
        source="/hearth/ingest",
        type="community.message.created",
        partitionkey=f"community-{n % 10}:member-{n % 500}",
        tenantid="acme",
        data={"community_id": f"community-{n % 10}", "text": "x" * 300, "n": n},
    )
    return envelope_message("community.events.v1", envelope)


async def singles(bus: SqliteBus, total: int, concurrency: int) -> float:
    messages = [message(n) for n in range(total)]
    queue = iter(messages)

    async def caller() -> None:
        for outgoing in queue:
            await bus.publish_many([outgoing])

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def batches(bus: SqliteBus, total: int, size: int, concurrency: int) -> float:
    chunks = [[message(n) for n in range(i, i + size)] for i in range(0, total, size)]
    queue = iter(chunks)

    async def caller() -> None:
        for chunk in queue:
            await bus.publish_many(chunk)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def round_trips(path: Path, n: int = 2000) -> tuple[float, float]:
    from concurrent.futures import ThreadPoolExecutor

    thread = ThreadPoolExecutor(1)
    con = sqlite3.connect(path, check_same_thread=False)
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    for _ in range(n):
        await loop.run_in_executor(thread, lambda: con.execute("SELECT 1").fetchone())
    stdlib = (time.perf_counter() - started) / n * 1e6
    con.close()
    thread.shutdown()
    async with aiosqlite.connect(path) as acon:
        started = time.perf_counter()
        for _ in range(n):
            async with acon.execute("SELECT 1") as cursor:
                await cursor.fetchone()
        aio = (time.perf_counter() - started) / n * 1e6
    return stdlib, aio


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print("mode    sequential-singles/s  64-concurrent-singles/s  batches-of-1000/s")
        sync: Synchronous
        for sync in ("FULL", "NORMAL"):
            bus = SqliteBus(Path(tmp) / f"{sync}.db", synchronous=sync)
            await bus.start()
            one = await singles(bus, 1_000, 1)
            many = await singles(bus, 10_000, 64)
            big = await batches(bus, 100_000, 1_000, 4)
            await bus.stop()
            print(f"{sync:7} {one:20,.0f}  {many:23,.0f}  {big:17,.0f}")
        stdlib, aio = await round_trips(Path(tmp) / "rt.db")
        print(f"one SELECT round trip: stdlib+executor {stdlib:.0f} µs, aiosqlite {aio:.0f} µs")


if __name__ == "__main__":
    asyncio.run(main())
