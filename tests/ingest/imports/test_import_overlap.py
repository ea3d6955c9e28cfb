"""History that overlaps live traffic counts once: a message that came by webhook and is
then imported from an export (and the other way round) is one event on the topic."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.ingest.conftest import Ingest, slack_headers
from tests.ingest.imports.test_importer_ingest import run
from tests.ingest.imports.test_slack_export import GENERAL, ROOT_TS, TEAM
from tests.ingest.imports.test_slack_export import build as slack_export

EVENTS = "community.events.v1"
SECRET = "overlap-signing-secret"


def live_message(ts: str, event_id: str) -> bytes:
    """The Events API delivery of the export's thread root, as Slack sent it live."""
    return json.dumps(
        {
            "token": "unused",
            "team_id": TEAM,
            "api_app_id": "A0HEARTH",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(float(ts)),
            "event": {
                "type": "message",
                "channel": GENERAL,
                "channel_type": "channel",
                "user": "U0ALICE",
                "text": "Release notes",
                "ts": ts,
                "event_ts": ts,
                "thread_ts": ts,
            },
        }
    ).encode()


async def test_a_live_message_then_its_import_is_one_event(ingest: Ingest, tmp_path: Path) -> None:
    community = await ingest.community()
    binding = await ingest.bind(community, "slack", TEAM, {"signing_secret": SECRET})
    body = live_message(ROOT_TS, "Ev0OVERLAP")
    # Slack signs with the time of sending; the export's message is older than the window.
    live = await ingest.client.post(
        binding["webhook_path"], content=body, headers=slack_headers(SECRET, body, at=time.time())
    )
    assert live.status_code == 200 and live.json()["accepted"] == 1, live.text
    [live_id] = live.json()["event_ids"]
    importer = await ingest.key("events:write", "events:platform")

    report = await run(ingest, slack_export(tmp_path), community, importer, tmp_path / "state")

    assert report.duplicates == 1 and report.rejected == 0
    created = await ingest.published(
        EVENTS,
        match=lambda e: (
            e.data.get("community_id") == community and e.type == "community.message.created"
        ),
        expected=3,  # the root (once), the reply and the bot post
    )
    roots = [e for e in created if e.data["attributes"].get("ts") == ROOT_TS]
    assert [e.id for e in roots] == [live_id]
    assert roots[0].data["dedup_key"] == f"slack:message:{GENERAL}:{ROOT_TS}"
    assert roots[0].data["backfilled"] is False  # the live copy, first, is the one kept
