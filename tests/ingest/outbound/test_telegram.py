"""Moderation actions and member tags reach the Telegram Bot API as aiogram sends them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from services.ingest.outbound import ActionOutcome, RoleGrant, execute
from services.ingest.outbound.telegram import WARNING_TEXT, TelegramClient
from shared.events.community import Platform
from shared.events.payloads import ActionKind
from tests.ingest.fakes.telegram import TelegramFake
from tests.ingest.outbound.helpers import TELEGRAM_TOKEN, Sleeps, moderation

CHAT = "-1001234567890"
ALL_PERMISSIONS = {
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_edit_tag",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
}


@pytest.fixture
async def client(telegram: TelegramFake) -> AsyncIterator[TelegramClient]:
    async with TelegramClient({"bot_token": TELEGRAM_TOKEN}, telegram.api_url) as client:
        yield client


async def apply(client: TelegramClient, kind: ActionKind, sleeps: Sleeps, **fields: object):
    action = moderation(Platform.TELEGRAM, kind, channel_id=CHAT, **fields)
    return await execute(lambda: client.apply(action, external_id=CHAT), sleep=sleeps)


class During:
    """Whole seconds of the wall clock before and after a request: what `until_date` may use."""

    def __enter__(self) -> During:
        self.first = int(time.time())
        return self

    def __exit__(self, *_: object) -> None:
        self.last = int(time.time())

    def allows(self, until: int, seconds: int) -> bool:
        """`until` is `seconds` after the request, give or take the rounding to a second."""
        return self.first + seconds <= until <= self.last + seconds + 1


@pytest.mark.parametrize("kind", [ActionKind.DELETE, ActionKind.HIDE])
async def test_delete_and_hide_delete_the_message(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps, kind: ActionKind
) -> None:
    result = await apply(client, kind, sleeps, message_id="55")

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 1)
    [call] = telegram.calls
    assert telegram.token(call) == TELEGRAM_TOKEN
    assert telegram.method(call) == "deleteMessage"
    assert telegram.fields(call) == {"chat_id": int(CHAT), "message_id": 55}


async def test_a_message_already_gone_counts_as_deleted(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    telegram.fail_next(1, 400, description="Bad Request: message to delete not found")

    result = await apply(client, ActionKind.DELETE, sleeps, message_id="55")

    assert (result.outcome, result.attempts) == (ActionOutcome.DONE, 1)


async def test_warn_replies_to_the_message_with_the_reason(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    result = await apply(client, ActionKind.WARN, sleeps, message_id="55", reason="No spam, please")

    assert result.outcome is ActionOutcome.DONE
    [call] = telegram.calls
    assert telegram.method(call) == "sendMessage"
    fields = telegram.fields(call)
    assert fields["chat_id"] == int(CHAT)
    assert fields["text"] == "No spam, please"
    assert fields["reply_parameters"] == {"message_id": 55, "allow_sending_without_reply": True}


async def test_warn_without_a_reason_sends_the_standard_warning(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    await apply(client, ActionKind.WARN, sleeps, message_id="55")

    assert telegram.fields(telegram.calls[0])["text"] == WARNING_TEXT


async def test_mute_restricts_every_permission_until_now_plus_duration(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    with During() as during:
        result = await apply(
            client, ActionKind.MUTE, sleeps, platform_user_id="4242", duration_seconds=3600
        )

    assert result.outcome is ActionOutcome.DONE
    [call] = telegram.calls
    assert telegram.method(call) == "restrictChatMember"
    fields = telegram.fields(call)
    assert (fields["chat_id"], fields["user_id"]) == (int(CHAT), 4242)
    assert fields["permissions"] == dict.fromkeys(ALL_PERMISSIONS, False)
    assert during.allows(fields["until_date"], 3600)


async def test_a_mute_shorter_than_telegram_allows_is_not_turned_into_forever(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    with During() as during:
        await apply(client, ActionKind.MUTE, sleeps, platform_user_id="4242", duration_seconds=5)

    # Telegram takes anything under 30 s from its own clock as forever: 31 s is the least.
    assert during.allows(telegram.fields(telegram.calls[0])["until_date"], 31)


async def test_a_mute_without_duration_is_open_ended(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    await apply(client, ActionKind.MUTE, sleeps, platform_user_id="4242")

    assert "until_date" not in telegram.fields(telegram.calls[0])


async def test_unmute_lifts_the_restriction(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    result = await apply(client, ActionKind.UNMUTE, sleeps, platform_user_id="4242")

    assert result.outcome is ActionOutcome.DONE
    [call] = telegram.calls
    assert telegram.method(call) == "restrictChatMember"
    fields = telegram.fields(call)
    assert (fields["chat_id"], fields["user_id"]) == (int(CHAT), 4242)
    assert fields["permissions"] == dict.fromkeys(ALL_PERMISSIONS, True)
    assert "until_date" not in fields


async def test_ban_bans_the_member_for_the_duration(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    with During() as during:
        await apply(client, ActionKind.BAN, sleeps, platform_user_id="4242", duration_seconds=86400)

    [call] = telegram.calls
    assert telegram.method(call) == "banChatMember"
    fields = telegram.fields(call)
    assert (fields["chat_id"], fields["user_id"]) == (int(CHAT), 4242)
    assert during.allows(fields["until_date"], 86400)


async def test_unban_lifts_only_a_ban(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    await apply(client, ActionKind.UNBAN, sleeps, platform_user_id="4242")

    [call] = telegram.calls
    assert telegram.method(call) == "unbanChatMember"
    assert telegram.fields(call) == {"chat_id": int(CHAT), "user_id": 4242, "only_if_banned": True}


async def test_an_action_for_another_chat_is_refused_without_a_call(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    action = moderation(Platform.TELEGRAM, ActionKind.DELETE, channel_id="-100999", message_id="5")

    result = await execute(lambda: client.apply(action, external_id=CHAT), sleep=sleeps)

    assert (result.outcome, result.attempts) == (ActionOutcome.PLATFORM_ERROR, 1)
    assert "not the binding's chat" in result.detail
    assert telegram.calls == []


def grant(role: str, *, give: bool) -> RoleGrant:
    return RoleGrant(Platform.TELEGRAM, CHAT, "4242", role, give)


async def test_a_role_grant_tags_the_member(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    result = await execute(
        lambda: client.grant_role(grant("Ambassador", give=True), external_id=CHAT), sleep=sleeps
    )

    assert result.outcome is ActionOutcome.DONE
    [call] = telegram.calls
    assert telegram.method(call) == "setChatMemberTag"
    assert telegram.fields(call) == {"chat_id": int(CHAT), "user_id": 4242, "tag": "Ambassador"}


async def test_revoking_clears_our_tag(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    telegram.tags[4242] = "Ambassador"

    await execute(
        lambda: client.grant_role(grant("Ambassador", give=False), external_id=CHAT), sleep=sleeps
    )

    assert [telegram.method(c) for c in telegram.calls] == ["getChatMember", "setChatMemberTag"]
    assert "tag" not in telegram.fields(telegram.calls[1])
    assert telegram.tags[4242] == ""


async def test_revoking_keeps_a_tag_an_admin_gave_by_hand(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    telegram.tags[4242] = "Moderator"

    result = await execute(
        lambda: client.grant_role(grant("Ambassador", give=False), external_id=CHAT), sleep=sleeps
    )

    assert result.outcome is ActionOutcome.DONE
    assert [telegram.method(c) for c in telegram.calls] == ["getChatMember"]
    assert telegram.tags[4242] == "Moderator"


async def test_a_tag_longer_than_telegram_allows_is_refused(
    client: TelegramClient, telegram: TelegramFake, sleeps: Sleeps
) -> None:
    result = await execute(
        lambda: client.grant_role(grant("Community Ambassador", give=True), external_id=CHAT),
        sleep=sleeps,
    )

    assert result.outcome is ActionOutcome.PLATFORM_ERROR
    assert telegram.calls == []
