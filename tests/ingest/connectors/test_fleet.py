"""The fleet: one runner per bot token, following the bindings as they come and go."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import OperationalError

from services.ingest.connectors import fleet
from services.ingest.connectors.fleet import Bindings, Bots, Fleet, Runner
from services.ingest.domain.model import BindingContext
from shared.events.community import Platform


def binding(external_id: str) -> BindingContext:
    return BindingContext(
        "t1", f"c-{external_id}", f"b-{external_id}", Platform.TELEGRAM, external_id
    )


class StubRunner:
    def __init__(self, token: str, bindings: Bindings, *, crash: bool = False) -> None:
        self.token = token
        self.bindings = bindings
        self.crash = crash
        self.cancelled = False

    async def run(self) -> None:
        if self.crash:
            raise RuntimeError(f"boom with {self.token} in it")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


class Table:
    """What the bindings table holds, as the loader returns it."""

    def __init__(self) -> None:
        self.bots: Bots = {}
        self.down = False
        self.made: list[StubRunner] = []
        self.crashing: set[str] = set()

    async def load(self) -> Bots:
        if self.down:
            raise OperationalError("SELECT", {}, ConnectionRefusedError())
        return {token: dict(bindings) for token, bindings in self.bots.items()}

    def make(self, token: str, bindings: Bindings) -> Runner:
        runner = StubRunner(token, bindings, crash=token in self.crashing)
        self.made.append(runner)
        return runner


async def test_runners_follow_the_bindings() -> None:
    table = Table()
    bots = Fleet(Platform.TELEGRAM, table.load, table.make)
    await bots.reconcile()
    assert table.made == [], "no bindings: nothing runs"

    table.bots = {"tok-a": {"-1": binding("-1")}}
    await bots.reconcile()
    await asyncio.sleep(0)  # let it start
    [first] = table.made
    table.bots["tok-a"]["-2"] = binding("-2")
    await bots.reconcile()
    assert len(table.made) == 1, "a new chat of a running bot reuses its runner"
    assert set(first.bindings) == {"-1", "-2"}

    table.bots = {"tok-b": {"-3": binding("-3")}}
    await bots.reconcile()
    await asyncio.sleep(0)
    assert first.cancelled, "a bot without bindings is stopped"
    assert [r.token for r in table.made] == ["tok-a", "tok-b"]
    await bots.stop()
    assert table.made[1].cancelled


async def test_an_unreadable_table_keeps_running_bots() -> None:
    table = Table()
    table.bots = {"tok-a": {"-1": binding("-1")}}
    bots = Fleet(Platform.TELEGRAM, table.load, table.make)
    await bots.reconcile()
    await asyncio.sleep(0)
    table.down = True
    await bots.reconcile()
    assert not table.made[0].cancelled
    await bots.stop()


async def test_a_crashed_runner_restarts_after_a_backoff_without_logging_its_token(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(fleet, "BACKOFF_FIRST_SECONDS", 0.3)
    table = Table()
    table.bots = {"tok-secret": {"-1": binding("-1")}}
    table.crashing = {"tok-secret"}
    bots = Fleet(Platform.TELEGRAM, table.load, table.make)
    await bots.reconcile()
    await asyncio.sleep(0.01)
    await bots.reconcile()  # finds it ended: logs, waits
    await bots.reconcile()
    assert len(table.made) == 1, "not restarted before the backoff"
    await asyncio.sleep(0.35)
    await bots.reconcile()
    assert len(table.made) == 2
    assert "boom" in caplog.text and "b--1" in caplog.text
    assert "tok-secret" not in caplog.text
    await bots.stop()
