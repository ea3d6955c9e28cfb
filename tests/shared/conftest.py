"""Backends for the conformance suites: the same tests on Kafka+PostgreSQL and memory+SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import MetaData, text
from ulid import ULID

from shared.bus.memory import InMemoryBus
from shared.bus.port import Bus
from shared.bus.sqlite import SqliteBus
from shared.db.engine import Database


@dataclass
class Backend:
    """A bus and a fresh database (own PostgreSQL schema or own SQLite file)."""

    name: str
    bus: Bus
    db: Database

    def unique(self, prefix: str) -> str:
        """A topic or group name no other test uses."""
        return f"{prefix}-{str(ULID()).lower()}"


def _schema() -> str:
    return f"t_{str(ULID()).lower()}"


async def create_all(db: Database, metadata: MetaData) -> None:
    """Create the tables of `metadata` in the backend's database (its schema on PostgreSQL)."""
    if db.is_postgres:
        async with db.engine.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"'))
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)


async def drop_schema(db: Database) -> None:
    """Drop a test's PostgreSQL schema."""
    if db.is_postgres:
        async with db.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE'))


@pytest.fixture(params=["memory", "sqlite", "kafka"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """memory / sqlite: InMemoryBus or SqliteBus + SQLite file; kafka: real broker + PostgreSQL."""
    if request.param == "memory":
        bus: Bus = InMemoryBus()
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    elif request.param == "sqlite":
        bus = SqliteBus(tmp_path / "bus.db")
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    else:
        from shared.bus.kafka import KafkaBus

        bootstrap = request.getfixturevalue("kafka_bootstrap")
        url = request.getfixturevalue("postgres_url")
        bus = KafkaBus(bootstrap, client_id="hearth-test", session_timeout_ms=6000)
        db = Database(url, schema=_schema(), pool_size=5)
    await bus.start()
    try:
        yield Backend(request.param, bus, db)
    finally:
        await bus.stop()
        await drop_schema(db)
        await db.dispose()
