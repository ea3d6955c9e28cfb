"""A Telegram Desktop chat export becomes the backfilled history a community manager expects."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.ingest.domain.imports import ParseStats, detect_format, parse_telegram
from services.ingest.schemas import ActorIn, EventIn
from shared.events.community import CommunityEventType, Content, Platform
from tests.ingest.imports.conftest import COMMUNITY, SAMPLES, dumped

SAMPLE = SAMPLES / "telegram_result.json"
CHAT = "-1001571234567"  # the Bot API id of supergroup 1571234567


def parse(source: Any = SAMPLE, stats: ParseStats | None = None) -> list[EventIn]:
    if not isinstance(source, Path):  # a file object the test opened itself
        return list(parse_telegram(source, community_id=COMMUNITY, stats=stats))
    with source.open("rb") as file:  # the parsers never open files: their caller does
        return list(parse_telegram(file, community_id=COMMUNITY, stats=stats))


def detect(path: Path) -> str:
    with path.open("rb") as file:
        return detect_format(file)


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def write(tmp_path: Path, export: dict[str, Any], **dump: Any) -> Path:
    path = tmp_path / "result.json"
    path.write_text(json.dumps(export, **dump), encoding="utf-8")
    return path


def export(*messages: Any, kind: str = "public_supergroup") -> dict[str, Any]:
    return {"name": "Forum", "type": kind, "id": 1571234567, "messages": list(messages)}


def message(message_id: int, user: int, text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "date": "2024-06-01T14:00:00",
        "date_unixtime": str(1717243200 + message_id),
        "from": f"User {user}",
        "from_id": f"user{user}",
        "text": text,
        "text_entities": [{"type": "plain", "text": text}],
        **extra,
    }


def test_the_sample_becomes_joins_messages_and_a_leave_in_file_order():
    events = parse()

    assert [(e.type, e.actor.platform_user_id, e.source_event_id) for e in events] == [
        (CommunityEventType.MEMBER_JOINED, "1001", "101"),
        (CommunityEventType.MESSAGE_CREATED, "1001", "102"),
        (CommunityEventType.MESSAGE_CREATED, "1002", "103"),
        (CommunityEventType.MESSAGE_CREATED, "1003", "105"),
        (CommunityEventType.MEMBER_LEFT, "1002", "107"),
    ]
    for event in events:
        assert event.backfilled is True
        assert event.platform is Platform.TELEGRAM
        assert event.community_id == COMMUNITY
        assert event.workspace_id == event.channel_id == CHAT
        # a message is keyed as live traffic keys it; other events in the import namespace
        namespace = (
            "telegram:message"
            if event.type is CommunityEventType.MESSAGE_CREATED
            else "import:telegram"
        )
        assert event.dedup_key == f"{namespace}:{CHAT}:{event.source_event_id}"


def test_an_edited_reply_keeps_its_parent_mentions_and_edit_time():
    reply = parse()[2]

    assert reply == EventIn(
        type=CommunityEventType.MESSAGE_CREATED,
        community_id=COMMUNITY,
        platform=Platform.TELEGRAM,
        occurred_at=at(1717243650),
        dedup_key=f"telegram:message:{CHAT}:103",
        source_event_id="103",
        workspace_id=CHAT,
        channel_id=CHAT,
        parent_id="102",
        actor=ActorIn(platform_user_id="1002", display_name="Bob Sample"),
        content=Content(
            text="Thanks @alice_example, asking Carol too", mentions=["@alice_example", "1003"]
        ),
        attributes={
            "message_id": 103,
            "edited_at": "2024-06-01T12:09:00+00:00",
            "reactions": [{"type": "emoji", "emoji": "👍", "count": 2}],
        },
        backfilled=True,
    )


def test_times_are_the_unix_ones_not_the_exporters_local_clock():
    joined = parse()[0]

    # "date" says 14:00 local time of the exporting computer; date_unixtime is 12:00 UTC
    assert joined.occurred_at == datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    assert joined.attributes == {
        "message_id": 101,
        "action": "join_group_by_link",
        "inviter": "Group",
    }


def test_links_from_link_and_text_link_entities_and_a_photo_by_name():
    events = parse()

    assert events[1].content is not None
    assert events[1].content.text == (
        "Hi all! The guide is at https://hearth.example/guide and the FAQ"
    )
    assert events[1].content.links == ["https://hearth.example/guide", "https://hearth.example/faq"]
    photo = events[3]
    assert photo.content is not None
    assert photo.content.text is None
    assert [a.name for a in photo.content.attachments] == ["photo_1@01-06-2024_14-12-00.jpg"]
    assert photo.attributes["media"] == ["photo"]


def test_service_messages_without_member_ids_are_skipped_and_counted():
    stats = ParseStats()
    parse(stats=stats)

    assert stats.parsed == 5
    assert stats.skipped == {
        "service invite_members naming others: the export gives their names, no ids": 1,
        "service action pin_message": 1,
    }


def test_parsing_twice_gives_identical_events():
    assert dumped(parse()) == dumped(parse())


def test_an_open_binary_or_text_file_reads_like_a_path():
    raw = SAMPLE.read_bytes()

    assert dumped(parse(io.BytesIO(raw))) == dumped(parse())
    assert dumped(parse(io.StringIO(raw.decode()))) == dumped(parse())


def test_a_header_written_after_the_messages_still_parses(tmp_path: Path):
    rewritten = write(tmp_path, json.loads(SAMPLE.read_text()), sort_keys=True)

    assert dumped(parse(rewritten)) == dumped(parse())


def test_forum_topics_become_threads_and_replies_inside_inherit_them(tmp_path: Path):
    topic = {
        "id": 10,
        "type": "service",
        "date_unixtime": "1717243210",
        "actor": "User 1",
        "actor_id": "user1",
        "action": "topic_created",
        "title": "Bugs",
    }
    path = write(
        tmp_path,
        export(
            topic,
            message(11, 2, reply_to_message_id=10),
            message(12, 3, reply_to_message_id=11),
            message(13, 4),
        ),
    )

    created, in_topic, reply_in_topic, general = parse(path)

    assert created.type is CommunityEventType.THREAD_CREATED
    assert (created.thread_id, created.content) == ("10", Content(title="Bugs"))
    assert (in_topic.thread_id, in_topic.parent_id) == ("10", None)
    assert (reply_in_topic.thread_id, reply_in_topic.parent_id) == ("10", "11")
    assert (general.thread_id, general.parent_id) == (None, None)


def test_members_who_add_or_remove_themselves_join_and_leave(tmp_path: Path):
    def service(message_id: int, action: str) -> dict[str, Any]:
        return {
            "id": message_id,
            "type": "service",
            "date_unixtime": "1717243200",
            "actor": "Dana",
            "actor_id": "user77",
            "action": action,
            "members": ["Dana"],
        }

    path = write(
        tmp_path,
        export(
            service(1, "invite_members"),
            service(2, "join_group_by_request"),
            service(3, "remove_members"),
        ),
    )

    assert [(e.type, e.actor.platform_user_id) for e in parse(path)] == [
        (CommunityEventType.MEMBER_JOINED, "77"),
        (CommunityEventType.MEMBER_JOINED, "77"),
        (CommunityEventType.MEMBER_LEFT, "77"),
    ]


def test_posts_as_a_channel_take_the_channels_bot_api_id(tmp_path: Path):
    post = message(5, 0, from_id="channel1571234567", **{"from": "Hearth News"})
    path = write(tmp_path, export(post, kind="public_channel"))

    (event,) = parse(path)

    assert event.actor == ActorIn(platform_user_id=CHAT, display_name="Hearth News")
    assert event.attributes["sender_is_chat"] is True


def test_a_basic_group_and_an_old_export_without_unix_times(tmp_path: Path):
    old = message(5, 9)
    del old["date_unixtime"]
    path = write(tmp_path, export(old, kind="private_group"))

    (event,) = parse(path)

    assert event.channel_id == "-1571234567"
    assert event.occurred_at == datetime(2024, 6, 1, 14, 0, tzinfo=UTC)
    assert event.attributes["time_assumed_utc"] is True


def test_malformed_messages_are_skipped_with_reasons(tmp_path: Path):
    no_sender = message(3, 1)
    del no_sender["from_id"]
    path = write(tmp_path, export("junk", {"type": "message"}, no_sender, {"id": 4, "type": "x"}))
    stats = ParseStats()

    assert parse(path, stats) == []
    assert stats.skipped == {
        "malformed: a message is not an object": 1,
        "malformed: a message has no integer id": 1,
        "message without a sender (from_id)": 1,
        "message type x": 1,
    }


def test_long_text_is_cut_to_the_event_limit_and_flagged(tmp_path: Path):
    path = write(tmp_path, export(message(1, 1, text="x" * 100_001)))

    (event,) = parse(path)

    assert event.content is not None and len(event.content.text or "") == 100_000
    assert event.attributes["text_truncated"] is True


def test_detected_as_telegram():
    assert detect(SAMPLE) == "telegram"


def test_a_whole_account_export_is_refused_with_what_to_do_instead(tmp_path: Path):
    path = write(tmp_path, {"about": "...", "chats": {"about": "...", "list": []}})

    with pytest.raises(ValueError, match="export one chat"):
        detect(path)
    with pytest.raises(ValueError, match="export one chat"):
        parse(path)
