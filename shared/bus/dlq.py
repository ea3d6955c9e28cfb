"""Dead letters: list what is parked in `<topic>.<group>.dlq`, and re-drive it after a fix.

Reading never disturbs anything: a throwaway consumer group that commits nothing.
Re-driving publishes the original record (key, body, headers without the `hearth_*`
error headers) to its original topic again; consumers dedupe by event id, so re-driving
an event twice applies it once. Every re-drive is recorded in `<dlq topic>.replayed`
(one record per dead letter), so a replay without ids skips what was re-driven before.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ulid import ULID

from shared.bus.port import Bus, Headers, Outgoing, Record
from shared.bus.runtime import (
    DLQ_ATTEMPTS,
    DLQ_ERROR_MESSAGE,
    DLQ_ERROR_TYPE,
    DLQ_GROUP,
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_TOPIC,
)

DLQ_SUFFIX = ".dlq"
REPLAYED_SUFFIX = ".replayed"
ERROR_HEADER_PREFIX = "hearth_"


class UnknownDeadLetter(LookupError):
    """No dead letter has one of the ids asked for."""


@dataclass(frozen=True)
class DeadLetter:
    """One parked record, with what its headers say about the failure."""

    record: Record
    original_topic: str
    original_partition: int | None
    original_offset: int | None
    group: str | None
    event_id: str | None
    event_type: str | None
    error_type: str
    error_message: str
    attempts: int | None
    replayed: bool

    @property
    def id(self) -> str:
        """The event id, or `<partition>@<offset>` in the DLQ for a record that has none."""
        return self.event_id or f"{self.record.partition}@{self.record.offset}"

    def original(self) -> Outgoing:
        """The record as it was before it was parked, addressed to its original topic."""
        headers = tuple(
            (name, value)
            for name, value in self.record.headers
            if not name.startswith(ERROR_HEADER_PREFIX)
        )
        return Outgoing(self.original_topic, self.record.value, self.record.key, headers)


def dlq_topics(topics: Collection[str], *, group: str | None, topic: str | None) -> list[str]:
    """The dead-letter topics among `topics`, narrowed to a group and an original topic."""
    return sorted(
        name
        for name in topics
        if name.endswith(DLQ_SUFFIX)
        and (group is None or name.endswith(f".{group}{DLQ_SUFFIX}"))
        and (topic is None or name.startswith(f"{topic}."))
    )


async def topic_names(bus: Bus) -> list[str]:
    """Every topic the bus holds (SQLite file or Kafka cluster)."""
    lister = getattr(bus, "list_topics", None)
    if lister is not None:
        names: list[str] = await lister()
        return names
    from shared.bus.kafka import KafkaBus

    if isinstance(bus, KafkaBus):
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(
            bootstrap_servers=bus.bootstrap_servers, client_id=f"{bus.client_id}-dlq"
        )
        await admin.start()
        try:
            return sorted(await admin.list_topics())
        finally:
            await admin.close()
    raise TypeError(f"cannot list the topics of {type(bus).__name__}")


async def read_to_end(bus: Bus, topics: Sequence[str], *, timeout: float = 60) -> list[Record]:
    """Every record of `topics`, read by a group of its own that commits nothing."""
    if not topics:
        return []
    consumer = bus.consumer(topics, f"hearth-dlq-reader-{str(ULID()).lower()}")
    await consumer.start()
    records: list[Record] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            batch = await consumer.fetch(1000, 1.0)
            records.extend(batch)
            lag = consumer.lag()
            if not batch and lag and not any(lag.values()):
                break
    finally:
        await consumer.stop()
    return records


async def list_dead_letters(
    bus: Bus, *, group: str | None = None, topic: str | None = None
) -> list[DeadLetter]:
    """The dead letters of `group` (else every group), oldest first per DLQ partition."""
    names = await topic_names(bus)
    queues = dlq_topics(names, group=group, topic=topic)
    logs = [f"{queue}{REPLAYED_SUFFIX}" for queue in queues if f"{queue}{REPLAYED_SUFFIX}" in names]
    records = await read_to_end(bus, [*queues, *logs])
    replayed: set[tuple[str, int, int]] = set()
    for record in records:
        if record.topic.endswith(REPLAYED_SUFFIX):
            marker = json.loads(record.value)
            queue = record.topic.removesuffix(REPLAYED_SUFFIX)
            replayed.add((queue, int(marker["partition"]), int(marker["offset"])))
    letters = [
        _dead_letter(record, (record.topic, record.partition, record.offset) in replayed)
        for record in records
        if record.topic.endswith(DLQ_SUFFIX)
    ]
    return sorted(letters, key=lambda d: (d.record.topic, d.record.partition, d.record.offset))


async def replay(bus: Bus, *, group: str, ids: Collection[str] = ()) -> list[DeadLetter]:
    """Re-drive `group`'s dead letters: those named by `ids`, else all not re-driven yet.

    Returns what was re-driven, one dead letter per event id.
    """
    letters = await list_dead_letters(bus, group=group)
    if ids:
        chosen = [letter for letter in letters if letter.id in ids]
        unknown = set(ids) - {letter.id for letter in chosen}
        if unknown:
            raise UnknownDeadLetter(", ".join(sorted(unknown)))
    else:
        chosen = [letter for letter in letters if not letter.replayed]
    latest: dict[str, DeadLetter] = {letter.id: letter for letter in chosen}
    if not latest:
        return []
    await bus.ensure_topics(sorted({letter.original_topic for letter in latest.values()}))
    # Re-driven first, recorded after: a crash between the two re-drives again next
    # time, which the consumers' dedupe by event id turns into a no-op.
    await bus.publish_many([letter.original() for letter in latest.values()])
    markers = [_marker(letter) for letter in chosen]
    await bus.ensure_topics(sorted({marker.topic for marker in markers}))
    await bus.publish_many(markers)
    return list(latest.values())


def _marker(letter: DeadLetter) -> Outgoing:
    body = {
        "partition": letter.record.partition,
        "offset": letter.record.offset,
        "event_id": letter.event_id,
        "replayed_at": datetime.now(UTC).isoformat(),
    }
    return Outgoing(
        f"{letter.record.topic}{REPLAYED_SUFFIX}",
        json.dumps(body).encode(),
        letter.event_id.encode() if letter.event_id else None,
    )


def _dead_letter(record: Record, replayed: bool) -> DeadLetter:
    headers = _text_headers(record.headers)
    group = headers.get(DLQ_GROUP)
    original = headers.get(DLQ_TOPIC) or _original_topic(record.topic, group)
    return DeadLetter(
        record=record,
        original_topic=original,
        original_partition=_int(headers.get(DLQ_PARTITION)),
        original_offset=_int(headers.get(DLQ_OFFSET)),
        group=group,
        event_id=headers.get("ce_id"),
        event_type=headers.get("ce_type"),
        error_type=headers.get(DLQ_ERROR_TYPE, "unknown"),
        error_message=headers.get(DLQ_ERROR_MESSAGE, ""),
        attempts=_int(headers.get(DLQ_ATTEMPTS)),
        replayed=replayed,
    )


def _text_headers(headers: Headers) -> dict[str, str]:
    return {name: value.decode("utf-8", "replace") for name, value in headers}


def _original_topic(queue: str, group: str | None) -> str:
    stem = queue.removesuffix(DLQ_SUFFIX)
    if group and stem.endswith(f".{group}"):
        return stem.removesuffix(f".{group}")
    return stem.rsplit(".", 1)[0]


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.lstrip("-").isdigit() else None
