"""The bus: a port with Kafka, SQLite and in-memory adapters, and the consumer runtime."""

from pathlib import Path

from shared.bus.memory import InMemoryBus
from shared.bus.port import (
    Bus,
    BusConsumer,
    BusUnavailable,
    CommitFailed,
    Outgoing,
    Record,
    envelope_message,
    publish,
)
from shared.bus.runtime import ConsumerRuntime, Delivery, RetryPolicy

__all__ = [
    "Bus",
    "BusConsumer",
    "BusUnavailable",
    "CommitFailed",
    "ConsumerRuntime",
    "Delivery",
    "InMemoryBus",
    "Outgoing",
    "Record",
    "RetryPolicy",
    "envelope_message",
    "publish",
]


def create_bus(
    kind: str, *, bootstrap_servers: str = "", path: str | Path = "", **kafka_options: object
) -> Bus:
    """Build the adapter named by `kind`: "kafka", "sqlite" (a file at `path`) or "memory"."""
    if kind == "memory":
        return InMemoryBus()
    if kind == "sqlite":
        if not path:
            raise ValueError("the sqlite bus needs the path of its file")
        from shared.bus.sqlite import SqliteBus

        return SqliteBus(path)
    if kind == "kafka":
        from shared.bus.kafka import KafkaBus

        return KafkaBus(bootstrap_servers, **kafka_options)  # type: ignore[arg-type]
    raise ValueError(f"unknown bus kind {kind!r}")
