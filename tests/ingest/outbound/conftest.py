"""Fake platform servers (one per platform for the whole run, reset per test) and a fake sleep."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.ingest.fakes.discord import DiscordFake
from tests.ingest.fakes.discourse import DiscourseFake
from tests.ingest.fakes.github import GitHubFake
from tests.ingest.fakes.server import serve
from tests.ingest.fakes.slack import SlackFake
from tests.ingest.fakes.telegram import TelegramFake
from tests.ingest.outbound.helpers import Sleeps


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(scope="session")
async def telegram_server() -> AsyncIterator[TelegramFake]:
    async with serve(TelegramFake()) as fake:
        yield fake


@pytest.fixture(scope="session")
async def slack_server() -> AsyncIterator[SlackFake]:
    async with serve(SlackFake()) as fake:
        yield fake


@pytest.fixture(scope="session")
async def discord_server() -> AsyncIterator[DiscordFake]:
    async with serve(DiscordFake()) as fake:
        yield fake


@pytest.fixture(scope="session")
async def github_server() -> AsyncIterator[GitHubFake]:
    async with serve(GitHubFake()) as fake:
        yield fake


@pytest.fixture(scope="session")
async def discourse_server() -> AsyncIterator[DiscourseFake]:
    async with serve(DiscourseFake()) as fake:
        yield fake


@pytest.fixture
def discourse(discourse_server: DiscourseFake) -> DiscourseFake:
    discourse_server.reset()
    return discourse_server


@pytest.fixture
def telegram(telegram_server: TelegramFake) -> TelegramFake:
    telegram_server.reset()
    return telegram_server


@pytest.fixture
def slack(slack_server: SlackFake) -> SlackFake:
    slack_server.reset()
    return slack_server


@pytest.fixture
def discord(discord_server: DiscordFake) -> DiscordFake:
    discord_server.reset()
    return discord_server


@pytest.fixture
def github(github_server: GitHubFake) -> GitHubFake:
    github_server.reset()
    return github_server
