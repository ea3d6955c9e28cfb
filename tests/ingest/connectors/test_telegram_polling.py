"""Telegram long polling end to end: a fake Bot API's updates become events on the topic."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client import REGISTRY

from shared.bus.port import BusUnavailable, Outgoing
from tests.ingest.conftest import Ingest
from tests.ingest.connectors.conftest import (
    EVENTS,
    Published,
    bind,
    eventually,
    payload,
    telegram_token,
)
from tests.ingest.connectors.fake_telegram import FakeBotApi

CHAT = "-1002184233434"
POLLING = {"telegram_mode": "polling"}


def in_chat(relative: str, update_id: int, chat: str = CHAT) -> dict[str, Any]:
    """A real update, renumbered and moved into `chat`."""
    update = payload(relative)
    update["update_id"] = update_id
    body = next(value for key, value in update.items() if key != "update_id")
    if "chat" in body:
        body["chat"]["id"] = int(chat)
    return update


async def polling_binding(ingest: Ingest, token: str, chat: str = CHAT) -> tuple[str, str]:
    community = await ingest.community()
    binding = await bind(
        ingest,
        community,
        "telegram",
        chat,
        {"secret_token": "unused", "bot_token": token},
        POLLING,
    )
    return community, binding["id"]


def running_bots(platform: str) -> float | None:
    """hearth_ingest_connectors: bots whose connector runs (one ingest host per test)."""
    return REGISTRY.get_sample_value("hearth_ingest_connectors", {"platform": platform})


def of(community: str) -> Any:
    return lambda envelope: envelope.data.get("community_id") == community


async def test_polled_updates_become_canonical_events_and_the_offset_advances(
    ingest: Ingest, published: Published, fake_telegram: FakeBotApi
) -> None:
    token = telegram_token()
    bot = fake_telegram.bot(token)
    bot.send(
        in_chat("telegram/message.text.teloxide.json", 501),
        in_chat("telegram/edited_message.telegram-docs.json", 502),
        in_chat("telegram/message_reaction.user.teloxide.json", 503),
        in_chat("telegram/poll_answer.teloxide.json", 504),
        in_chat("telegram/message.text.telegram-docs.json", 505, chat="-100777"),  # not bound
    )
    community, _ = await polling_binding(ingest, token)

    # The batch (the unbound chat's update too) is confirmed by asking past its last id,
    # which the poller does only once accept() returned.
    await eventually(lambda: 506 in bot.offsets())
    bot.send(in_chat("telegram/message.entities.telegram-docs.json", 506))
    await eventually(lambda: 507 in bot.offsets())
    found = await published.wait(of(community), expected=5)

    assert bot.offsets()[0] is None
    assert bot.methods()[0] == "deleteWebhook" and bot.webhook is None
    first = next(call for call in bot.calls if call.method == "getUpdates")
    assert first.params["allowed_updates"] == [
        "message",
        "edited_message",
        "message_reaction",
        "chat_member",
        "poll_answer",
    ]
    assert first.params["timeout"] == 1
    found.sort(key=lambda envelope: int(envelope.data["source_event_id"]))
    assert [e.data["source_event_id"] for e in found] == ["501", "502", "503", "504", "506"]
    by_type = {envelope.type: envelope.data for envelope in found[:4]}
    assert list(by_type) == [
        "community.message.created",
        "community.message.edited",
        "community.reaction.added",
        "community.poll.answered",
    ]
    created = by_type["community.message.created"]
    assert created["channel_id"] == CHAT and created["content"]["text"] == "hello there"
    assert created["actor"]["username"] == "WaffleLapkin" and created["actor"]["member_id"]
    message_id = created["attributes"]["message_id"]
    assert created["dedup_key"] == f"telegram:message:{CHAT}:{message_id}"  # as its import
    assert by_type["community.reaction.added"]["attributes"]["reaction"]["emoji"] == "🌭"
    assert found[4].data["content"]["text"] == "Bold and italics"


async def test_flood_control_retry_after_is_honoured(
    ingest: Ingest, published: Published, fake_telegram: FakeBotApi
) -> None:
    token = telegram_token()
    bot = fake_telegram.bot(token)
    bot.flood = [1]
    bot.send(in_chat("telegram/message.text.teloxide.json", 700))
    community, _ = await polling_binding(ingest, token)

    [envelope] = await published.wait(of(community))

    assert envelope.type == "community.message.created"
    polls = [call for call in bot.calls if call.method == "getUpdates"]
    refused, retried = polls[0], polls[1]
    assert retried.at - refused.answered >= 0.95, "waited retry_after (1 s) before asking again"


async def test_offset_stays_while_the_broker_is_down_and_the_update_is_published_once(
    ingest: Ingest, published: Published, fake_telegram: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_many = ingest.bus.publish_many
    refused: list[int] = []

    async def broker_down_once(messages: Sequence[Outgoing]) -> None:
        if not refused and any(message.topic == EVENTS for message in messages):
            refused.append(len(messages))
            raise BusUnavailable("broker down")
        await publish_many(messages)

    monkeypatch.setattr(ingest.bus, "publish_many", broker_down_once)
    token = telegram_token()
    bot = fake_telegram.bot(token)
    bot.send(in_chat("telegram/message.text.teloxide.json", 800))
    community, _ = await polling_binding(ingest, token)

    found = await published.wait(of(community))

    assert refused == [1]
    assert [e.data["source_event_id"] for e in found] == ["800"]
    offsets = bot.offsets()
    assert offsets[:2] == [None, None], "read again from the same offset after the failure"
    await eventually(lambda: 801 in bot.offsets())


async def test_polling_stops_when_the_binding_goes_away(
    ingest: Ingest, published: Published, fake_telegram: FakeBotApi
) -> None:
    token = telegram_token()
    bot = fake_telegram.bot(token)
    community, binding_id = await polling_binding(ingest, token)
    await eventually(lambda: len(bot.offsets()) >= 1)

    answer = await ingest.client.delete(
        f"/v1/ingest/communities/{community}/bindings/{binding_id}", headers=ingest.auth()
    )
    assert answer.status_code == 204, answer.text

    # The fleet sets its gauge only once the stopped poller's task has ended, so no
    # getUpdates can follow; the long poll open at that moment runs out (1 s) unanswered.
    await eventually(lambda: running_bots("telegram") == 0)
    polls = len(bot.offsets())
    await eventually(lambda: all(call.answered for call in bot.calls))
    assert len(bot.offsets()) == polls


async def test_a_rejected_token_is_reported_without_the_token(
    ingest: Ingest,
    published: Published,
    fake_telegram: FakeBotApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = telegram_token()
    bot = fake_telegram.bot(token)
    bot.unauthorized = True
    caplog.set_level(logging.INFO)
    community, binding_id = await polling_binding(ingest, token)

    await eventually(lambda: any("rejects the bot token" in r.message for r in caplog.records))

    assert bot.methods() == ["deleteWebhook"]
    assert binding_id in caplog.text
    assert token not in caplog.text
    assert await published.wait(of(community), timeout=1) == []


def poll_message(update_id: int, chat: str, poll_id: str) -> dict[str, Any]:
    """A message carrying a poll (Bot API Message.poll), in `chat`."""
    update = in_chat("telegram/message.text.telegram-docs.json", update_id, chat)
    message = update["message"]
    message.pop("text", None)
    message["poll"] = {
        "id": poll_id,
        "question": "Next AMA topic?",
        "options": [
            {"text": "Roadmap", "voter_count": 0},
            {"text": "Modding", "voter_count": 0},
        ],
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": False,
        "type": "regular",
        "allows_multiple_answers": False,
    }
    return update


def poll_answer(update_id: int, poll_id: str) -> dict[str, Any]:
    update = payload("telegram/poll_answer.teloxide.json")
    update["update_id"] = update_id
    update["poll_answer"] |= {"poll_id": poll_id, "option_ids": [1]}
    return update


async def test_a_poll_answer_is_credited_to_the_community_of_its_polls_chat(
    ingest: Ingest, published: Published, fake_telegram: FakeBotApi
) -> None:
    token = telegram_token()
    bot = fake_telegram.bot(token)
    other_chat = "-1009990001111"
    first, _ = await polling_binding(ingest, token)
    second, _ = await polling_binding(ingest, token, chat=other_chat)
    bot.send(poll_message(601, other_chat, "5301000000000000001"))
    await eventually(lambda: 602 in bot.offsets())

    bot.send(poll_answer(602, "5301000000000000001"), poll_answer(603, "never-seen-poll"))
    await eventually(lambda: 604 in bot.offsets())

    answers = await published.wait(
        lambda e: (
            e.type == "community.poll.answered" and e.data.get("community_id") in (first, second)
        )
    )
    [answer] = answers  # the unseen poll's answer is credited to no one
    assert answer.data["community_id"] == second
    assert answer.data["channel_id"] == answer.data["workspace_id"] == other_chat
    assert answer.data["attributes"]["option_ids"] == [1]
    assert "chat_unknown" not in answer.data["attributes"]
