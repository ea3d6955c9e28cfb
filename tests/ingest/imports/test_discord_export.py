"""A DiscordChatExporter channel export becomes backfilled joins, messages and threads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.ingest.domain.imports import ParseStats, detect_format, parse_discord
from services.ingest.schemas import ActorIn, EventIn
from shared.events.community import Attachment, CommunityEventType, Content, Platform
from tests.ingest.imports.conftest import COMMUNITY, SAMPLES, dumped

SAMPLE = SAMPLES / "discord_channel.json"
GUILD = "869000000000000001"
CHANNEL = "869000000000000100"
ALICE = ActorIn(platform_user_id="869000000000009001", username="alice", display_name="Alice")
BOB = ActorIn(platform_user_id="869000000000009002", username="bob", display_name="Bob")


def parse(source: Any = SAMPLE, stats: ParseStats | None = None) -> list[EventIn]:
    if not isinstance(source, Path):  # a file object the test opened itself
        return list(parse_discord(source, community_id=COMMUNITY, stats=stats))
    with source.open("rb") as file:  # the parsers never open files: their caller does
        return list(parse_discord(file, community_id=COMMUNITY, stats=stats))


def detect(path: Path) -> str:
    with path.open("rb") as file:
        return detect_format(file)


def rewritten(tmp_path: Path, **changes: Any) -> Path:
    export = json.loads(SAMPLE.read_text(encoding="utf-8"))
    export.update(changes)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    return path


def test_the_sample_becomes_a_join_messages_a_reply_and_a_thread():
    events = parse()

    assert [(e.type, e.actor.platform_user_id, e.source_event_id) for e in events] == [
        (CommunityEventType.MEMBER_JOINED, ALICE.platform_user_id, "869000000000001001"),
        (CommunityEventType.MESSAGE_CREATED, ALICE.platform_user_id, "869000000000001002"),
        (CommunityEventType.MESSAGE_CREATED, BOB.platform_user_id, "869000000000001003"),
        (CommunityEventType.THREAD_CREATED, BOB.platform_user_id, "869000000000001004"),
        (CommunityEventType.MESSAGE_CREATED, "869000000000009100", "869000000000001006"),
    ]
    for event in events:
        assert event.backfilled is True
        assert event.platform is Platform.DISCORD
        assert (event.workspace_id, event.channel_id) == (GUILD, CHANNEL)
        # a message is keyed as live traffic keys it; other events in the import namespace
        namespace = (
            "discord:message"
            if event.type is CommunityEventType.MESSAGE_CREATED
            else "import:discord"
        )
        assert event.dedup_key == f"{namespace}:{CHANNEL}:{event.source_event_id}"


def test_a_reply_points_at_the_message_it_answers():
    reply = parse()[2]

    assert reply == EventIn(
        type=CommunityEventType.MESSAGE_CREATED,
        community_id=COMMUNITY,
        platform=Platform.DISCORD,
        occurred_at=datetime(2024, 6, 1, 12, 7, 30, tzinfo=UTC),
        dedup_key=f"discord:message:{CHANNEL}:869000000000001003",
        source_event_id="869000000000001003",
        workspace_id=GUILD,
        channel_id=CHANNEL,
        parent_id="869000000000001002",
        actor=BOB,
        content=Content(text="Thanks @Alice!", mentions=[ALICE.platform_user_id]),
        attributes={
            "message_id": "869000000000001003",
            "message_type": "Reply",
            "edited_at": "2024-06-01T12:09:00+00:00",
        },
        backfilled=True,
    )


def test_a_member_join_is_the_author_joining():
    joined = parse()[0]

    assert joined.actor == ALICE
    assert joined.content is None
    assert joined.parent_id is None


def test_a_message_keeps_its_attachment_links_and_reactions_in_utc():
    posted = parse()[1]

    assert posted.occurred_at == datetime(2024, 6, 1, 12, 5, tzinfo=UTC)  # written +02:00
    assert posted.content is not None
    assert posted.content.links == ["https://hearth.example/guide"]
    assert posted.content.attachments == [
        Attachment(
            url="https://cdn.discordapp.com/attachments/869000000000000100/869000000000005001/map.png",
            name="map.png",
            size_bytes=48213,
        )
    ]
    assert posted.attributes["reactions"] == [{"emoji": "👍", "count": 3}]
    assert posted.attributes["pinned"] is True


def test_a_created_thread_is_named_by_the_thread_channel():
    thread = parse()[3]

    assert thread.thread_id == "869000000000002001"
    assert thread.content == Content(title="Feedback on the guide")


def test_bots_are_marked_and_other_system_messages_skipped():
    stats = ParseStats()
    events = parse(stats=stats)

    assert events[-1].actor.is_bot is True
    assert stats.parsed == 5
    assert stats.skipped == {"message type ChannelPinnedMessage": 1}


def test_parsing_twice_gives_identical_events():
    assert dumped(parse()) == dumped(parse())


def test_messages_of_an_exported_thread_carry_its_id(tmp_path: Path):
    thread = {"id": "869000000000002001", "type": "GuildPublicThread", "name": "Feedback"}
    path = rewritten(tmp_path, channel=thread)

    messages = [e for e in parse(path) if e.type is not CommunityEventType.THREAD_CREATED]

    assert {(e.channel_id, e.thread_id) for e in messages} == {
        ("869000000000002001", "869000000000002001")
    }


def test_a_direct_message_export_is_not_imported(tmp_path: Path):
    path = rewritten(tmp_path, guild={"id": "0", "name": "Direct Messages"})
    stats = ParseStats()

    assert parse(path, stats) == []
    assert stats.skipped == {"direct messages are not community activity": 6}


def test_detected_as_discord():
    assert detect(SAMPLE) == "discord"


def test_a_json_file_that_is_no_export_is_refused(tmp_path: Path):
    path = tmp_path / "other.json"
    path.write_text('{"data": [1, 2, 3]}', encoding="utf-8")

    with pytest.raises(ValueError, match=r"not a Telegram .* Slack .* DiscordChatExporter"):
        detect(path)
