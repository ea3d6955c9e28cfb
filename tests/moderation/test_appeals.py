"""Sanctions round trip: the platform's result of a sanction shows on it, a severe category
sanctions at once, and an appeal is upheld (nothing changes) or reversed (the mute is
lifted with an unmute, the strike withdrawn, the content's points restored)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from ulid import ULID

from services.moderation.repository import SanctionRecords
from shared.bus.port import publish
from shared.events.community import Actor, Platform
from shared.events.envelope import Envelope
from shared.events.payloads import ActionResult, ActionResultEventType
from shared.events.topics import ACTION_RESULTS
from tests.moderation.conftest import Moderation
from tests.moderation.test_handlers import message, stored
from tests.moderation.test_review import counter, ours, put_rules

pytestmark = pytest.mark.integration

RULES = """\
rules:
  - {id: scam, kind: keywords, words: [scamcoin], action: remove, reason: scam}
  - {id: threats, kind: keywords, words: [killyou], action: remove, reason: threat,
     category: threat}
sanctions:
  ladder:
    - {strikes: 1, action: mute, duration_seconds: 600}
  severe:
    threat: {action: ban}
"""


async def sanctions_of(moderation: Moderation, community: str, n: int) -> list[dict[str, Any]]:
    """The community's sanctions through the API, once the consumer has given `n`."""
    deadline = time.monotonic() + 90
    while True:
        response = await moderation.client.get(
            "/v1/moderation/sanctions",
            params={"community_id": community},
            headers=moderation.auth(),
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        if len(items) >= n or time.monotonic() > deadline:
            assert len(items) == n, items
            return items
        await asyncio.sleep(0.2)


async def sanction(moderation: Moderation, sanction_id: int) -> dict[str, Any]:
    response = await moderation.client.get(
        f"/v1/moderation/sanctions/{sanction_id}", headers=moderation.auth()
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_results_show_on_the_sanction_and_appeals_are_upheld_or_reversed(
    moderation: Moderation,
) -> None:
    community = f"c{ULID()}".lower()
    await put_rules(moderation, community, RULES)
    scammer = Actor(platform_user_id="4242", member_id=str(ULID()))
    threatener = Actor(platform_user_id="5151", member_id=str(ULID()))
    scam = message(community, moderation.tenant_id, "buy scamcoin", actor=scammer)
    threat = message(community, moderation.tenant_id, "i will killyou", actor=threatener)
    for event in (scam, threat):
        await moderation.send(event)
        assert (await stored(moderation, event.event_id))["verdict"] == "remove"

    muted, banned = await sanctions_of(moderation, community, 2)
    # the first strike mutes by the ladder; a threat bans at once (severe category)
    assert (muted["member"], muted["action"], muted["duration_seconds"]) == (
        scammer.member_id,
        "mute",
        600,
    )
    assert (banned["member"], banned["action"], banned["strikes"]) == (
        threatener.member_id,
        "ban",
        1,
    )
    assert muted["result"] is None and muted["appeal"] is None

    # ingest reports what the platform did; it shows on the sanction
    results = [
        ActionResult(
            type=ActionResultEventType.ACTION_COMPLETED,
            tenant_id=moderation.tenant_id,
            action_id=muted["action_id"],
            community_id=community,
            platform=Platform.TELEGRAM,
            action="mute",
            outcome="done",
            attempts=1,
        ),
        ActionResult(
            type=ActionResultEventType.ACTION_FAILED,
            tenant_id=moderation.tenant_id,
            action_id=banned["action_id"],
            community_id=community,
            platform=Platform.TELEGRAM,
            action="ban",
            outcome="platform_error",
            detail="Bad Request: not enough rights to restrict/unrestrict chat member",
            attempts=3,
        ),
    ]
    for result in results:
        await publish(
            moderation.bus, ACTION_RESULTS.name, result.to_envelope(source="/hearth/ingest")
        )
    deadline = time.monotonic() + 90
    while (await sanction(moderation, banned["id"]))["result"] is None:
        assert time.monotonic() < deadline, "the ban's result never showed"
        await asyncio.sleep(0.2)
    while (await sanction(moderation, muted["id"]))["result"] is None:
        assert time.monotonic() < deadline, "the mute's result never showed"
        await asyncio.sleep(0.2)
    assert (await sanction(moderation, muted["id"]))["result"] == "done"
    failed = await sanction(moderation, banned["id"])
    assert (failed["result"], failed["result_detail"]) == (
        "platform_error",
        "Bad Request: not enough rights to restrict/unrestrict chat member",
    )

    # another ingest without this binding (no_binding) never hides a real outcome, and a
    # done is final
    async with moderation.db.sessions() as session, session.begin():
        records = SanctionRecords(session)
        tenant, now = moderation.tenant_id, datetime.now(UTC)
        for action_id in (muted["action_id"], banned["action_id"]):
            assert not await records.record_result(
                tenant, action_id, result="no_binding", detail="", at=now
            )
        assert not await records.record_result(
            tenant, muted["action_id"], result="platform_error", detail="late", at=now
        )
    assert (await sanction(moderation, muted["id"]))["result"] == "done"
    assert (await sanction(moderation, banned["id"]))["result"] == "platform_error"

    # an appeal per sanction; the ban's is upheld: nothing is published
    filed = counter("hearth_moderation_appeals_total", outcome="filed")
    appeal = await moderation.client.post(
        f"/v1/moderation/sanctions/{banned['id']}/appeals",
        json={"statement": "it was a joke"},
        headers=moderation.auth(),
    )
    assert appeal.status_code == 201, appeal.text
    assert appeal.json()["status"] == "open"
    second = await moderation.client.post(
        f"/v1/moderation/sanctions/{banned['id']}/appeals", json={}, headers=moderation.auth()
    )
    assert second.status_code == 409
    assert second.headers["content-type"].startswith("application/problem+json")
    assert counter("hearth_moderation_appeals_total", outcome="filed") == filed + 1
    upheld = await moderation.client.post(
        f"/v1/moderation/appeals/{appeal.json()['id']}/decide",
        json={"outcome": "uphold", "note": "threats are never a joke"},
        headers=moderation.auth(),
    )
    assert upheld.status_code == 200, upheld.text
    assert (upheld.json()["appeal"]["status"], upheld.json()["published"]) == ("upheld", [])
    again = await moderation.client.post(
        f"/v1/moderation/appeals/{appeal.json()['id']}/decide",
        json={"outcome": "reverse"},
        headers=moderation.auth(),
    )
    assert again.status_code == 409

    # the mute's appeal is reversed: an unmute for the platform, the content restored
    appeal = await moderation.client.post(
        f"/v1/moderation/sanctions/{muted['id']}/appeals", json={}, headers=moderation.auth()
    )
    assert appeal.status_code == 201, appeal.text
    reversed_ = await moderation.client.post(
        f"/v1/moderation/appeals/{appeal.json()['id']}/decide",
        json={"outcome": "reverse", "note": "scamcoin is the name of our mascot"},
        headers=moderation.auth(),
    )
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["published"] == [
        "moderation.actions.v1:unmute",
        "moderation.decision.made",
        "moderation.content.restored",
    ]
    lift_id = reversed_.json()["appeal"]["action_id"]

    def unmute(envelope: Envelope) -> bool:
        return ours(community)(envelope) and (envelope.data or {}).get("action") == "unmute"

    unmutes = await moderation.published("moderation.actions.v1", unmute)
    assert len({u.id for u in unmutes}) == 1
    lift = unmutes[0].data or {}
    assert (lift["action_id"], lift["platform"], lift["platform_user_id"], lift["channel_id"]) == (
        lift_id,
        "telegram",
        "4242",
        "-100123",
    )
    restored = await moderation.published(
        "moderation.decisions.v1",
        lambda e: e.type == "moderation.content.restored" and ours(community)(e),
    )
    assert [(e.data or {})["subject_event_id"] for e in restored] == [scam.event_id]
    # the upheld ban lifted nothing
    unbans = await moderation.published(
        "moderation.actions.v1",
        lambda e: ours(community)(e) and (e.data or {}).get("action") == "unban",
        expected=0,
        timeout=1,
    )
    assert unbans == []

    # the unmute's own result shows on the appeal
    await publish(
        moderation.bus,
        ACTION_RESULTS.name,
        ActionResult(
            type=ActionResultEventType.ACTION_COMPLETED,
            tenant_id=moderation.tenant_id,
            action_id=lift_id,
            community_id=community,
            platform=Platform.TELEGRAM,
            action="unmute",
            outcome="done",
        ).to_envelope(source="/hearth/ingest"),
    )
    while (await sanction(moderation, muted["id"]))["appeal"]["result"] is None:
        assert time.monotonic() < deadline + 90, "the unmute's result never showed"
        await asyncio.sleep(0.2)

    # the strike is withdrawn: the scammer's next removal is a first strike again
    relapse = message(community, moderation.tenant_id, "scamcoin again", actor=scammer)
    await moderation.send(relapse)
    await stored(moderation, relapse.event_id)
    third = (await sanctions_of(moderation, community, 3))[2]
    assert (third["member"], third["strikes"]) == (scammer.member_id, 1)

    log = await moderation.client.get(
        "/v1/moderation/audit",
        params={"community_id": community, "action": "appeal_decided"},
        headers=moderation.auth(),
    )
    assert [e["detail"]["outcome"] for e in log.json()["items"]] == ["upheld", "reversed"]


@pytest.mark.parametrize("moderation", ["memory"], indirect=True)  # HTTP only
async def test_an_unknown_sanction_cannot_be_appealed(moderation: Moderation) -> None:
    missing = await moderation.client.post(
        "/v1/moderation/sanctions/999999/appeals", json={}, headers=moderation.auth()
    )
    assert missing.status_code == 404
    bad = await moderation.client.post(
        "/v1/moderation/appeals/1/decide", json={"outcome": "pardon"}, headers=moderation.auth()
    )
    assert bad.status_code == 422
    assert "outcome" in bad.text
