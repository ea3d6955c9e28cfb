"""Slack Events API payloads become the canonical events a community manager would expect."""

from __future__ import annotations

from typing import Any

import pytest

from services.ingest.domain.model import MalformedPayload, Normalized
from services.ingest.domain.slack import normalize_slack, slack_event_id
from shared.events.community import CommunityEvent, CommunityEventType, Platform
from tests.ingest.domain.support import RECEIVED, at, binding, ignored, payloads, the_event, without

CTX = binding(Platform.SLACK, "T111")
fixture, ours = payloads(Platform.SLACK)


def normalize(payload: dict[str, Any]) -> Normalized:
    return normalize_slack(payload, CTX, received_at=RECEIVED)


def only_event(payload: dict[str, Any]) -> CommunityEvent:
    return the_event(normalize(payload))


# platform fixtures ----------------------------------------------------------


def test_url_verification_is_answered_with_its_challenge():
    result = normalize(fixture("url_verification.json"))

    assert result.reply == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert result.events == ()


def test_a_channel_message_is_a_created_message():
    event = only_event(fixture("message.json"))

    assert event.type is CommunityEventType.MESSAGE_CREATED
    assert event.platform is Platform.SLACK
    assert (event.tenant_id, event.community_id) == ("tenant-1", "community-1")
    assert event.actor.platform_user_id == "W111"
    assert event.actor.is_bot is False
    assert (event.workspace_id, event.channel_id) == ("T111", "C111")
    assert (event.thread_id, event.parent_id) == (None, None)
    assert event.content is not None
    assert event.content.text == "Hello World!"
    assert event.dedup_key == "slack:message:C111:1596183880.004200"  # as its import
    assert event.source_event_id == "Ev111"
    assert event.occurred_at == at(1596183880.0042)
    assert event.ingested_at == RECEIVED
    assert event.attributes["ts"] == "1596183880.004200"
    assert event.attributes["message_id"] == "1596183880.004200"
    assert event.attributes["client_msg_id"] == "a8744611-0210-4f85-9f15-5faf7fb225c8"


def test_a_thread_reply_points_at_its_thread_root():
    event = only_event(fixture("message.thread_reply.json"))

    assert event.type is CommunityEventType.MESSAGE_CREATED
    assert event.actor.platform_user_id == "W222"
    assert event.thread_id == "1726133698.626339"
    assert event.parent_id == "1726133698.626339"
    assert event.content is not None
    assert event.content.text == "When Slack was released?"
    assert event.occurred_at == at(1726133700.887259)


def test_a_thread_broadcast_is_a_reply_also_shown_in_the_channel():
    event = only_event(fixture("message.thread_broadcast.json"))

    assert event.type is CommunityEventType.MESSAGE_CREATED
    assert event.actor.platform_user_id == "U111"
    assert event.channel_id == "C111"
    assert event.thread_id == event.parent_id == "1633663824.000500"
    assert event.content is not None
    assert event.content.text == "Hi there!"
    assert event.attributes["subtype"] == "thread_broadcast"
    # The message's own ts, not the envelope's event_time (which this sample sets a year apart).
    assert event.occurred_at == at(1633670813.0075)


def test_a_thread_root_names_its_thread_but_has_no_parent():
    payload = fixture("message.json")
    payload["event"]["thread_ts"] = payload["event"]["ts"]

    event = only_event(payload)

    assert (event.thread_id, event.parent_id) == ("1596183880.004200", None)


def test_an_edit_carries_the_new_text_and_the_edited_messages_ts():
    event = only_event(fixture("message_changed.json"))

    assert event.type is CommunityEventType.MESSAGE_EDITED
    assert event.actor.platform_user_id == "U111"
    assert event.channel_id == "C111"
    assert event.content is not None
    assert event.content.text == "updated message"
    assert event.attributes["message_id"] == "1665102338.901939"
    assert event.attributes["edited_ts"] == "1665102362.000000"
    assert event.occurred_at == at(1665102362.0136)
    assert event.dedup_key == "slack:T111:Ev111"


def test_a_message_changed_without_a_text_change_is_ignored():
    payload = fixture("message_changed.json")
    payload["event"]["message"]["text"] = payload["event"]["previous_message"]["text"]

    assert "text change" in ignored(normalize(payload))


def test_a_deletion_names_the_deleted_message_and_its_author():
    event = only_event(fixture("message_deleted.json"))

    assert event.type is CommunityEventType.MESSAGE_DELETED
    assert event.actor.platform_user_id == "U111"
    assert event.channel_id == "C111"
    assert event.attributes["message_id"] == "1665368619.804829"
    assert event.content is None
    assert event.occurred_at == at(1665368629.0071)


def test_a_reaction_targets_the_message_and_its_author():
    event = only_event(fixture("reaction_added.json"))

    assert event.type is CommunityEventType.REACTION_ADDED
    assert event.actor.platform_user_id == "W111"
    assert event.object_actor is not None
    assert event.object_actor.platform_user_id == "W111"
    assert event.channel_id == "C111"
    assert event.parent_id == "1599529504.000400"
    assert event.attributes["reaction"] == "heart_eyes"
    assert event.attributes["message_id"] == "1599529504.000400"
    assert event.occurred_at == at(1599616881.0008)


def test_the_sdk_sample_with_blanked_ids_is_malformed():
    with pytest.raises(MalformedPayload, match="team_id"):
        normalize(fixture("reaction_removed.java-slack-sdk-sample.json"))


def test_joining_a_channel_is_a_member_joining():
    event = only_event(fixture("member_joined_channel.json"))

    assert event.type is CommunityEventType.MEMBER_JOINED
    assert event.actor.platform_user_id == "U999"
    assert event.channel_id == "C111"
    assert event.attributes["inviter"] == "U222"
    assert event.occurred_at == at(1599616881)


def test_leaving_a_channel_is_a_member_leaving():
    event = only_event(fixture("member_left_channel.json"))

    assert event.type is CommunityEventType.MEMBER_LEFT
    assert event.actor.platform_user_id == "U999"
    assert event.channel_id == "C111"


def test_app_mention_is_ignored_because_the_message_event_carries_it():
    assert "app_mention" in ignored(normalize(fixture("app_mention.json")))


# our own payloads -------------------------------------------------------------


def test_a_bot_message_has_a_bot_actor():
    event = only_event(ours("message.bot_message.json"))

    assert event.type is CommunityEventType.MESSAGE_CREATED
    assert event.actor.platform_user_id == "B0CIBOT"
    assert event.actor.username == "ci-bot"
    assert event.actor.is_bot is True
    assert event.content is not None
    assert event.content.links == ["https://ci.hearth.example/runs/42"]


def test_a_user_message_with_a_bot_id_is_a_bot():
    payload = fixture("message.json")
    payload["event"]["bot_id"] = "B0APP"

    event = only_event(payload)

    assert event.actor.platform_user_id == "W111"
    assert event.actor.is_bot is True


def test_a_removed_reaction_names_whose_message_it_was_on():
    event = only_event(ours("reaction_removed.json"))

    assert event.type is CommunityEventType.REACTION_REMOVED
    assert event.actor.platform_user_id == "U0ADA"
    assert event.object_actor is not None
    assert event.object_actor.platform_user_id == "U0GRACE"
    assert event.channel_id == "C0GENERAL"
    assert event.parent_id == "1741944000.000100"
    assert event.attributes["reaction"] == "thumbsup"
    assert event.dedup_key == "slack:T0HEARTH:Ev0REACTRM"


def test_mentions_links_entities_and_files_are_read_from_the_message():
    event = only_event(ours("message.mentions_links_file.json"))

    assert event.content is not None
    assert event.content.mentions == ["U0GRACE", "U0LINUS"]
    assert event.content.links == [
        "https://docs.hearth.example/sync",
        "https://status.hearth.example",
    ]
    assert event.content.text is not None
    assert "crash & the config" in event.content.text
    (attachment,) = event.content.attachments
    assert (attachment.name, attachment.content_type, attachment.size_bytes) == (
        "sync.log",
        "text/plain",
        2048,
    )


def test_a_slack_notice_subtype_is_ignored_with_its_name():
    assert "channel_join" in ignored(normalize(ours("message.channel_join.json")))


def test_a_body_that_is_not_an_event_callback_is_ignored():
    assert "app_rate_limited" in ignored(normalize(ours("app_rate_limited.json")))


def test_an_unknown_event_type_is_ignored_not_an_error():
    payload = fixture("message.json")
    payload["event"] = {"type": "emoji_changed", "subtype": "add", "name": "partyparrot"}

    assert "emoji_changed" in ignored(normalize(payload))


# malformed payloads -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path", "named"),
    [
        ("message.json", ("event",), "event"),
        ("message.json", ("team_id",), "team_id"),
        ("message.json", ("event_id",), "event_id"),
        ("message.json", ("event", "type"), "event.type"),
        ("message.json", ("event", "user"), "event.user"),
        ("reaction_added.json", ("event", "item"), "event.item"),
        ("reaction_added.json", ("event", "reaction"), "event.reaction"),
        ("message_changed.json", ("event", "message"), "event.message"),
        ("message_deleted.json", ("event", "previous_message"), "event.previous_message"),
        ("url_verification.json", ("challenge",), "challenge"),
    ],
)
def test_a_missing_required_field_is_malformed_and_named(name, path, named):
    with pytest.raises(MalformedPayload, match=named.replace(".", r"\.")):
        normalize(without(fixture(name), *path))


def test_a_malformed_timestamp_is_named():
    payload = fixture("message.json")
    payload["event"]["ts"] = payload["event"]["event_ts"] = "not-a-time"

    with pytest.raises(MalformedPayload, match=r"event\.event_ts"):
        normalize(payload)


def test_the_event_id_is_read_for_retry_dedup():
    assert slack_event_id(fixture("message.json")) == "Ev111"
    assert slack_event_id(fixture("url_verification.json")) is None
