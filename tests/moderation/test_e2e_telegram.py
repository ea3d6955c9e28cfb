"""End to end through ingest and moderation: a toxic Russian message sent to the Telegram
webhook is hidden (deleteMessage on the fake Bot API), and a member's third removed
message mutes them (restrictChatMember), on the real broker and PostgreSQL and on the
embedded bus with SQLite files."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from ulid import ULID

from services.ingest.app import SPEC as INGEST
from services.ingest.secrets import SecretBox
from services.moderation.app import SPEC as MODERATION
from shared.bus.port import Bus
from shared.db.engine import Database
from tests.ingest.conftest import Ingest, start_host
from tests.ingest.fakes.server import Call, serve
from tests.ingest.fakes.telegram import TelegramFake
from tests.shared.conftest import drop_schema
from tests.stack import own_broker

pytestmark = pytest.mark.integration

CHAT = -1001234567890
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "tg-secret_e2e"
LADDER = """\
rules:
  - {id: ru-insults, kind: keywords, words: ["сука", "мудак*"], action: remove,
     reason: insult}
sanctions:
  ladder:
    - {strikes: 1, action: warn}
    - {strikes: 3, action: mute, duration_seconds: 600}
"""
_UPDATES = itertools.count(700_000)


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramFake]:
    async with serve(TelegramFake()) as fake:
        yield fake


@pytest.fixture(params=["kafka", "embedded"])
async def hearth(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    telegram: TelegramFake,
) -> AsyncIterator[Ingest]:
    """Ingest and moderation in one host: on Kafka + PostgreSQL, or on the embedded bus."""
    monkeypatch.setenv("HEARTH_INGEST_SECRETS_KEY", SecretBox.new_key())
    monkeypatch.setenv("HEARTH_INGEST_TELEGRAM_API_URL", telegram.api_url)
    monkeypatch.setenv("HEARTH_INGEST_ACTION_ATTEMPTS", "3")
    monkeypatch.setenv("HEARTH_INGEST_ACTION_BACKOFF_SECONDS", "0.01")
    bus: Bus
    stack = ExitStack()
    if request.param == "kafka":
        from shared.bus.kafka import KafkaBus

        # A broker of its own: on the shared one this host's fresh groups would also
        # moderate every other test's live traffic, and this test would wait behind it.
        broker = stack.enter_context(own_broker(tmp_path / "stack"))
        url = request.getfixturevalue("postgres_url")
        bus = KafkaBus(broker.bootstrap, client_id="moderation-e2e")
        suffix = str(ULID()).lower()
        dbs = {name: Database(url, schema=f"{name}_{suffix}", pool_size=3) for name in NAMES}
        tenancy = Database(url, schema=f"hearth_{suffix}", pool_size=2)
    else:
        from shared.bus.sqlite import SqliteBus

        bus = SqliteBus(tmp_path / "bus.db")
        dbs = {
            name: Database(f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}", schema=name)
            for name in NAMES
        }
        tenancy = Database(f"sqlite+aiosqlite:///{tmp_path / 'hearth.db'}", schema="hearth")
    services = [(INGEST, dbs["ingest"]), (MODERATION, dbs["moderation"])]
    with stack:
        started = await start_host(request.param, bus, services, tenancy)
        try:
            yield started
        finally:
            await started.client.aclose()
            await started.host.stop()
            for db in [*dbs.values(), tenancy]:
                await drop_schema(db)


NAMES = ("ingest", "moderation")


def update(text: str, *, user_id: int, message_id: int) -> dict[str, Any]:
    """A Telegram update with a supergroup message, as the Bot API posts it."""
    return {
        "update_id": next(_UPDATES),
        "message": {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": CHAT, "type": "supergroup", "title": "Гильдия"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Вася", "username": "vasya"},
            "text": text,
        },
    }


async def calls_of(
    telegram: TelegramFake, method: str, match: Callable[[dict[str, Any]], bool], n: int = 1
) -> list[dict[str, Any]]:
    """The fake's calls of `method` whose fields match, once there are `n`."""
    deadline = time.monotonic() + 90
    while True:
        found = [
            TelegramFake.fields(call)
            for call in list(telegram.calls)
            if isinstance(call, Call) and TelegramFake.method(call) == method
        ]
        found = [fields for fields in found if match(fields)]
        if len(found) >= n or time.monotonic() > deadline:
            assert len(found) == n, f"{method}: {found}"
            return found
        await asyncio.sleep(0.2)


def deleting(message_id: int) -> Callable[[dict[str, Any]], bool]:
    return lambda fields: fields.get("message_id") == message_id


async def test_a_toxic_russian_message_is_deleted_and_a_third_strike_mutes(
    hearth: Ingest, telegram: TelegramFake
) -> None:
    community = await hearth.community("Гильдия")
    binding = await hearth.bind(
        community, "telegram", str(CHAT), {"secret_token": SECRET, "bot_token": TOKEN}
    )
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def say(text: str, user_id: int, message_id: int) -> None:
        answer = await hearth.client.post(
            binding["webhook_path"],
            json=update(text, user_id=user_id, message_id=message_id),
            headers=headers,
        )
        assert answer.status_code == 200, answer.text

    # the default rules hide Russian profanity: the message is deleted on Telegram
    await say("ну ты и сука", user_id=4242, message_id=501)
    await say("всем привет", user_id=4343, message_id=502)
    deadline = time.monotonic() + 90
    while True:  # the hidden message waits for a moderator
        queue = await hearth.client.get(
            "/v1/moderation/queue", params={"community_id": community}, headers=hearth.auth()
        )
        items = queue.json()["items"]
        if items or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    assert [(i["auto_verdict"], i["message_id"]) for i in items] == [("hide", "501")]
    [deleted] = await calls_of(telegram, "deleteMessage", lambda f: f.get("message_id") == 501)
    assert int(deleted["chat_id"]) == CHAT
    # a clean message stays
    assert await calls_of(telegram, "deleteMessage", lambda f: f.get("message_id") == 502, 0) == []

    # a community ladder: removals strike, the third strike within the window mutes
    put = await hearth.client.put(
        f"/v1/moderation/communities/{community}/rules",
        content=LADDER,
        headers={**hearth.auth(), "Content-Type": "application/yaml"},
    )
    assert put.status_code == 200, put.text
    for n, text in enumerate(["сука", "ты мудак", "опять сука"]):
        await say(text, user_id=5151, message_id=600 + n)
        # one at a time, so each strike is counted after the last one is stored
        await calls_of(telegram, "deleteMessage", deleting(600 + n))
    [muted] = await calls_of(
        telegram, "restrictChatMember", lambda f: int(f.get("user_id", 0)) == 5151
    )
    assert int(muted["chat_id"]) == CHAT
    assert muted["permissions"]["can_send_messages"] is False
    warnings = await calls_of(
        telegram,
        "sendMessage",
        lambda f: int(f.get("chat_id", 0)) == CHAT and "strike" in str(f.get("text")),
        n=2,
    )
    assert [w["text"] for w in warnings] == ["1 strike(s): insult", "2 strike(s): insult"]

    # the mute's result, reported by ingest, shows on the sanction
    deadline = time.monotonic() + 90
    while True:
        listed = await hearth.client.get(
            "/v1/moderation/sanctions",
            params={"community_id": community},
            headers=hearth.auth(),
        )
        assert listed.status_code == 200, listed.text
        sanctions = [s for s in listed.json()["items"] if s["platform_user_id"] == "5151"]
        if [s["result"] for s in sanctions] == ["done"] * 3 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    assert [(s["action"], s["strikes"], s["result"]) for s in sanctions] == [
        ("warn", 1, "done"),
        ("warn", 2, "done"),
        ("mute", 3, "done"),
    ]
