"""The SQLite bus keeps what it acknowledged: across a reopen, a kill -9, and other processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

from shared.bus.memory import InMemoryBus
from shared.bus.port import Outgoing
from shared.bus.sqlite import SqliteBus


async def fetch_all(bus: SqliteBus, topic: str, group: str, expected: int) -> list:
    consumer = bus.consumer([topic], group)
    await consumer.start()
    records: list = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            records.extend(await consumer.fetch(500, 0.5))
    finally:
        await consumer.stop()
    return records


async def test_records_and_committed_offsets_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    first = SqliteBus(path)
    await first.start()
    sent = [
        Outgoing("t", f"v{n}".encode(), f"k{n % 4}".encode(), (("h", b"\x00\xff"),))
        for n in range(20)
    ]
    await first.publish_many(sent)
    consumer = first.consumer(["t"], "g")
    await consumer.start()
    fetched = await consumer.fetch(100, 1)
    assert len(fetched) == 20
    done = {(r.topic, r.partition): r.offset + 1 for r in fetched if r.value != b"v19"}
    await consumer.commit(done)
    await consumer.stop()
    await first.stop()

    again = SqliteBus(path)
    await again.start()
    try:
        everything = await fetch_all(again, "t", "a-new-group", expected=20)
        rest = await fetch_all(again, "t", "g", expected=1)
    finally:
        await again.stop()
    assert sorted(r.value for r in everything) == sorted(m.value for m in sent)
    assert all(r.headers == (("h", b"\x00\xff"),) for r in everything)
    last_of = {r.partition for r in fetched if r.value == b"v19"}
    assert {r.partition for r in rest} == last_of, "the group resumes at its committed offsets"
    assert all(r.value != b"v0" for r in rest)


async def test_an_acknowledged_publish_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    child = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from shared.bus.port import Outgoing
        from shared.bus.sqlite import SqliteBus

        async def main():
            bus = SqliteBus({str(path)!r})
            await bus.start()
            await asyncio.gather(*(
                bus.publish_many([Outgoing("t", b"acked-%d" % n, b"k%d" % n)]) for n in range(50)
            ))
            os.kill(os.getpid(), signal.SIGKILL)  # no stop(), no flush, no atexit

        asyncio.run(main())
        """
    )
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", child], timeout=60, check=False
    )
    assert done.returncode == -9
    bus = SqliteBus(path)
    await bus.start()
    try:
        records = await fetch_all(bus, "t", "reader", expected=50)
    finally:
        await bus.stop()
    assert sorted(r.value for r in records) == sorted(b"acked-%d" % n for n in range(50))


async def test_concurrent_publishers_keep_per_key_order(tmp_path: Path) -> None:
    bus = SqliteBus(tmp_path / "bus.db")
    await bus.start()
    try:

        async def producer(key: int) -> None:
            for seq in range(20):
                await bus.publish_many([Outgoing("t", str(seq).encode(), f"k{key}".encode())])

        await asyncio.gather(*(producer(key) for key in range(30)))
        records = await fetch_all(bus, "t", "reader", expected=600)
    finally:
        await bus.stop()
    by_key: dict[bytes | None, list[int]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(int(record.value))
    assert len(records) == 600
    assert all(seqs == list(range(20)) for seqs in by_key.values())


async def test_a_running_consumer_sees_what_another_process_appends(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    bus = SqliteBus(path, poll_interval=0.1)
    await bus.start()
    consumer = bus.consumer(["t"], "g")
    await consumer.start()
    try:
        assert await consumer.fetch(10, 0.2) == []
        child = (
            "import asyncio\n"
            "from shared.bus.port import Outgoing\n"
            "from shared.bus.sqlite import SqliteBus\n"
            "async def main():\n"
            f"    bus = SqliteBus({str(path)!r})\n"
            "    await bus.start()\n"
            "    await bus.publish_many([Outgoing('t', b'from-outside', b'k')])\n"
            "    await bus.stop()\n"
            "asyncio.run(main())\n"
        )
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", child], timeout=60, check=True
        )
        seen: list = []
        deadline = asyncio.get_running_loop().time() + 30
        while not seen and asyncio.get_running_loop().time() < deadline:
            seen = await consumer.fetch(10, 1)
    finally:
        await consumer.stop()
        await bus.stop()
    assert [r.value for r in seen] == [b"from-outside"]


async def test_keys_land_in_the_same_partitions_as_on_the_in_memory_bus(tmp_path: Path) -> None:
    memory, durable = InMemoryBus(), SqliteBus(tmp_path / "bus.db")
    await durable.start()
    messages = [Outgoing("t", b"x", f"community-{n}:member-{n * 7}".encode()) for n in range(40)]
    try:
        await memory.publish_many(messages)
        await durable.publish_many(messages)
        records = await fetch_all(durable, "t", "reader", expected=40)
    finally:
        await durable.stop()
    assert {(r.key, r.partition) for r in records} == {
        (r.key, r.partition) for r in memory.records("t")
    }


async def test_backlog_counts_what_each_running_group_has_not_committed(tmp_path: Path) -> None:
    bus = SqliteBus(tmp_path / "bus.db")
    await bus.start()
    try:
        assert await bus.backlog() == {}
        await bus.publish_many([Outgoing("t", b"v", f"k{n}".encode()) for n in range(6)])
        await bus.publish_many([Outgoing("other", b"v", b"k")])
        busy, idle = bus.consumer(["t"], "busy"), bus.consumer(["t", "other"], "idle")
        await busy.start()
        await idle.start()
        assert await bus.backlog() == {"busy": 6, "idle": 7}
        records = await busy.fetch(100, 1)
        await busy.commit({(r.topic, r.partition): r.offset + 1 for r in records})
        assert await bus.backlog() == {"busy": 0, "idle": 7}
        await idle.stop()
        assert await bus.backlog() == {"busy": 0}
        await busy.stop()
    finally:
        await bus.stop()
