"""Discourse webhook payloads become the canonical events of a forum community."""

from __future__ import annotations

from typing import Any

import pytest

from services.ingest.domain.discourse import normalize_discourse
from services.ingest.domain.model import MalformedPayload, Normalized
from shared.events.community import CommunityEvent, CommunityEventType, Platform
from tests.ingest.domain.support import (
    RECEIVED,
    binding,
    ignored,
    payloads,
    the_event,
    utc,
    without,
)

INSTANCE = "https://forum.hearth.example"
CTX = binding(Platform.DISCOURSE, INSTANCE)
_, ours = payloads(Platform.DISCOURSE)


def normalize(
    event: str, payload: dict[str, Any], *, event_id: str | None = "8812", instance: str = INSTANCE
) -> Normalized:
    return normalize_discourse(
        event, payload, CTX, instance=instance, event_id=event_id, received_at=RECEIVED
    )


def only_event(event: str, payload: dict[str, Any], **kwargs: Any) -> CommunityEvent:
    return the_event(normalize(event, payload, **kwargs))


def test_a_new_reply_is_a_message_in_its_topic_answering_a_post():
    event = only_event("post_created", ours("post_created.json"))

    assert event.type is CommunityEventType.MESSAGE_CREATED
    assert event.platform is Platform.DISCOURSE
    assert (event.tenant_id, event.community_id) == ("tenant-1", "community-1")
    assert event.actor.platform_user_id == "17"
    assert event.actor.username == "ada"
    assert event.actor.display_name == "Ada Lovelace"
    assert event.actor.is_bot is False
    assert event.workspace_id == INSTANCE
    assert event.channel_id == "5"
    assert event.thread_id == "41"
    assert event.parent_id == "2"
    assert event.content is not None
    assert event.content.text == (
        "Thanks @grace, the fix in https://github.com/hearth-example/hearth/pull/12 "
        "works for me & my team."
    )
    assert str(event.content.url) == f"{INSTANCE}/t/sync-stops-after-upgrade/41/3"
    assert event.content.links == ["https://github.com/hearth-example/hearth/pull/12"]
    assert event.dedup_key == f"discourse:{INSTANCE}:8812"
    assert event.source_event_id == "8812"
    assert event.occurred_at == utc("2025-03-14T09:26:53.589Z")
    assert event.attributes["message_id"] == 1207
    assert event.attributes["post_number"] == 3
    assert event.attributes["mentioned_usernames"] == ["grace"]


def test_without_raw_the_text_comes_from_the_cooked_html():
    event = only_event("post_created", ours("post_created.cooked_only.json"))

    assert event.content is not None
    assert event.content.text == "Welcome to the forum!\nRead the guidelines\nSay hi in #general"
    assert event.content.links == ["https://forum.hearth.example/guidelines"]
    assert event.parent_id is None


def test_the_system_user_is_a_bot():
    event = only_event("post_created", ours("post_created.cooked_only.json"))

    assert event.actor.platform_user_id == "-1"
    assert event.actor.username == "system"
    assert event.actor.is_bot is True


def test_an_edit_carries_the_new_text_at_the_edit_time():
    event = only_event("post_edited", ours("post_edited.json"))

    assert event.type is CommunityEventType.MESSAGE_EDITED
    assert event.actor.username == "ada"
    assert event.content is not None
    assert event.content.text is not None
    assert event.content.text.endswith("works for me and my whole team.")
    assert event.occurred_at == utc("2025-03-14T09:31:02.114Z")
    assert event.attributes["message_id"] == 1207
    assert event.attributes["version"] == 2


def test_a_destroyed_post_is_a_deleted_message_of_its_author():
    event = only_event("post_destroyed", ours("post_destroyed.json"))

    assert event.type is CommunityEventType.MESSAGE_DELETED
    assert event.actor.platform_user_id == "17"
    assert event.thread_id == "41"
    assert event.content is None
    assert event.occurred_at == utc("2025-03-14T10:02:45.001Z")
    assert event.attributes["message_id"] == 1207


def test_a_new_topic_is_a_new_thread():
    event = only_event("topic_created", ours("topic_created.json"))

    assert event.type is CommunityEventType.THREAD_CREATED
    assert event.actor.platform_user_id == "9"
    assert event.actor.username == "grace"
    assert event.actor.display_name == "Grace Hopper"
    assert (event.channel_id, event.thread_id) == ("5", "41")
    assert event.content is not None
    assert event.content.title == "Sync stops after upgrade"
    assert str(event.content.url) == f"{INSTANCE}/t/sync-stops-after-upgrade/41"
    assert event.occurred_at == utc("2025-03-13T17:40:11.842Z")
    assert event.attributes["tags"] == ["sync", "upgrade"]


def test_a_new_user_is_a_member_joining():
    event = only_event("user_created", ours("user_created.json"))

    assert event.type is CommunityEventType.MEMBER_JOINED
    assert event.actor.platform_user_id == "23"
    assert event.actor.username == "linus"
    assert event.actor.display_name == "Linus T"
    assert event.workspace_id == INSTANCE
    assert event.channel_id is None
    assert event.occurred_at == utc("2025-03-16T12:05:41.203Z")


@pytest.mark.parametrize("event_name", ["post_liked", "like"])
def test_a_like_is_a_reaction_on_the_authors_post(event_name):
    event = only_event(event_name, ours("post_liked.json"))

    assert event.type is CommunityEventType.REACTION_ADDED
    assert event.actor.platform_user_id == "17"
    assert event.actor.username == "ada"
    assert event.object_actor is not None
    assert event.object_actor.platform_user_id == "9"
    assert event.object_actor.username == "grace"
    assert (event.channel_id, event.thread_id, event.parent_id) == ("5", "41", "1")
    assert event.attributes["reaction"] == "like"
    assert event.attributes["message_id"] == 1198
    # A like carries no time of its own.
    assert event.occurred_at == RECEIVED


@pytest.mark.parametrize(
    ("event_name", "name", "key"),
    [
        ("post_created", "post_created.json", "post_created:1207"),
        ("post_edited", "post_edited.json", "post_edited:1207:2"),
        ("post_destroyed", "post_destroyed.json", "post_destroyed:1207"),
        ("topic_created", "topic_created.json", "topic_created:41"),
        ("user_created", "user_created.json", "user_created:23"),
        ("post_liked", "post_liked.json", "post_liked:1198:17"),
    ],
)
def test_without_an_event_id_the_key_is_built_from_the_object(event_name, name, key):
    event = only_event(event_name, ours(name), event_id=None)

    assert event.dedup_key == f"discourse:{INSTANCE}:{key}"
    assert event.source_event_id is None


def test_the_instance_is_read_without_a_trailing_slash():
    event = only_event("post_created", ours("post_created.json"), instance=INSTANCE + "/")

    assert event.workspace_id == INSTANCE
    assert event.dedup_key == f"discourse:{INSTANCE}:8812"


def test_a_small_action_post_is_ignored():
    payload = ours("post_created.json")
    payload["post"]["post_type"] = 3

    assert "small action" in ignored(normalize("post_created", payload))


@pytest.mark.parametrize("event_name", ["ping", "user_logged_in", "topic_closed_status_updated"])
def test_other_events_are_ignored_not_errors(event_name):
    assert event_name in ignored(normalize(event_name, {"ping": "OK"}))


@pytest.mark.parametrize(
    ("event_name", "name", "path", "named"),
    [
        ("post_created", "post_created.json", ("post",), "post"),
        ("post_created", "post_created.json", ("post", "id"), "post.id"),
        ("post_created", "post_created.json", ("post", "topic_id"), "post.topic_id"),
        ("post_edited", "post_edited.json", ("post", "user_id"), "post.user_id"),
        ("topic_created", "topic_created.json", ("topic", "id"), "topic.id"),
        ("user_created", "user_created.json", ("user", "id"), "user.id"),
        ("post_liked", "post_liked.json", ("like", "user"), "like.user"),
        ("post_liked", "post_liked.json", ("like", "post"), "like.post"),
    ],
)
def test_a_missing_required_field_is_malformed_and_named(event_name, name, path, named):
    with pytest.raises(MalformedPayload, match=named.replace(".", r"\.")):
        normalize(event_name, without(ours(name), *path))


def test_a_malformed_timestamp_is_named():
    payload = ours("post_created.json")
    payload["post"]["created_at"] = "soon"

    with pytest.raises(MalformedPayload, match=r"post\.created_at"):
        normalize("post_created", payload)


def test_a_delivery_without_its_instance_is_malformed():
    with pytest.raises(MalformedPayload, match="X-Discourse-Instance"):
        normalize("post_created", ours("post_created.json"), instance="")
