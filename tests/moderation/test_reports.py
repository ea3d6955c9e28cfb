"""Member reports feed the review queue; N distinct reporters hide the message pending
review, a member's second report counts once, a moderator's review stands."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ulid import ULID

from services.moderation.domain.reports import ReportOutcome, ReportSettings, outcome_of
from shared.events.payloads import Verdict
from tests.moderation.conftest import Moderation
from tests.moderation.test_handlers import message, stored
from tests.moderation.test_review import counter, ours, put_rules, queue

THREE = ReportSettings()


def test_reports_queue_then_hide_at_the_threshold() -> None:
    def outcome(reporters: int, **fields: Any) -> ReportOutcome:
        values: dict[str, Any] = {
            "new": True,
            "verdict": Verdict.ALLOW,
            "queued": reporters > 1,
            "reviewed": False,
            "settings": THREE,
        }
        return outcome_of(reporters=reporters, **(values | fields))

    assert [outcome(n) for n in (1, 2, 3)] == [
        ReportOutcome.QUEUED,
        ReportOutcome.COUNTED,
        ReportOutcome.HIDDEN,
    ]
    assert outcome(3, new=False) == ReportOutcome.DUPLICATE
    assert outcome(1, verdict=Verdict.FLAG, queued=True) == ReportOutcome.COUNTED
    assert outcome(3, verdict=Verdict.FLAG, queued=True) == ReportOutcome.HIDDEN
    assert outcome(9, verdict=Verdict.HIDE, queued=True) == ReportOutcome.COUNTED
    assert outcome(9, queued=True, reviewed=True) == ReportOutcome.COUNTED  # review stands
    assert outcome(1, settings=ReportSettings(hide_at=1)) == ReportOutcome.HIDDEN


@pytest.mark.integration
async def test_distinct_members_reports_hide_a_message_pending_review(
    moderation: Moderation,
) -> None:
    community = f"c{ULID()}".lower()
    await put_rules(
        moderation,
        community,
        "rules:\n  - {id: mild, kind: keywords, words: [heck], action: flag, reason: mild}\n"
        "reports: {hide_at: 2}\n",
    )
    reported = message(community, moderation.tenant_id, "you are all wrong")
    await moderation.send(reported)
    await stored(moderation, reported.event_id)

    async def report(reporter: str, event_id: str = reported.event_id) -> Any:
        return await moderation.client.post(
            "/v1/moderation/reports",
            json={
                "community_id": community,
                "subject_event_id": event_id,
                "reporter": reporter,
                "reason": "rude",
            },
            headers=moderation.auth(),
        )

    hidden_before = counter("hearth_moderation_reports_total", outcome="hidden")
    first = await report("telegram:1")
    assert first.status_code == 200, first.text
    assert (first.json()["outcome"], first.json()["reporters"], first.json()["hide_at"]) == (
        "queued",
        1,
        2,
    )
    items = (await queue(moderation, community_id=community))["items"]
    assert [(i["subject_event_id"], i["auto_verdict"], i["reason"]) for i in items] == [
        (reported.event_id, "flag", "reported by members")
    ]
    again = await report("telegram:1")
    assert (again.json()["outcome"], again.json()["reporters"]) == ("duplicate", 1)

    second = await report("telegram:2")
    assert (second.json()["outcome"], second.json()["reporters"]) == ("hidden", 2)
    assert second.json()["published"] == [
        "moderation.decision.made",
        "moderation.content.removed",
        "moderation.actions.v1:delete",
    ]
    assert counter("hearth_moderation_reports_total", outcome="hidden") == hidden_before + 1
    items = (await queue(moderation, community_id=community))["items"]
    assert [i["auto_verdict"] for i in items] == ["hide"]
    deletes = await moderation.published("moderation.actions.v1", ours(community))
    assert [(d.data or {})["message_id"] for d in deletes] == ["77"]
    third = await report("telegram:3")
    assert (third.json()["outcome"], third.json()["published"]) == ("counted", [])

    # the moderator allows it: the content comes back, later reports change nothing
    decided = await moderation.client.post(
        f"/v1/moderation/queue/{items[0]['decision_id']}/decide",
        json={"verdict": "allow"},
        headers=moderation.auth(),
    )
    assert decided.json()["published"] == [
        "moderation.decision.made",
        "moderation.content.restored",
    ]
    late = await report("telegram:4")
    assert (late.json()["outcome"], late.json()["published"]) == ("counted", [])

    unknown = await report("telegram:1", event_id=str(ULID()))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    invalid = await moderation.client.post(
        "/v1/moderation/reports", json={"community_id": community}, headers=moderation.auth()
    )
    assert invalid.status_code == 422
    elsewhere = await moderation.key("moderation:write", communities=["other"])
    refused = await moderation.client.post(
        "/v1/moderation/reports",
        json={"community_id": community, "subject_event_id": reported.event_id, "reporter": "x"},
        headers=moderation.auth(elsewhere),
    )
    assert refused.status_code == 403

    # the overturned decision is a labelled example; the audit log exports as JSON lines
    export = await moderation.client.get(
        "/v1/moderation/exports/reviewed.jsonl",
        params={"community_id": community},
        headers=moderation.auth(),
    )
    assert export.status_code == 200, export.text
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert [(x["text"], x["label"], x["auto_verdict"], x["overturned"]) for x in lines] == [
        ("you are all wrong", "allow", "hide", True)
    ]
    audit = await moderation.client.get(
        "/v1/moderation/exports/audit.jsonl",
        params={"community_id": community, "limit": 2},
        headers=moderation.auth(),
    )
    first_page = [json.loads(line) for line in audit.text.splitlines()]
    assert [e["action"] for e in first_page] == ["report", "report"]
    rest = await moderation.client.get(
        "/v1/moderation/exports/audit.jsonl",
        params={"community_id": community, "cursor": audit.headers["hearth-next-cursor"]},
        headers=moderation.auth(),
    )
    assert "hearth-next-cursor" not in rest.headers
    actions = [json.loads(line)["action"] for line in rest.text.splitlines()]
    assert actions == ["report", "decide", "report"]
