"""A Slack workspace export zip becomes backfilled messages, threads, joins and leaves."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.ingest.domain.imports import ParseStats, detect_format, parse_slack
from services.ingest.schemas import ActorIn, EventIn
from shared.events.community import Attachment, CommunityEventType, Content, Platform
from tests.ingest.imports.conftest import COMMUNITY, dumped

TEAM = "T0HEARTH"
GENERAL = "C0GENERAL"
ROOT_TS = "1717243500.000100"

USERS = [
    {
        "id": "U0ALICE",
        "team_id": TEAM,
        "name": "alice",
        "real_name": "Alice Example",
        "profile": {"display_name": "alice.e", "real_name": "Alice Example"},
        "is_bot": False,
    },
    {
        "id": "U0BOB",
        "team_id": TEAM,
        "name": "bob",
        "real_name": "Bob Sample",
        "profile": {"display_name": "", "real_name": "Bob Sample"},
        "is_bot": False,
    },
    {
        "id": "U0DEPLOY",
        "team_id": TEAM,
        "name": "deploybot",
        "profile": {"real_name": "Deploy Bot"},
        "is_bot": True,
    },
]
CHANNELS = [{"id": GENERAL, "name": "general", "created": 1700000000, "members": ["U0ALICE"]}]
DAY_ONE = [
    {
        "type": "message",
        "subtype": "channel_join",
        "ts": "1717243200.000100",
        "user": "U0ALICE",
        "text": "<@U0ALICE> has joined the channel",
    },
    {
        "type": "message",
        "ts": ROOT_TS,
        "user": "U0ALICE",
        "text": "Release notes: <https://hearth.example/notes|notes> &amp; thanks <@U0BOB>",
        "thread_ts": ROOT_TS,
        "reply_count": 1,
        "reactions": [{"name": "tada", "users": ["U0BOB"], "count": 1}],
    },
    {
        "type": "message",
        "ts": "1717243650.000200",
        "user": "U0BOB",
        "text": "Nice!",
        "thread_ts": ROOT_TS,
        "parent_user_id": "U0ALICE",
        "edited": {"user": "U0BOB", "ts": "1717243700.000000"},
        "files": [
            {
                "id": "F0SHOT",
                "name": "shot.png",
                "mimetype": "image/png",
                "size": 2048,
                "url_private": "https://files.slack.com/files-pri/T0HEARTH-F0SHOT/shot.png",
            }
        ],
    },
    {
        "type": "message",
        "subtype": "bot_message",
        "ts": "1717243800.000300",
        "bot_id": "B0DEPLOY",
        "username": "deploybot",
        "text": "Deployed v1.2",
    },
    {
        "type": "message",
        "subtype": "channel_topic",
        "ts": "1717243900.000400",
        "user": "U0ALICE",
        "text": "set the channel topic: Releases",
    },
]
DAY_TWO = [
    {
        "type": "message",
        "subtype": "channel_leave",
        "ts": "1717330000.000100",
        "user": "U0BOB",
        "text": "<@U0BOB> has left the channel",
    }
]


def build(tmp_path: Path, *, root: str = "", extra: dict[str, Any] | None = None) -> Path:
    """A Slack export zip with the files above (days deliberately stored out of order)."""
    files: dict[str, Any] = {
        "users.json": USERS,
        "channels.json": CHANNELS,
        "general/2024-06-02.json": DAY_TWO,
        "general/2024-06-01.json": DAY_ONE,
        **(extra or {}),
    }
    path = tmp_path / "slack-export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(root + name, json.dumps(content))
    return path


def parse(path: Path, stats: ParseStats | None = None) -> list[EventIn]:
    if not isinstance(path, Path):  # a file object the test opened itself
        return list(parse_slack(path, community_id=COMMUNITY, stats=stats))
    with path.open("rb") as file:  # the parsers never open files: their caller does
        return list(parse_slack(file, community_id=COMMUNITY, stats=stats))


def detect(path: Path) -> str:
    with path.open("rb") as file:
        return detect_format(file)


def test_the_export_becomes_a_join_a_thread_a_bot_post_and_a_leave_in_order(tmp_path: Path):
    events = parse(build(tmp_path))

    assert [(e.type, e.actor.platform_user_id, e.thread_id, e.parent_id) for e in events] == [
        (CommunityEventType.MEMBER_JOINED, "U0ALICE", None, None),
        (CommunityEventType.MESSAGE_CREATED, "U0ALICE", ROOT_TS, None),
        (CommunityEventType.MESSAGE_CREATED, "U0BOB", ROOT_TS, ROOT_TS),
        (CommunityEventType.MESSAGE_CREATED, "B0DEPLOY", None, None),
        (CommunityEventType.MEMBER_LEFT, "U0BOB", None, None),
    ]
    for event in events:
        assert event.backfilled is True
        assert event.platform is Platform.SLACK
        assert (event.workspace_id, event.channel_id) == (TEAM, GENERAL)
        # a message is keyed as live traffic keys it; other events in the import namespace
        namespace = (
            "slack:message" if event.type is CommunityEventType.MESSAGE_CREATED else "import:slack"
        )
        assert event.dedup_key == f"{namespace}:{GENERAL}:{event.source_event_id}"


def test_a_thread_reply_is_attributed_from_users_json(tmp_path: Path):
    reply = parse(build(tmp_path))[2]

    assert reply == EventIn(
        type=CommunityEventType.MESSAGE_CREATED,
        community_id=COMMUNITY,
        platform=Platform.SLACK,
        occurred_at=datetime(2024, 6, 1, 12, 7, 30, 200, tzinfo=UTC),
        dedup_key=f"slack:message:{GENERAL}:1717243650.000200",
        source_event_id="1717243650.000200",
        workspace_id=TEAM,
        channel_id=GENERAL,
        thread_id=ROOT_TS,
        parent_id=ROOT_TS,
        actor=ActorIn(platform_user_id="U0BOB", username="bob", display_name="Bob Sample"),
        content=Content(
            text="Nice!",
            attachments=[
                Attachment(
                    url="https://files.slack.com/files-pri/T0HEARTH-F0SHOT/shot.png",
                    content_type="image/png",
                    name="shot.png",
                    size_bytes=2048,
                )
            ],
        ),
        attributes={
            "message_id": "1717243650.000200",
            "ts": "1717243650.000200",
            "edited_at": "2024-06-01T12:08:20+00:00",
        },
        backfilled=True,
    )


def test_mrkdwn_mentions_links_and_entities_are_read(tmp_path: Path):
    root = parse(build(tmp_path))[1]

    assert root.content is not None
    assert root.content.text == (
        "Release notes: <https://hearth.example/notes|notes> & thanks <@U0BOB>"
    )
    assert root.content.mentions == ["U0BOB"]
    assert root.content.links == ["https://hearth.example/notes"]
    assert root.actor.display_name == "alice.e"
    assert root.attributes["reactions"] == [{"name": "tada", "count": 1}]


def test_a_bot_message_is_its_bot(tmp_path: Path):
    bot = parse(build(tmp_path))[3]

    assert bot.actor == ActorIn(platform_user_id="B0DEPLOY", username="deploybot", is_bot=True)
    assert bot.attributes["subtype"] == "bot_message"


def test_notices_and_direct_messages_are_skipped_with_reasons(tmp_path: Path):
    dms = [{"id": "D0ALICEBOB", "members": ["U0ALICE", "U0BOB"]}]
    extra = {
        "dms.json": dms,
        "D0ALICEBOB/2024-06-01.json": [{"type": "message", "ts": "1.0", "user": "U0BOB"}] * 2,
        "renamed/2024-06-01.json": [{"type": "message", "ts": "2.0", "user": "U0BOB"}],
        "general/2024-06-03.json": {"not": "a list"},
    }
    stats = ParseStats()

    assert len(parse(build(tmp_path, extra=extra), stats)) == 5
    assert stats.skipped == {
        "message subtype channel_topic": 1,
        "direct messages are not community activity": 2,
        "folder not in channels.json or groups.json": 1,
        "malformed: a day file is not a JSON list of messages": 1,
    }


def test_an_export_zipped_inside_a_folder_reads_the_same(tmp_path: Path):
    flat = parse(build(tmp_path))
    nested_dir = tmp_path / "nested"
    nested_dir.mkdir()

    assert dumped(parse(build(nested_dir, root="Hearth Slack export/"))) == dumped(flat)


def test_parsing_twice_gives_identical_events(tmp_path: Path):
    path = build(tmp_path)

    assert dumped(parse(path)) == dumped(parse(path))


def test_detected_as_slack(tmp_path: Path):
    assert detect(build(tmp_path)) == "slack"


def test_a_zip_that_is_no_slack_export_is_refused(tmp_path: Path):
    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.jpg", b"...")

    with pytest.raises(ValueError, match=r"no channels\.json"):
        parse(path)
