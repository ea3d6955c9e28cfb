"""Host.stop ends in bounded time, whatever its background loops do when cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared import host as host_module
from shared.bus.memory import InMemoryBus
from shared.db.engine import Database
from shared.host import Host


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[Host]:
    hosting = Host(
        [], bus=InMemoryBus(), tenancy_db=Database(f"sqlite+aiosqlite:///{tmp_path}/h.db")
    )
    yield hosting
    await hosting.stop()


async def test_a_loop_whose_driver_turns_cancellation_into_an_error_is_not_restarted(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    starts = 0
    running = asyncio.Event()

    async def poll_the_database() -> None:
        # asyncpg cancelled mid-query after a restart raises its own error, not CancelledError
        nonlocal starts
        starts += 1
        running.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise ConnectionResetError("connection was closed in the middle of operation") from None

    host._spawn(poll_the_database, "poller")
    await running.wait()
    with caplog.at_level(logging.INFO, logger="shared.host"):
        await asyncio.wait_for(host.stop(), timeout=host_module.STOP_TASKS_SECONDS + 5)

    assert starts == 1, "a loop cancelled by stop() must not be started again"
    assert "crashed" not in caplog.text


async def test_a_loop_that_ignores_cancellation_is_left_behind_and_named(
    host: Host, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host_module, "STOP_TASKS_SECONDS", 0.2)
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    host._spawn(stubborn, "stubborn-gateway")
    await asyncio.sleep(0)
    try:
        with caplog.at_level(logging.ERROR, logger="shared.host"):
            await asyncio.wait_for(host.stop(), timeout=10)
        assert "stubborn-gateway still running" in caplog.text
    finally:
        release.set()


async def test_a_loop_that_retries_after_its_driver_swallowed_the_cancel_still_ends(
    host: Host,
) -> None:
    calls = 0
    querying = asyncio.Event()

    async def query() -> None:
        nonlocal calls
        calls += 1
        querying.set()
        try:
            await asyncio.sleep(0.01 if calls > 1 else 3600)
        except asyncio.CancelledError:
            raise OSError("connection was closed in the middle of operation") from None

    async def stand_by() -> None:
        # like a leadership loop: a database error is waited out and retried
        while True:
            with contextlib.suppress(OSError):
                await query()
            await asyncio.sleep(1)

    host._spawn(stand_by, "standby")
    await querying.wait()
    await asyncio.wait_for(host.stop(), timeout=host_module.STOP_TASKS_SECONDS)
