"""Readiness says so while the outbox relay keeps crashing, and recovers with it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from shared.bus.memory import InMemoryBus
from shared.db.engine import Database
from shared.db.outbox import OutboxRelay, RelayStalled
from shared.db.tables import outbox_table, service_metadata
from tests.shared.conftest import create_all


async def test_a_relay_that_crashed_is_not_ready_until_it_publishes_again(tmp_path: Path) -> None:
    metadata = service_metadata()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}")
    relay = OutboxRelay(db, InMemoryBus(), outbox_table(metadata), service="test", interval=0.05)
    await relay.check()  # a relay that has not run yet is not failing

    with pytest.raises(Exception, match="no such table"):
        await relay._publish_forever()  # the table is missing: the loop crashes
    with pytest.raises(RelayStalled):
        await relay.check()

    await create_all(db, metadata)
    running = asyncio.create_task(relay._publish_forever())
    try:
        for _ in range(100):
            try:
                await relay.check()
                break
            except RelayStalled:
                await asyncio.sleep(0.05)
        await relay.check()
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await db.dispose()
