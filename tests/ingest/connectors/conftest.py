"""Fake Telegram and Discord servers, and connector timings short enough for tests."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
import pytest
from aiokafka import AIOKafkaConsumer

from services.ingest import connectors
from services.ingest.connectors import fleet, telegram_polling
from shared.db.leadership import LeaseTiming
from shared.events.envelope import Envelope
from tests.ingest.conftest import Ingest, fixture
from tests.ingest.connectors.fake_discord import FakeDiscord
from tests.ingest.connectors.fake_telegram import FakeBotApi

EVENTS = "community.events.v1"


@pytest.fixture(scope="session")
async def fake_telegram() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture(scope="session")
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(autouse=True)
def connectors_on_fakes(
    monkeypatch: pytest.MonkeyPatch, fake_telegram: FakeBotApi, fake_discord: FakeDiscord
) -> None:
    """Point the connectors at the fakes and shorten reloads, long polls and backoff.

    Autouse fixtures start first, so the `ingest` service reads these when it starts.
    """
    monkeypatch.setenv("HEARTH_INGEST_TELEGRAM_API_URL", fake_telegram.url)
    monkeypatch.setenv("HEARTH_INGEST_DISCORD_API_URL", fake_discord.api_url)
    monkeypatch.setattr(connectors, "RELOAD_SECONDS", 0.2)
    # A fenced leader starts lease + stop_within after taking the lock: 2.5 s, not 15.
    monkeypatch.setattr(
        connectors, "LEADERSHIP", LeaseTiming(check_every=0.25, lease=2.0, stop_within=0.5)
    )
    monkeypatch.setattr(telegram_polling, "POLL_TIMEOUT_SECONDS", 1)
    monkeypatch.setattr(fleet, "BACKOFF_FIRST_SECONDS", 0.2)
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)  # restored after


def telegram_token() -> str:
    """A bot token of Telegram's shape, new for each test (the fakes key state by token)."""
    return f"{secrets.randbelow(10**9) + 10**9}:AA{secrets.token_urlsafe(24)}"


def discord_token() -> str:
    return f"MT{secrets.token_urlsafe(20)}.{secrets.token_urlsafe(4)}.{secrets.token_urlsafe(27)}"


def payload(relative: str) -> dict[str, Any]:
    """A real platform payload from ../shared/fixtures, parsed."""
    value: dict[str, Any] = json.loads(fixture(relative))
    return value


async def bind(
    ingest: Ingest,
    community: str,
    platform: str,
    external_id: str,
    secrets_: dict[str, str],
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A binding made through the admin API, with connector options."""
    answer = await ingest.client.post(
        f"/v1/ingest/communities/{community}/bindings",
        json={
            "platform": platform,
            "external_id": external_id,
            "secrets": secrets_,
            "options": options or {},
        },
        headers=ingest.auth(),
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def eventually(check: Callable[[], bool], *, timeout: float = 15) -> None:
    """Wait until `check()` holds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


class Published:
    """Envelopes published to community.events.v1 from the test's start on.

    On Kafka it reads from the partitions' ends as they were when the test began: the
    shared topic holds every earlier run's events, and `Ingest.published` reads it all.
    """

    def __init__(self, ingest: Ingest, consumer: AIOKafkaConsumer | None) -> None:
        self._ingest = ingest
        self._consumer = consumer
        self._seen: list[Envelope] = []

    async def wait(
        self, match: Callable[[Envelope], bool], *, expected: int = 1, timeout: float = 20
    ) -> list[Envelope]:
        """Envelopes for which match() is true, once `expected` arrived (and 0.5 s more)."""
        if self._consumer is None:
            return await self._ingest.published(
                EVENTS, match=match, expected=expected, timeout=timeout
            )
        deadline = time.monotonic() + timeout
        while len([e for e in self._seen if match(e)]) < expected:
            if time.monotonic() > deadline:
                break
            await self._read(0.3)
        await self._read(0.5)  # a duplicate would show up here
        return [e for e in self._seen if match(e)]

    async def _read(self, seconds: float) -> None:
        assert self._consumer is not None
        batches = await self._consumer.getmany(timeout_ms=int(seconds * 1000))
        for records in batches.values():
            for record in records:
                headers = tuple(record.headers)
                self._seen.append(Envelope.from_kafka(record.key, record.value, headers))


@pytest.fixture
async def published(ingest: Ingest, request: pytest.FixtureRequest) -> AsyncIterator[Published]:
    """What the test publishes to community.events.v1."""
    if ingest.kind != "kafka":
        yield Published(ingest, None)
        return
    consumer = AIOKafkaConsumer(
        EVENTS,
        bootstrap_servers=request.getfixturevalue("kafka_bootstrap"),
        group_id=None,  # every partition, no group to join
        auto_offset_reset="latest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        await eventually(lambda: bool(consumer.assignment()))
        for partition in consumer.assignment():  # pin "latest" now, before the test publishes
            await consumer.position(partition)
        yield Published(ingest, consumer)
    finally:
        await consumer.stop()
