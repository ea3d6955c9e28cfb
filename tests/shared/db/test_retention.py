"""Retention on SQLite and PostgreSQL: rows older than their retention go, newer ones stay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select
from ulid import ULID

from services.ingest.tables import idempotency_keys, metadata, received_events
from services.moderation.app import SPEC as MODERATION
from shared.bus.memory import InMemoryBus
from shared.db.engine import Database
from shared.db.retention import RetentionSettings, prune_once, retention_rules
from shared.db.tables import outbox_table, processed_table
from shared.events.envelope import utcnow
from shared.host import Host
from tests.shared.conftest import create_all, drop_schema

PROCESSED = processed_table(metadata)
OUTBOX = outbox_table(metadata)


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'retention.db'}")
    else:
        url = request.getfixturevalue("postgres_url")
        database = Database(url, schema=f"ret_{str(ULID()).lower()}", pool_size=3)
    yield database
    await drop_schema(database)
    await database.dispose()


async def insert_ages(db: Database, now: datetime) -> None:
    """Rows on both sides of each default retention, named by their age."""
    async with db.transaction() as session:
        await session.execute(
            PROCESSED.insert(),
            [
                {"consumer_group": "g", "event_id": name, "processed_at": now - age}
                for name, age in [
                    ("15d", timedelta(days=15)),
                    ("13d", timedelta(days=13)),
                    ("20d", timedelta(days=20)),
                ]
            ],
        )
        await session.execute(
            received_events.insert(),
            [
                {
                    "event_id": name,
                    "tenant_id": "t",
                    "community_id": "c",
                    "dedup_key": name,
                    "type": "message.created",
                    "platform": "telegram",
                    "occurred_at": now - age,
                    "ingested_at": now - age,
                    "payload": {"text": "member text"},
                }
                for name, age in [("31d", timedelta(days=31)), ("29d", timedelta(days=29))]
            ],
        )
        await session.execute(
            idempotency_keys.insert(),
            [
                {
                    "tenant_id": "t",
                    "key": name,
                    "request_hash": "h",
                    "status_code": 201,
                    "response": {},
                    "created_at": now - age,
                }
                for name, age in [("25h", timedelta(hours=25)), ("23h", timedelta(hours=23))]
            ],
        )
        await session.execute(
            OUTBOX.insert(),
            [
                {
                    "event_id": name,
                    "topic": "t",
                    "value": b"{}",
                    "headers": [],
                    "published_at": published,
                }
                for name, published in [
                    ("sent-2d", now - timedelta(days=2)),
                    ("sent-1h", now - timedelta(hours=1)),
                    ("pending", None),
                ]
            ],
        )


async def remaining(db: Database) -> dict[str, list[str]]:
    async with db.sessions() as session:
        return {
            "processed": sorted((await session.execute(select(PROCESSED.c.event_id))).scalars()),
            "received": sorted(
                (await session.execute(select(received_events.c.event_id))).scalars()
            ),
            "idempotency": sorted(
                (await session.execute(select(idempotency_keys.c.key))).scalars()
            ),
            "outbox": sorted((await session.execute(select(OUTBOX.c.event_id))).scalars()),
        }


async def test_rows_older_than_their_retention_go_and_newer_ones_stay(db: Database) -> None:
    await create_all(db, metadata)
    now = utcnow()
    await insert_ages(db, now)
    rules = retention_rules(metadata, RetentionSettings())
    deleted = await prune_once(db, rules, batch_size=1, now=now)  # one row per transaction
    assert deleted == {
        "outbox": 1,
        "processed_events": 2,
        "received_events": 1,
        "idempotency_keys": 1,
    }
    assert await remaining(db) == {
        "processed": ["13d"],
        "received": ["29d"],
        "idempotency": ["23h"],
        "outbox": ["pending", "sent-1h"],
    }
    assert await prune_once(db, rules, batch_size=1, now=now) == dict.fromkeys(deleted, 0)


def test_retention_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = RetentionSettings()
    assert (defaults.processed_events, defaults.received_events, defaults.idempotency_keys) == (
        timedelta(days=14),
        timedelta(days=30),
        timedelta(hours=24),
    )
    monkeypatch.setenv("HEARTH_RETENTION_RECEIVED_EVENTS", "P7D")
    monkeypatch.setenv("HEARTH_RETENTION_IDEMPOTENCY_KEYS", "PT1H")
    changed = RetentionSettings()
    assert (changed.received_events, changed.idempotency_keys) == (
        timedelta(days=7),
        timedelta(hours=1),
    )


async def test_the_host_prunes_a_running_service(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'moderation.db'}")
    processed = processed_table(MODERATION.metadata)
    host = Host(
        [(MODERATION, db)],
        bus=InMemoryBus(),
        tenancy_db=Database(f"sqlite+aiosqlite:///{tmp_path / 'tenancy.db'}"),
        retention=RetentionSettings(every=timedelta(seconds=0.05)),
    )
    await host.start()
    try:
        now = utcnow()
        async with db.transaction() as session:
            await session.execute(
                processed.insert(),
                [
                    {
                        "consumer_group": "g",
                        "event_id": "old",
                        "processed_at": now - timedelta(days=15),
                    },
                    {"consumer_group": "g", "event_id": "new", "processed_at": now},
                ],
            )
        deadline = time.monotonic() + 20
        while await event_ids(db, MODERATION.metadata) != ["new"]:
            assert time.monotonic() < deadline, "the host never pruned the old row"
            await asyncio.sleep(0.05)
    finally:
        await host.stop()


async def event_ids(db: Database, service_metadata: MetaData) -> list[str]:
    async with db.sessions() as session:
        query = select(processed_table(service_metadata).c.event_id)
        return sorted((await session.execute(query)).scalars())
