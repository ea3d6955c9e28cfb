"""Only one ingest process runs the connectors: a bot allows one poller or gateway."""

from __future__ import annotations

import asyncio

import pytest
from ulid import ULID

from services.ingest.connectors import connector_loops
from services.ingest.context import IngestContext
from services.ingest.secrets import SecretBox
from services.ingest.settings import Settings
from shared.bus.memory import InMemoryBus
from shared.db.engine import Database


@pytest.mark.integration
async def test_a_second_process_waits_until_the_first_lets_go(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []

    async def fake_run(self, every: float) -> None:  # the fleet's loop, reduced to a marker
        started.append(self.platform)
        await asyncio.Event().wait()

    monkeypatch.setattr("services.ingest.connectors.fleet.Fleet.run", fake_run)
    db = Database(postgres_url, schema=f"lead_{str(ULID()).lower()}", pool_size=4)
    settings = Settings(secrets_key=SecretBox.new_key())
    context = IngestContext(settings, db, InMemoryBus(), SecretBox(SecretBox.new_key()))
    first = [asyncio.create_task(loop()) for loop in connector_loops(context, reload_seconds=0.1)]
    await asyncio.sleep(0.5)
    assert sorted(started) == ["discord", "telegram"]
    second = [asyncio.create_task(loop()) for loop in connector_loops(context, reload_seconds=0.1)]
    await asyncio.sleep(0.5)
    assert len(started) == 2, "the second process must not start its own connectors"
    for task in first:
        task.cancel()
    await asyncio.gather(*first, return_exceptions=True)
    await asyncio.sleep(0.6)
    assert len(started) == 4, "when the first lets go, the second takes over"
    for task in second:
        task.cancel()
    await asyncio.gather(*second, return_exceptions=True)
    await db.dispose()
