"""The Bus port: what every service needs from a message broker, whichever adapter runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shared.events.envelope import Envelope

Headers = tuple[tuple[str, bytes], ...]
TopicPartition = tuple[str, int]


class BusUnavailable(RuntimeError):
    """The broker could not durably accept or serve messages right now; try again later."""


class CommitFailed(RuntimeError):
    """Offsets could not be committed, e.g. the partition moved to another group member."""


@dataclass(frozen=True)
class Record:
    """One message as read from a topic partition."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers = field(default_factory=tuple)
    timestamp_ms: int = 0


@dataclass(frozen=True)
class Outgoing:
    """One message to publish."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: Headers = field(default_factory=tuple)


class BusConsumer(Protocol):
    """A member of a consumer group reading some topics."""

    async def start(self) -> None:
        """Join the group; positions start at the group's committed offsets (else earliest)."""

    async def stop(self) -> None:
        """Leave the group without committing anything."""

    async def fetch(self, max_records: int, timeout: float) -> list[Record]:
        """Up to `max_records` records, per-partition order kept; waits up to `timeout` s."""

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit the next offset to read per partition; raise CommitFailed when not allowed."""

    def lag(self) -> dict[TopicPartition, int]:
        """Records not yet fetched per assigned partition, as far as this member knows."""


class Bus(Protocol):
    """Publish durably and consume in groups; adapters: Kafka and in-memory."""

    async def start(self) -> None:
        """Connect; raise BusUnavailable when the broker cannot be reached."""

    async def stop(self) -> None:
        """Flush and disconnect."""

    async def publish_many(self, messages: Sequence[Outgoing]) -> None:
        """Return once every message is durably stored (acks=all); else raise BusUnavailable."""

    def consumer(self, topics: Sequence[str], group: str) -> BusConsumer:
        """A new, not yet started member of consumer group `group`."""

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create the topics that do not exist yet."""

    async def ping(self) -> None:
        """Raise BusUnavailable unless the broker answers a metadata request."""


def envelope_message(topic: str, envelope: Envelope) -> Outgoing:
    """Encode a CloudEvent for `topic` in the Kafka binary content mode."""
    key, value, headers = envelope.to_kafka()
    return Outgoing(topic=topic, value=value, key=key, headers=tuple(headers))


async def publish(bus: Bus, topic: str, envelope: Envelope) -> None:
    """Publish one CloudEvent durably."""
    await bus.publish_many([envelope_message(topic, envelope)])
