"""Discord Gateway dispatches and interactions, as a community manager would see them."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from services.ingest.domain.discord import (
    normalize_discord_gateway,
    normalize_discord_interaction,
    snowflake_time,
)
from services.ingest.domain.model import MalformedPayload, Normalized
from shared.events.community import CommunityEvent, CommunityEventType, Platform
from tests.ingest.domain.support import RECEIVED, binding, ignored, payloads, the_event, utc

CTX = binding(Platform.DISCORD, "694205451682978886")
fixture, ours = payloads(Platform.DISCORD)


def normalize(dispatch: Any) -> Normalized:
    return normalize_discord_gateway(dispatch, CTX, received_at=RECEIVED)


def only_event(dispatch: dict[str, Any]) -> CommunityEvent:
    return the_event(normalize(dispatch))


# --- messages -------------------------------------------------------------------------


def test_a_guild_message_is_a_created_message_by_its_author() -> None:
    event = only_event(fixture("gateway.MESSAGE_CREATE.json"))

    assert event.type is CommunityEventType.MESSAGE_CREATED
    assert event.platform is Platform.DISCORD
    assert (event.tenant_id, event.community_id) == ("tenant-1", "community-1")
    assert event.workspace_id == "694205451682978886"
    assert event.channel_id == "727947198481956945"
    assert event.thread_id is None and event.parent_id is None
    assert event.actor.platform_user_id == "562268917771413264"
    assert event.actor.username == "Username"
    assert event.actor.is_bot is False
    assert event.content is not None and event.content.text == ".ping"
    assert event.occurred_at == utc("2020-07-14T13:02:12.171+00:00")
    assert event.ingested_at == RECEIVED
    assert event.source_event_id == "732582724170285086"
    assert event.dedup_key == "discord:message:727947198481956945:732582724170285086"


def test_a_reply_points_at_the_original_and_its_author() -> None:
    event = only_event(fixture("gateway.MESSAGE_CREATE.reply_type19.json"))

    assert event.parent_id == "775214933398782002"
    assert event.object_actor is not None
    assert event.object_actor.platform_user_id == "344487830824943618"
    assert event.object_actor.username == "Reacton"
    assert event.object_actor.is_bot is True
    assert event.actor.username == "quantic"
    assert event.content is not None
    assert event.content.text == "cool."
    assert event.content.mentions == ["344487830824943618"]
    assert event.workspace_id == "185949590652977152"


def test_a_reply_whose_original_was_deleted_still_names_the_parent() -> None:
    dispatch = fixture("gateway.MESSAGE_CREATE.reply_type19.json")
    dispatch["d"]["referenced_message"] = None

    event = only_event(dispatch)

    assert event.parent_id == "775214933398782002"
    assert event.object_actor is None


def test_a_webhook_post_counts_as_a_bot() -> None:
    event = only_event(ours("gateway.MESSAGE_CREATE.webhook.json"))

    assert event.actor.is_bot is True
    assert event.actor.username == "Patch Notes"
    assert event.attributes["webhook_id"] == "1220000000000000007"
    assert event.content is not None
    assert event.content.links == ["https://example.com/patch-1-4"]


def test_a_webhook_post_is_a_bot_even_without_the_bot_flag() -> None:
    dispatch = ours("gateway.MESSAGE_CREATE.webhook.json")
    del dispatch["d"]["author"]["bot"]

    assert only_event(dispatch).actor.is_bot is True


def test_an_edit_in_a_thread_happens_at_the_edit_and_keeps_what_moderation_needs() -> None:
    event = only_event(ours("gateway.MESSAGE_UPDATE.edited.json"))

    assert event.type is CommunityEventType.MESSAGE_EDITED
    assert event.occurred_at == utc("2024-06-12T10:07:30.5+00:00")
    assert event.channel_id == event.thread_id == "1250000000000000500"
    assert event.source_event_id == "1250000000000000700"
    assert event.dedup_key == (
        "discord:1200000000000000000:MESSAGE_UPDATE:1250000000000000700:"
        "2024-06-12T10:07:30.500000+00:00"
    )
    assert event.actor.display_name == "Bob the Builder"
    assert event.content is not None
    assert event.content.mentions == ["302050872383242240"]
    assert event.content.links == ["https://example.com/bug/42"]
    (attachment,) = event.content.attachments
    assert attachment.name == "crash.log"
    assert attachment.size_bytes == 2048
    assert attachment.content_type == "text/plain; charset=utf-8"
    assert attachment.url is not None and attachment.url.endswith("/crash.log")


def test_each_edit_of_a_message_has_its_own_key_and_a_replay_the_same() -> None:
    first = ours("gateway.MESSAGE_UPDATE.edited.json")
    second = copy.deepcopy(first)
    second["d"]["edited_timestamp"] = "2024-06-12T10:09:00.000000+00:00"

    keys = [only_event(d).dedup_key for d in (first, second, copy.deepcopy(first))]

    assert keys[0] != keys[1]
    assert keys[0] == keys[2]


def test_an_update_without_an_edit_timestamp_is_a_pin_not_an_edit() -> None:
    assert "edited_timestamp" in ignored(normalize(fixture("gateway.MESSAGE_UPDATE.json")))


def test_a_deletion_has_an_unknown_actor_and_names_the_message() -> None:
    event = only_event(fixture("gateway.MESSAGE_DELETE.json"))

    assert event.type is CommunityEventType.MESSAGE_DELETED
    assert event.actor.platform_user_id == "unknown"
    assert event.attributes["actor_unknown"] is True
    assert event.channel_id == "680839020124700740"
    assert event.source_event_id == "680840044138987656"
    assert event.occurred_at == RECEIVED
    assert event.dedup_key == "discord:123456789012345678:MESSAGE_DELETE:680840044138987656"


# --- reactions ------------------------------------------------------------------------


def test_a_reaction_add_names_the_reactor_the_message_and_the_emoji() -> None:
    event = only_event(fixture("gateway.MESSAGE_REACTION_ADD.json"))

    assert event.type is CommunityEventType.REACTION_ADDED
    assert event.actor.platform_user_id == "123456789012345678"
    assert event.actor.username == "a"
    assert event.parent_id == "679003565884440580"
    assert event.channel_id == "185949590652977152"
    assert event.attributes["reaction"] == {"name": "😊", "id": None}
    # The capture's message_author_id is "0", which is nobody.
    assert event.object_actor is None
    assert event.occurred_at == RECEIVED
    assert event.dedup_key == (
        "discord:123456789012345678:MESSAGE_REACTION_ADD:679003565884440580:"
        "123456789012345678:😊:s27820"
    )


def test_a_reaction_on_a_known_author_targets_that_author() -> None:
    dispatch = fixture("gateway.MESSAGE_REACTION_ADD.json")
    dispatch["d"]["message_author_id"] = "562268917771413264"

    event = only_event(dispatch)

    assert event.object_actor is not None
    assert event.object_actor.platform_user_id == "562268917771413264"


def test_a_custom_emoji_removal_is_keyed_by_the_emoji_id() -> None:
    event = only_event(ours("gateway.MESSAGE_REACTION_REMOVE.json"))

    assert event.type is CommunityEventType.REACTION_REMOVED
    assert event.actor.platform_user_id == "302050872383242240"
    assert event.attributes["reaction"] == {"name": "hearth", "id": "1210000000000000042"}
    assert event.dedup_key == (
        "discord:1200000000000000000:MESSAGE_REACTION_REMOVE:1250000000000000001:"
        "302050872383242240:1210000000000000042:s412"
    )


def test_toggling_a_reaction_twice_is_two_reactions_but_a_replay_is_one() -> None:
    first = fixture("gateway.MESSAGE_REACTION_ADD.json")
    again_later = copy.deepcopy(first)
    again_later["s"] = first["s"] + 40

    keys = [only_event(d).dedup_key for d in (first, again_later, copy.deepcopy(first))]

    assert keys[0] != keys[1]
    assert keys[0] == keys[2]


# --- members and threads --------------------------------------------------------------


def test_a_member_joins_when_discord_says_they_joined() -> None:
    event = only_event(fixture("gateway.GUILD_MEMBER_ADD.json"))

    assert event.type is CommunityEventType.MEMBER_JOINED
    assert event.actor.platform_user_id == "123456789012345678"
    assert event.actor.username == "abcd"
    assert event.occurred_at == utc("2020-02-22T18:17:30.877307+00:00")
    assert event.channel_id is None
    assert event.dedup_key == (
        "discord:123456789012345678:GUILD_MEMBER_ADD:123456789012345678:"
        "2020-02-22T18:17:30.877307+00:00"
    )


def test_a_bot_leaving_is_member_left_by_a_bot() -> None:
    event = only_event(fixture("gateway.GUILD_MEMBER_REMOVE.json"))

    assert event.type is CommunityEventType.MEMBER_LEFT
    assert event.actor.is_bot is True
    assert event.occurred_at == RECEIVED
    assert event.dedup_key == (
        "discord:123456789012345678:GUILD_MEMBER_REMOVE:123456789012345678:s3641"
    )


def test_a_new_thread_lives_in_its_parent_channel_and_has_a_title() -> None:
    event = only_event(ours("gateway.THREAD_CREATE.json"))

    assert event.type is CommunityEventType.THREAD_CREATED
    assert event.channel_id == "1200000000000000100"
    assert event.thread_id == "1250000000000000500"
    assert event.actor.platform_user_id == "302050872383242240"
    assert event.content is not None and event.content.title == "Patch 1.4 feedback"
    assert event.occurred_at == utc("2024-06-11T08:13:43.876+00:00")
    assert event.dedup_key == "discord:1200000000000000000:THREAD_CREATE:1250000000000000500"


def test_an_old_thread_without_create_timestamp_dates_from_its_id() -> None:
    dispatch = ours("gateway.THREAD_CREATE.json")
    del dispatch["d"]["thread_metadata"]["create_timestamp"]

    assert only_event(dispatch).occurred_at == snowflake_time("1250000000000000500")


def test_being_added_to_an_existing_thread_is_not_a_new_thread() -> None:
    dispatch = ours("gateway.THREAD_CREATE.json")
    del dispatch["d"]["newly_created"]

    assert "existing thread" in ignored(normalize(dispatch))


def test_snowflake_time_matches_discords_documented_example() -> None:
    assert snowflake_time(175928847299117063) == utc("2016-04-30T11:18:25.796+00:00")
    assert snowflake_time("175928847299117063") == utc("2016-04-30T11:18:25.796+00:00")


# --- what is not activity, and what is broken -----------------------------------------


def _system_message() -> dict[str, Any]:
    dispatch = fixture("gateway.MESSAGE_CREATE.json")
    dispatch["d"]["type"] = 7  # USER_JOIN: GUILD_MEMBER_ADD already says it
    return dispatch


def _direct_message() -> dict[str, Any]:
    dispatch = fixture("gateway.MESSAGE_CREATE.json")
    del dispatch["d"]["guild_id"]
    return dispatch


@pytest.mark.parametrize(
    ("dispatch", "reason"),
    [
        (fixture("gateway.INTERACTION_CREATE.application_command.json"), "INTERACTION_CREATE"),
        ({"op": 0, "t": "TYPING_START", "s": 9, "d": {"user_id": "1"}}, "TYPING_START"),
        ({"op": 11, "d": None}, "opcode 11"),
        (_system_message(), "message type 7"),
        (_direct_message(), "outside a guild"),
    ],
)
def test_other_dispatches_are_ignored_with_a_reason(dispatch: dict[str, Any], reason: str) -> None:
    assert reason in ignored(normalize(dispatch))


def _broken(name: str, mutate: Any) -> dict[str, Any]:
    dispatch = fixture(name)
    mutate(dispatch["d"])
    return dispatch


@pytest.mark.parametrize(
    ("dispatch", "field"),
    [
        ("not a frame", "dispatch"),
        ({"op": 0, "s": 1, "d": {}}, "t"),
        ({"op": 0, "t": "MESSAGE_CREATE", "s": 1, "d": []}, "d"),
        (_broken("gateway.MESSAGE_CREATE.json", lambda d: d.pop("author")), "d.author"),
        (_broken("gateway.MESSAGE_CREATE.json", lambda d: d.update(id=732582724)), "d.id"),
        (
            _broken("gateway.MESSAGE_CREATE.json", lambda d: d.update(timestamp="yesterday")),
            "d.timestamp",
        ),
        (_broken("gateway.MESSAGE_DELETE.json", lambda d: d.pop("channel_id")), "d.channel_id"),
        (_broken("gateway.MESSAGE_REACTION_ADD.json", lambda d: d.update(emoji={})), "d.emoji"),
        (_broken("gateway.GUILD_MEMBER_ADD.json", lambda d: d.update(guild_id=1)), "d.guild_id"),
    ],
)
def test_a_malformed_dispatch_names_the_field(dispatch: Any, field: str) -> None:
    with pytest.raises(MalformedPayload, match=rf"^{re.escape(field)}:"):
        normalize(dispatch)


# --- HTTP interactions ----------------------------------------------------------------


def test_a_ping_is_answered_with_pong() -> None:
    result = normalize_discord_interaction(
        fixture("interaction.ping.discord-interactions-js.json"), CTX, received_at=RECEIVED
    )

    assert result.reply == {"type": 1}
    assert result.events == ()


@pytest.mark.parametrize(
    "name",
    [
        "interaction.application_command.chat_input.docs.json",
        "interaction.application_command.user.docs.json",
        "interaction.application_command.message.docs.json",
        "interaction.application_command.discord-interactions-js.json",
    ],
)
def test_an_application_command_is_acknowledged_with_a_deferred_reply(name: str) -> None:
    result = normalize_discord_interaction(fixture(name), CTX, received_at=RECEIVED)

    assert result.reply == {"type": 5}
    assert result.events == ()
    assert result.ignored == "interaction type 2 acknowledged"


def test_other_interactions_are_ignored_without_a_reply() -> None:
    result = normalize_discord_interaction({"type": 3, "id": "1"}, CTX, received_at=RECEIVED)

    assert result.reply is None
    assert result.ignored is not None and "type 3" in result.ignored


@pytest.mark.parametrize("payload", [{"id": "1"}, {"type": "1"}, []])
def test_an_interaction_without_a_type_is_malformed(payload: Any) -> None:
    with pytest.raises(MalformedPayload, match=r"^(type|interaction)\b"):
        normalize_discord_interaction(payload, CTX, received_at=RECEIVED)
