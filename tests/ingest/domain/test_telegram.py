"""Telegram updates, as a community manager would see them once normalized."""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.ingest.domain.model import MalformedPayload, Normalized
from services.ingest.domain.telegram import normalize_telegram, telegram_update_id
from shared.events.community import CommunityEvent, CommunityEventType, Platform
from tests.ingest.domain.support import RECEIVED, at, binding, ignored, payloads, the_event, without

CTX = binding(Platform.TELEGRAM, "hearth_bot")
fixture, ours = payloads(Platform.TELEGRAM)


def normalize(update: Any) -> Normalized:
    return normalize_telegram(update, CTX, received_at=RECEIVED)


def only_event(update: dict[str, Any]) -> CommunityEvent:
    return the_event(normalize(update))


# --- messages -------------------------------------------------------------------------


def test_a_private_text_message_is_a_created_message_by_its_sender() -> None:
    event = only_event(fixture("message.text.teloxide.json"))

    assert event.type is CommunityEventType.MESSAGE_CREATED
    assert event.platform is Platform.TELEGRAM
    assert (event.tenant_id, event.community_id) == ("tenant-1", "community-1")
    assert event.actor.platform_user_id == "218485655"
    assert event.actor.username == "WaffleLapkin"
    assert event.actor.display_name == "Waffle"
    assert event.actor.is_bot is False
    assert event.workspace_id == event.channel_id == "218485655"
    assert event.content is not None and event.content.text == "hello there"
    assert event.occurred_at == at(1569518342)
    assert event.ingested_at == RECEIVED
    assert event.source_event_id == "892252934"
    assert event.dedup_key == "telegram:message:218485655:6557"  # as its import
    assert event.attributes["message_id"] == 6557
    assert event.parent_id is None and event.thread_id is None and event.object_actor is None


@pytest.mark.parametrize(
    ("name", "text"),
    [("message.text.telegram-docs.json", "/start"), ("message.entities.telegram-docs.json", None)],
)
def test_docs_messages_keep_text_and_formatting_is_not_a_mention_or_link(
    name: str, text: str | None
) -> None:
    event = only_event(fixture(name))

    assert event.actor.display_name == "Test Firstname Test Lastname"
    assert event.channel_id == "1111111"
    assert event.occurred_at == at(1441645532)
    assert event.content is not None
    assert event.content.text == (text or "Bold and italics")
    assert event.content.mentions == [] and event.content.links == []


def test_a_reply_points_at_the_message_it_answers() -> None:
    event = only_event(fixture("message.reply.telegram-docs.json"))

    assert event.parent_id == "1334"
    # The docs' replied-to message names no sender, so there is nobody to credit.
    assert event.object_actor is None


def test_a_reply_in_a_supergroup_thread_names_thread_parent_and_replied_author() -> None:
    event = only_event(fixture("message.reply_bot_command.teloxide.json"))

    assert event.channel_id == event.workspace_id == "-1001293752024"
    assert event.thread_id == "134545"
    assert event.parent_id == "134545"
    assert event.object_actor is not None
    assert event.object_actor.platform_user_id == "6962620676"
    assert event.object_actor.username == "WertCrypto"
    assert event.actor.username == "spacewhaleblues"
    assert event.content is not None and event.content.text == "/report"
    assert event.dedup_key == "telegram:message:-1001293752024:134546"


def test_an_edit_happens_at_its_edit_date() -> None:
    event = only_event(fixture("edited_message.telegram-docs.json"))

    assert event.type is CommunityEventType.MESSAGE_EDITED
    assert event.occurred_at == at(1441646600)
    assert event.content is not None and event.content.text == "Edited text"
    assert event.attributes["message_id"] == 1365
    assert event.dedup_key == "telegram:hearth_bot:10000"


def test_a_forum_topic_message_belongs_to_its_topic_and_is_not_a_reply() -> None:
    event = only_event(ours("message.forum_topic.json"))

    assert event.thread_id == "900"
    assert event.parent_id is None and event.object_actor is None
    assert event.attributes["is_topic_message"] is True
    assert event.content is not None
    # Offsets count UTF-16 units: the leading emoji takes two of them.
    assert event.content.mentions == ["@ada_admin", "70004"]
    assert event.content.links == ["https://example.com/log", "https://docs.example.com/"]


def test_a_forum_topic_created_is_a_new_thread() -> None:
    event = only_event(ours("message.forum_topic_created.json"))

    assert event.type is CommunityEventType.THREAD_CREATED
    assert event.thread_id == "900"
    assert event.channel_id == "-1001500000002"
    assert event.content is not None and event.content.title == "Bug reports"
    assert event.actor.username == "ada_admin"


def test_a_photo_with_caption_keeps_caption_mentions_and_the_largest_size() -> None:
    event = only_event(ours("message.photo_caption.json"))

    assert event.content is not None
    assert event.content.text == "my new base, ask @bo_plays"
    assert event.content.mentions == ["@bo_plays"]
    assert [a.size_bytes for a in event.content.attachments] == [80412]
    assert event.attributes["media"] == ["photo"]


def test_a_message_from_a_bot_is_marked_as_bot() -> None:
    update = fixture("message.text.teloxide.json")
    update["message"]["from"]["is_bot"] = True

    assert only_event(update).actor.is_bot is True


def test_an_anonymous_admin_message_is_by_the_chat_not_the_placeholder_bot() -> None:
    update = fixture("message.reply_bot_command.teloxide.json")
    chat = update["message"]["chat"]
    update["message"]["sender_chat"] = chat
    update["message"]["from"] = {"id": 1087968824, "is_bot": True, "first_name": "Group"}

    event = only_event(update)

    assert event.actor.platform_user_id == "-1001293752024"
    assert event.actor.display_name == "CryptoInside Chat"
    assert event.actor.is_bot is False
    assert event.attributes["sender_is_chat"] is True


def test_a_pin_is_a_service_message_and_ignored() -> None:
    assert "service message" in ignored(normalize(ours("message.pinned.json")))


# --- membership -----------------------------------------------------------------------


def test_two_new_members_join_as_two_events_with_their_own_keys() -> None:
    result = normalize(ours("message.new_chat_members.two.json"))

    assert [e.type for e in result.events] == [CommunityEventType.MEMBER_JOINED] * 2
    assert [e.actor.username for e in result.events] == ["bo_plays", "hearth_quiz_bot"]
    assert [e.actor.is_bot for e in result.events] == [False, True]
    assert [e.dedup_key for e in result.events] == [
        "telegram:hearth_bot:500100:0",
        "telegram:hearth_bot:500100:1",
    ]
    assert all(e.attributes["by"] == "70001" for e in result.events)
    assert all(e.channel_id == "-1001500000001" for e in result.events)
    assert result.events[0].occurred_at == at(1717000000)


def test_a_member_leaving_by_themselves_is_member_left() -> None:
    event = only_event(ours("message.left_chat_member.json"))

    assert event.type is CommunityEventType.MEMBER_LEFT
    assert event.actor.username == "bo_plays"
    assert "by" not in event.attributes
    assert event.dedup_key == "telegram:hearth_bot:500101"


def test_chat_member_left_to_member_is_a_join() -> None:
    event = only_event(ours("chat_member.joined.json"))

    assert event.type is CommunityEventType.MEMBER_JOINED
    assert event.actor.username == "cy_new"
    assert event.attributes["old_status"] == "left"
    assert event.attributes["new_status"] == "member"
    assert event.attributes["via_join_request"] is True
    assert event.occurred_at == at(1717001200)


def test_chat_member_kicked_by_an_admin_is_a_leave_that_names_the_admin() -> None:
    event = only_event(ours("chat_member.kicked.json"))

    assert event.type is CommunityEventType.MEMBER_LEFT
    assert event.actor.username == "cheap_followers"
    assert event.attributes["by"] == "70001"
    assert event.attributes["new_status"] == "kicked"


def test_a_restricted_user_entering_the_chat_is_a_join() -> None:
    event = only_event(ours("chat_member.restricted_joined.json"))

    assert event.type is CommunityEventType.MEMBER_JOINED
    assert event.actor.platform_user_id == "70006"


def test_a_promotion_is_neither_join_nor_leave() -> None:
    assert "member -> administrator" in ignored(normalize(ours("chat_member.promoted.json")))


def test_a_change_of_the_bots_own_membership_is_ignored() -> None:
    assert "my_chat_member" in ignored(normalize(fixture("my_chat_member.teloxide.json")))


# --- reactions and polls --------------------------------------------------------------


def test_a_users_new_reaction_is_reaction_added_on_the_message() -> None:
    event = only_event(fixture("message_reaction.user.teloxide.json"))

    assert event.type is CommunityEventType.REACTION_ADDED
    assert event.actor.username == "shdwchn10"
    assert event.parent_id == "35"
    assert event.channel_id == "-1002184233434"
    assert event.attributes["reaction"] == {"type": "emoji", "emoji": "🌭"}
    assert event.occurred_at == at(1721306082)
    assert event.dedup_key == "telegram:hearth_bot:71651249"


def test_an_anonymous_admin_removing_a_reaction_acts_as_the_chat() -> None:
    event = only_event(fixture("message_reaction.actor_chat.teloxide.json"))

    assert event.type is CommunityEventType.REACTION_REMOVED
    assert event.actor.platform_user_id == "-1002199793788"
    assert event.actor.display_name == "тест"
    assert event.attributes["actor_is_chat"] is True
    assert event.attributes["reaction"] == {"type": "emoji", "emoji": "❤"}


def test_a_swapped_reaction_is_one_added_and_one_removed_with_distinct_keys() -> None:
    result = normalize(ours("message_reaction.replaced.json"))

    assert [(e.type, e.attributes["reaction"]) for e in result.events] == [
        (CommunityEventType.REACTION_ADDED, {"type": "emoji", "emoji": "👍"}),
        (CommunityEventType.REACTION_REMOVED, {"type": "emoji", "emoji": "❤"}),
    ]
    assert [e.dedup_key for e in result.events] == [
        "telegram:hearth_bot:500108:0",
        "telegram:hearth_bot:500108:1",
    ]


def test_a_poll_answer_has_a_voter_but_no_chat() -> None:
    event = only_event(fixture("poll_answer.teloxide.json"))

    assert event.type is CommunityEventType.POLL_ANSWERED
    assert event.actor.platform_user_id == "42"
    assert event.workspace_id is None and event.channel_id is None
    assert event.attributes["poll_id"] == "POLL_ID"
    assert event.attributes["option_ids"] == []
    assert event.attributes["chat_unknown"] is True
    assert event.attributes["retracted"] is True
    assert event.occurred_at == RECEIVED
    assert event.dedup_key == "telegram:hearth_bot:0"


def test_a_poll_answer_by_an_anonymous_admin_is_by_the_voter_chat() -> None:
    update = fixture("poll_answer.teloxide.json")
    del update["poll_answer"]["user"]
    update["poll_answer"]["voter_chat"] = {"id": -100777, "title": "Admins", "type": "supergroup"}
    update["poll_answer"]["option_ids"] = [1]

    event = only_event(update)

    assert event.actor.platform_user_id == "-100777"
    assert event.attributes["option_ids"] == [1]
    assert "retracted" not in event.attributes


# --- what is not activity, and what is broken -----------------------------------------


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        ({"update_id": 1, "channel_post": {"message_id": 1}}, "channel_post"),
        ({"update_id": 1, "callback_query": {"id": "1"}}, "callback_query"),
        ({"update_id": 1}, "nothing besides update_id"),
    ],
)
def test_other_update_kinds_are_ignored_with_a_reason(update: dict[str, Any], reason: str) -> None:
    assert reason in ignored(normalize(update))


@pytest.mark.parametrize(
    ("update", "field"),
    [
        (["not", "an", "object"], "update"),
        (without(fixture("message.text.teloxide.json"), "update_id"), "update_id"),
        ({"update_id": "892252934", "message": {}}, "update_id"),
        ({"update_id": 1, "message": "hello"}, "message"),
        (without(fixture("message.text.teloxide.json"), "message", "chat"), "message.chat"),
        (without(fixture("message.text.teloxide.json"), "message", "from"), "message.from"),
        (
            without(fixture("message_reaction.user.teloxide.json"), "message_reaction", "user"),
            "message_reaction.user",
        ),
        (
            without(fixture("poll_answer.teloxide.json"), "poll_answer", "poll_id"),
            "poll_answer.poll_id",
        ),
        (
            without(ours("chat_member.joined.json"), "chat_member", "new_chat_member"),
            "chat_member.new_chat_member",
        ),
    ],
)
def test_a_malformed_update_names_the_field(update: Any, field: str) -> None:
    with pytest.raises(MalformedPayload, match=rf"^{re.escape(field)}:"):
        normalize(update)


def test_an_entity_with_a_bad_offset_names_the_entity() -> None:
    update = ours("message.forum_topic.json")
    update["message"]["entities"][0]["offset"] = "18"

    with pytest.raises(MalformedPayload, match=r"message\.entities\[0\]\.offset"):
        normalize(update)


def test_update_id_is_read_without_normalizing() -> None:
    assert telegram_update_id(fixture("message.text.teloxide.json")) == 892252934
    assert telegram_update_id({"message": {}}) is None
    assert telegram_update_id({"update_id": True}) is None
    assert telegram_update_id([1, 2]) is None  # type: ignore[arg-type]
