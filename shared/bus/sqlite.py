"""SQLite adapter: a durable log in one file (WAL), with Kafka's semantics, for the embedded mode.

Partitions (keys placed as the in-memory bus places them), per-key order, consumer groups
rebalanced among the members inside this process, committed offsets kept in the file, and
redelivery of whatever a member fetched but did not commit. `publish_many` returns only
after its transaction is committed; one writer task batches concurrent calls into one
transaction (group commit), so durability costs one sync per batch, not per message.

Offsets are assigned inside the write transaction (`BEGIN IMMEDIATE`), so another process
may append to the same file (e.g. `hearth dlq replay` beside `hearth dev`); consumers here
see such appends within `poll_interval`. Group membership is per process: one process
should own a consumer group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Literal, TypeVar

from shared.bus.groups import InProcessMember, assign_round_robin
from shared.bus.memory import partition_for_key
from shared.bus.port import (
    BusConsumer,
    BusUnavailable,
    CommitFailed,
    Headers,
    Outgoing,
    Record,
    TopicPartition,
)
from shared.observability.metrics import BUS_PUBLISHED_TOTAL

Synchronous = Literal["FULL", "NORMAL"]
_T = TypeVar("_T")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS partitions ("
    " topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,"
    " PRIMARY KEY (topic, partition)) WITHOUT ROWID",
    # A rowid table: rows of a kilobyte or more are slow in a WITHOUT ROWID b-tree.
    "CREATE TABLE IF NOT EXISTS records ("
    " topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,"
    " key BLOB, value BLOB NOT NULL, headers TEXT NOT NULL, timestamp_ms INTEGER NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS records_position ON records (topic, partition, offset)",
    "CREATE TABLE IF NOT EXISTS group_offsets ("
    " consumer_group TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,"
    " next_offset INTEGER NOT NULL, PRIMARY KEY (consumer_group, topic, partition)) WITHOUT ROWID",
)


def _encode_headers(headers: Headers) -> str:
    # latin-1 maps every byte to one code point, so any header value round-trips.
    return json.dumps([[name, value.decode("latin-1")] for name, value in headers])


def _decode_headers(text: str) -> Headers:
    return tuple((name, value.encode("latin-1")) for name, value in json.loads(text))


@dataclass
class _Write:
    """One caller's publish or offset commit, waiting for the next group commit."""

    messages: Sequence[Outgoing] = ()
    topics: Sequence[str] = ()
    group: str = ""
    offsets: Mapping[TopicPartition, int] = field(default_factory=dict)
    done: asyncio.Future[None] | None = None


class SqliteBus:
    """A bus kept in one SQLite file; every new topic has `partitions` partitions."""

    def __init__(
        self,
        path: str | Path,
        *,
        partitions: int = 3,
        synchronous: Synchronous = "FULL",
        poll_interval: float = 0.5,
        busy_timeout_ms: int = 10_000,
        max_batch_messages: int = 20_000,
    ) -> None:
        self.path = Path(path)
        self.partitions = partitions
        self.synchronous: Synchronous = synchronous
        self.poll_interval = poll_interval
        self._busy_timeout_ms = busy_timeout_ms
        self._max_batch = max_batch_messages
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_thread: ThreadPoolExecutor | None = None
        self._read_thread: ThreadPoolExecutor | None = None
        self._queue: asyncio.Queue[_Write | None] | None = None
        self._write_task: asyncio.Task[None] | None = None
        self._changed: asyncio.Condition | None = None
        self._topics: dict[str, int] = {}
        self._ends: dict[TopicPartition, int] = {}
        self._committed: dict[tuple[str, str, int], int] = {}
        self._members: dict[str, list[_SqliteConsumer]] = {}
        self._round_robin = count()

    # life cycle ---------------------------------------------------------

    async def start(self) -> None:
        """Open (or create) the file; BusUnavailable when it cannot be opened."""
        if self._writer is not None:
            return
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-bus-writer")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-bus-reader")
        try:
            self._writer = await self._in(self._write_thread, self._open_writer)
            self._reader = await self._in(self._read_thread, self._open_reader)
            await self._in(self._read_thread, self._load)
        except (sqlite3.Error, OSError) as exc:
            await self._close()
            raise BusUnavailable(f"bus file {self.path} could not be opened: {exc}") from exc
        self._queue = asyncio.Queue()
        self._changed = asyncio.Condition()
        self._write_task = asyncio.create_task(self._write_loop(), name="sqlite-bus-writer")

    async def stop(self) -> None:
        """Finish the writes already asked for, then close the file."""
        task, self._write_task = self._write_task, None
        if task is not None:
            assert self._queue is not None
            await self._queue.put(None)
            await task
        await self._close()

    async def ping(self) -> None:
        """Raise BusUnavailable unless the file answers a query."""
        try:
            await self._read(lambda con: con.execute("SELECT 1").fetchone())
        except (sqlite3.Error, RuntimeError) as exc:
            raise BusUnavailable(f"bus file {self.path} does not answer: {exc}") from exc

    # publishing ---------------------------------------------------------

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create missing topics (an empty publish that registers them)."""
        missing = [topic for topic in topics if topic not in self._topics]
        if missing:
            await self._submit(_Write(topics=missing))

    async def publish_many(self, messages: Sequence[Outgoing]) -> None:
        """Return once every message is committed to the file; else raise BusUnavailable."""
        if not messages:
            return
        for message in messages:
            if not isinstance(message.value, bytes):
                raise TypeError(f"message value must be bytes, not {type(message.value)}")
        await self._submit(_Write(messages=messages))
        per_topic: dict[str, int] = {}
        for message in messages:
            per_topic[message.topic] = per_topic.get(message.topic, 0) + 1
        for topic, published in per_topic.items():
            BUS_PUBLISHED_TOTAL.labels(topic=topic).inc(published)

    def consumer(self, topics: Sequence[str], group: str) -> BusConsumer:
        """A new member of `group` reading `topics`."""
        return _SqliteConsumer(self, tuple(topics), group)

    async def list_topics(self) -> list[str]:
        """Every topic in the file."""
        rows = await self._read(lambda con: con.execute("SELECT name FROM topics").fetchall())
        return sorted(name for (name,) in rows)

    # writing: one task, one transaction per batch of callers -------------

    async def _submit(self, write: _Write) -> None:
        if self._queue is None or self._write_task is None or self._write_task.done():
            raise BusUnavailable("the bus is not started")
        write.done = asyncio.get_running_loop().create_future()
        await self._queue.put(write)
        await write.done

    async def _write_loop(self) -> None:
        queue = self._queue
        assert queue is not None
        stopping = False
        while not stopping:
            first = await queue.get()
            if first is None:
                break
            batch, size = [first], len(first.messages)
            while not queue.empty() and size < self._max_batch:
                write = queue.get_nowait()
                if write is None:
                    stopping = True
                    break
                batch.append(write)
                size += len(write.messages)
            await self._commit_batch(batch)
        while not queue.empty():  # asked for after stop(): never written
            late = queue.get_nowait()
            if late is not None:
                _fail(late, BusUnavailable("the bus stopped"))

    async def _commit_batch(self, batch: list[_Write]) -> None:
        assert self._write_thread is not None
        try:
            ends, topics = await self._in(self._write_thread, self._write_sync, batch)
        except Exception as exc:  # the writer task must outlive any one bad batch
            if len(batch) > 1:
                # One caller's bad message must not fail the others: commit each alone.
                for write in batch:
                    await self._commit_batch([write])
                return
            _fail(batch[0], BusUnavailable(f"bus file {self.path} did not commit: {exc}"))
            return
        self._topics.update(topics)
        self._ends.update(ends)
        for write in batch:
            for (topic, partition), offset in write.offsets.items():
                self._committed[(write.group, topic, partition)] = offset
            if write.done is not None and not write.done.done():
                write.done.set_result(None)
        if any(write.messages for write in batch):
            assert self._changed is not None
            async with self._changed:
                self._changed.notify_all()

    def _write_sync(self, batch: list[_Write]) -> tuple[dict[TopicPartition, int], dict[str, int]]:
        con = self._writer
        assert con is not None
        now_ms = int(time.time() * 1000)
        topics: dict[str, int] = {}
        ends: dict[TopicPartition, int] = {}
        rows: list[tuple[object, ...]] = []
        con.execute("BEGIN IMMEDIATE")
        try:
            for write in batch:
                for topic in write.topics:
                    if topic not in topics:
                        self._topic_sync(con, topic, topics)
                for message in write.messages:
                    partitions = topics.get(message.topic) or self._topic_sync(
                        con, message.topic, topics
                    )
                    partition = (
                        next(self._round_robin) % partitions
                        if message.key is None
                        else partition_for_key(message.key, partitions)
                    )
                    tp = (message.topic, partition)
                    if tp not in ends:
                        ends[tp] = con.execute(
                            "SELECT next_offset FROM partitions WHERE topic = ? AND partition = ?",
                            tp,
                        ).fetchone()[0]
                    rows.append(
                        (
                            message.topic,
                            partition,
                            ends[tp],
                            message.key,
                            message.value,
                            _encode_headers(message.headers),
                            now_ms,
                        )
                    )
                    ends[tp] += 1
            con.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            con.executemany(
                "UPDATE partitions SET next_offset = ? WHERE topic = ? AND partition = ?",
                [(end, topic, partition) for (topic, partition), end in ends.items()],
            )
            con.executemany(
                "INSERT INTO group_offsets VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE"
                " SET next_offset = excluded.next_offset",
                [
                    (write.group, topic, partition, offset)
                    for write in batch
                    for (topic, partition), offset in write.offsets.items()
                ],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return ends, topics

    def _topic_sync(self, con: sqlite3.Connection, topic: str, topics: dict[str, int]) -> int:
        """The topic's partition count, creating the topic inside the open transaction."""
        row = con.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
        if row is None:
            con.execute("INSERT INTO topics VALUES (?, ?)", (topic, self.partitions))
            con.executemany(
                "INSERT INTO partitions VALUES (?, ?, 0)",
                [(topic, partition) for partition in range(self.partitions)],
            )
            partitions = self.partitions
        else:
            partitions = int(row[0])
        topics[topic] = partitions
        return partitions

    # reading --------------------------------------------------------------

    async def _read_partition(
        self, topic: str, partition: int, start: int, limit: int
    ) -> list[Record]:
        def query(con: sqlite3.Connection) -> list[Record]:
            rows = con.execute(
                "SELECT offset, key, value, headers, timestamp_ms FROM records"
                " WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?",
                (topic, partition, start, limit),
            ).fetchall()
            return [
                Record(topic, partition, offset, key, value, _decode_headers(headers), ts)
                for offset, key, value, headers, ts in rows
            ]

        return await self._read(query)

    async def _refresh(self, group: str | None = None) -> None:
        """Learn appends and topics made by other processes (and, for a group, its commits)."""

        def query(
            con: sqlite3.Connection,
        ) -> tuple[list[tuple[str, int]], list[tuple[str, int, int]], list[tuple[str, int, int]]]:
            topics = con.execute("SELECT name, partitions FROM topics").fetchall()
            ends = con.execute("SELECT topic, partition, next_offset FROM partitions").fetchall()
            committed = (
                con.execute(
                    "SELECT topic, partition, next_offset FROM group_offsets"
                    " WHERE consumer_group = ?",
                    (group,),
                ).fetchall()
                if group is not None
                else []
            )
            return topics, ends, committed

        topics, ends, committed = await self._read(query)
        self._topics.update(dict(topics))
        for topic, partition, end in ends:
            if end > self._ends.get((topic, partition), 0):
                self._ends[(topic, partition)] = end
        for topic, partition, offset in committed:
            self._committed[(group or "", topic, partition)] = offset

    async def backlog(self) -> dict[str, int]:
        """Records each consumer group running in this process has not committed, by group.

        Read from the file, so appends and commits of every process count; `{}` when no
        consumer runs here. All zeros means every event published so far is handled.
        """
        groups = {
            group: {topic for member in members for topic in member.topics}
            for group, members in self._members.items()
            if members
        }

        def query(
            con: sqlite3.Connection,
        ) -> tuple[list[tuple[str, int, int]], list[tuple[str, str, int, int]]]:
            ends = con.execute("SELECT topic, partition, next_offset FROM partitions").fetchall()
            committed = con.execute(
                "SELECT consumer_group, topic, partition, next_offset FROM group_offsets"
            ).fetchall()
            return ends, committed

        ends, committed = await self._read(query)
        done = {(group, topic, partition): offset for group, topic, partition, offset in committed}
        return {
            group: sum(
                end - done.get((group, topic, partition), 0)
                for topic, partition, end in ends
                if topic in topics
            )
            for group, topics in groups.items()
        }

    # group coordination (in this process) ------------------------------------

    def _partition_count(self, topic: str) -> int:
        return self._topics.get(topic, self.partitions)

    def _join(self, member: _SqliteConsumer) -> None:
        self._members.setdefault(member.group, []).append(member)
        self._rebalance(member.group)

    def _leave(self, member: _SqliteConsumer) -> None:
        members = self._members.get(member.group, [])
        if member in members:
            members.remove(member)
            self._rebalance(member.group)

    def _rebalance(self, group: str) -> None:
        for member, assigned in assign_round_robin(
            self._members.get(group, []), self._partition_count
        ):
            member._assign(assigned)

    def _committed_offset(self, group: str, topic_partition: TopicPartition) -> int:
        return self._committed.get((group, *topic_partition), 0)

    async def _commit(self, member: _SqliteConsumer, offsets: Mapping[TopicPartition, int]) -> None:
        foreign = [tp for tp in offsets if tp not in member._positions]
        if foreign:
            raise CommitFailed(f"partitions not assigned to this member: {foreign}")
        try:
            await self._submit(_Write(group=member.group, offsets=dict(offsets)))
        except BusUnavailable as exc:
            raise CommitFailed(str(exc)) from exc

    # threads ------------------------------------------------------------------

    async def _in(
        self, thread: ThreadPoolExecutor, function: Callable[..., _T], *args: object
    ) -> _T:
        return await asyncio.get_running_loop().run_in_executor(thread, function, *args)

    async def _read(self, query: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._reader is None or self._read_thread is None:
            raise BusUnavailable("the bus is not started")
        return await self._in(self._read_thread, query, self._reader)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        con.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        return con

    def _open_writer(self) -> sqlite3.Connection:
        con = self._connect()
        mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            con.close()
            raise sqlite3.OperationalError(f"journal_mode is {mode}, not wal")
        con.execute(f"PRAGMA synchronous = {self.synchronous}")
        for statement in _SCHEMA:
            con.execute(statement)
        return con

    def _open_reader(self) -> sqlite3.Connection:
        con = self._connect()
        con.execute("PRAGMA query_only = ON")
        return con

    def _load(self) -> None:
        con = self._reader
        assert con is not None
        self._topics = dict(con.execute("SELECT name, partitions FROM topics").fetchall())
        self._ends = {
            (topic, partition): end
            for topic, partition, end in con.execute(
                "SELECT topic, partition, next_offset FROM partitions"
            )
        }
        self._committed = {
            (group, topic, partition): offset
            for group, topic, partition, offset in con.execute("SELECT * FROM group_offsets")
        }

    async def _close(self) -> None:
        for thread, name in ((self._write_thread, "_writer"), (self._read_thread, "_reader")):
            con = getattr(self, name)
            setattr(self, name, None)
            if thread is not None and con is not None:
                await self._in(thread, con.close)
            if thread is not None:
                thread.shutdown(wait=True)
        self._write_thread = self._read_thread = None
        self._queue = None


def _fail(write: _Write, error: BaseException) -> None:
    if write.done is not None and not write.done.done():
        write.done.set_exception(error)


class _SqliteConsumer(InProcessMember):
    def __init__(self, bus: SqliteBus, topics: tuple[str, ...], group: str) -> None:
        super().__init__(topics, group, bus._committed_offset)
        self._bus = bus

    async def start(self) -> None:
        if not self._started:
            await self._bus._refresh(self.group)
            self._started = True
            self._bus._join(self)

    async def stop(self) -> None:
        if self._started:
            self._started = False
            self._bus._leave(self)

    async def fetch(self, max_records: int, timeout: float) -> list[Record]:
        if not self._started:
            raise RuntimeError("consumer not started")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0)
        while True:
            batch = await self._take(max_records)
            remaining = deadline - loop.time()
            if batch or remaining <= 0:
                return batch
            condition = self._bus._changed
            assert condition is not None
            async with condition:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        condition.wait(), timeout=min(remaining, self._bus.poll_interval)
                    )
            if self._available() == 0:
                await self._bus._refresh()  # appends by another process wake nobody here

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        await self._bus._commit(self, offsets)

    def lag(self) -> dict[TopicPartition, int]:
        return {
            tp: max(self._bus._ends.get(tp, 0) - position, 0)
            for tp, position in self._positions.items()
        }

    def _available(self) -> int:
        return sum(self.lag().values())

    async def _take(self, max_records: int) -> list[Record]:
        taken: list[Record] = []
        for tp, position in sorted(self._positions.items()):
            if len(taken) >= max_records:
                break
            if self._bus._ends.get(tp, 0) <= position:
                continue
            chunk = await self._bus._read_partition(*tp, position, max_records - len(taken))
            if self._positions.get(tp) != position:
                continue  # the partition moved to another member while we read
            if chunk:
                taken.extend(chunk)
                self._positions[tp] = chunk[-1].offset + 1
        return taken
