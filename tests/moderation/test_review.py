"""Humans in the loop: flagged and hidden decisions wait in a queue, a moderator's verdict
overrides them (restore or remove, audited, overturns counted), and removed messages give
strikes that climb the community's sanctions ladder."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from ulid import ULID

from services.moderation.tables import sanctions, strikes
from shared.events.community import Actor
from shared.events.envelope import Envelope
from tests.moderation.conftest import Moderation
from tests.moderation.test_handlers import message, stored

pytestmark = pytest.mark.integration

REVIEW_RULES = """\
rules:
  - {id: mild, kind: keywords, words: [heck], action: flag, reason: mild language}
  - {id: spoilers, kind: keywords, words: ["spoiler*"], action: hide, reason: spoilers}
"""

LADDER_RULES = """\
rules:
  - {id: scam, kind: keywords, words: [scamcoin], action: remove, reason: scam}
sanctions:
  strike_expiry_seconds: 3600
  ladder:
    - {strikes: 1, action: warn}
    - {strikes: 3, action: mute, duration_seconds: 600}
    - {strikes: 5, action: ban}
"""


async def put_rules(moderation: Moderation, community: str, rules: str) -> None:
    put = await moderation.client.put(
        f"/v1/moderation/communities/{community}/rules",
        content=rules,
        headers={**moderation.auth(), "Content-Type": "application/yaml"},
    )
    assert put.status_code == 200, put.text


async def queue(moderation: Moderation, key: str | None = None, **params: Any) -> dict[str, Any]:
    response = await moderation.client.get(
        "/v1/moderation/queue", params=params, headers=moderation.auth(key)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def queued(moderation: Moderation, community: str, n: int) -> list[dict[str, Any]]:
    """The community's pending items, once the consumer has queued `n`."""
    deadline = time.monotonic() + 90
    while True:
        items: list[dict[str, Any]] = (await queue(moderation, community_id=community))["items"]
        if len(items) >= n or time.monotonic() > deadline:
            assert len(items) == n, items
            return items
        await asyncio.sleep(0.2)


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def ours(community: str) -> Any:
    return lambda e: (e.data or {}).get("community_id") == community


@pytest.mark.parametrize("moderation", ["memory"], indirect=True)  # HTTP and one consumer
async def test_a_moderators_verdict_overrides_the_rules_and_is_audited(
    moderation: Moderation,
) -> None:
    community = f"c{ULID()}".lower()
    await put_rules(moderation, community, REVIEW_RULES)
    flagged = message(community, moderation.tenant_id, "what the heck", attributes={})
    hidden = message(community, moderation.tenant_id, "spoilers: he dies")
    allowed = message(community, moderation.tenant_id, "hello")
    for event in (flagged, hidden, allowed):
        await moderation.send(event)
        await stored(moderation, event.event_id)

    items = await queued(moderation, community, 2)
    assert [(i["subject_event_id"], i["auto_verdict"], i["status"]) for i in items] == [
        (flagged.event_id, "flag", "open"),
        (hidden.event_id, "hide", "open"),
    ]
    by_event = {i["subject_event_id"]: i["decision_id"] for i in items}

    # filters and cursor pagination
    first = await queue(moderation, community_id=community, limit=1)
    second = await queue(moderation, community_id=community, limit=1, cursor=first["next_cursor"])
    assert [i["subject_event_id"] for i in first["items"] + second["items"]] == [
        flagged.event_id,
        hidden.event_id,
    ]
    assert second["next_cursor"] is None
    spoilers = await queue(moderation, community_id=community, reason="spoilers")
    assert [i["subject_event_id"] for i in spoilers["items"]] == [hidden.event_id]
    assert (await queue(moderation, community_id=community, older_than=3600))["items"] == []
    assert len((await queue(moderation, community_id=community, newer_than=3600))["items"]) == 2

    # scoped to the caller: another community's key sees nothing of it
    elsewhere = await moderation.key("moderation:read", communities=["other"])
    assert (await queue(moderation, elsewhere))["items"] == []
    forbidden = await moderation.client.get(
        "/v1/moderation/queue",
        params={"community_id": community},
        headers=moderation.auth(elsewhere),
    )
    assert forbidden.status_code == 403
    reader = await moderation.key("moderation:read")
    refused = await moderation.client.post(
        f"/v1/moderation/queue/{by_event[hidden.event_id]}/claim", headers=moderation.auth(reader)
    )
    assert refused.status_code == 403

    # a claim keeps other moderators off
    alice = await moderation.key("moderation:read", "moderation:write")
    bob = await moderation.key("moderation:read", "moderation:write")
    hidden_id = by_event[hidden.event_id]
    claim = await moderation.client.post(
        f"/v1/moderation/queue/{hidden_id}/claim", headers=moderation.auth(alice)
    )
    assert claim.status_code == 200, claim.text
    assert claim.json()["status"] == "claimed"
    taken = await moderation.client.post(
        f"/v1/moderation/queue/{hidden_id}/decide",
        json={"verdict": "remove"},
        headers=moderation.auth(bob),
    )
    assert taken.status_code == 409
    assert taken.headers["content-type"].startswith("application/problem+json")

    overturned_before = counter("hearth_moderation_overturned_total", auto_verdict="hide")
    restore = await moderation.client.post(
        f"/v1/moderation/queue/{hidden_id}/decide",
        json={"verdict": "allow", "note": "the film is 40 years old"},
        headers=moderation.auth(alice),
    )
    assert restore.status_code == 200, restore.text
    body = restore.json()
    assert body["published"] == ["moderation.decision.made", "moderation.content.restored"]
    assert (body["item"]["status"], body["item"]["verdict"], body["item"]["overturned"]) == (
        "decided",
        "allow",
        True,
    )
    overturned_after = counter("hearth_moderation_overturned_total", auto_verdict="hide")
    assert overturned_after == overturned_before + 1

    again = await moderation.client.post(
        f"/v1/moderation/queue/{hidden_id}/decide",
        json={"verdict": "remove"},
        headers=moderation.auth(alice),
    )
    assert again.status_code == 409

    remove = await moderation.client.post(
        f"/v1/moderation/queue/{by_event[flagged.event_id]}/decide",
        json={"verdict": "remove"},
        headers=moderation.auth(bob),
    )
    assert remove.status_code == 200, remove.text
    assert remove.json()["published"] == [
        "moderation.decision.made",
        "moderation.content.removed",
        "moderation.actions.v1:delete",
    ]
    assert remove.json()["item"]["overturned"] is False
    assert remove.json()["sanction"] is None  # no ladder in these rules

    # gone from the pending queue, listed as decided
    assert (await queue(moderation, community_id=community))["items"] == []
    decided = await queue(moderation, community_id=community, status="decided")
    assert [i["verdict"] for i in decided["items"]] == ["remove", "allow"]  # queued order

    restored = await moderation.published(
        "moderation.decisions.v1",
        lambda e: e.type == "moderation.content.restored" and ours(community)(e),
    )
    assert [(e.data or {})["subject_event_id"] for e in restored] == [hidden.event_id]
    removed = await moderation.published(
        "moderation.decisions.v1",
        lambda e: e.type == "moderation.content.removed" and ours(community)(e),
        expected=2,
    )
    # the rules' hide and the moderator's remove of the flagged message
    assert sorted((e.data or {})["subject_event_id"] for e in removed) == sorted(
        [hidden.event_id, flagged.event_id]
    )
    deletes = await moderation.published("moderation.actions.v1", ours(community), expected=2)
    assert sorted(str((d.data or {})["message_id"]) for d in deletes) == sorted(
        ["77", str(flagged.source_event_id)]
    )

    async with moderation.db.sessions() as session:
        given = (
            await session.scalars(
                select(strikes.c.subject_event_id).where(strikes.c.community_id == community)
            )
        ).all()
    log = await moderation.client.get(
        "/v1/moderation/audit", params={"community_id": community}, headers=moderation.auth()
    )
    assert log.status_code == 200, log.text
    audit = log.json()["items"]
    hidden_of_others = await moderation.client.get(
        "/v1/moderation/audit", headers=moderation.auth(elsewhere)
    )
    assert hidden_of_others.json()["items"] == []
    assert [(a["action"], a["detail"].get("verdict")) for a in audit] == [
        ("claim", None),
        ("decide", "allow"),
        ("strike", None),
        ("decide", "remove"),
    ]
    assert audit[1]["detail"]["note"] == "the film is 40 years old"
    assert [a["actor"] for a in audit] == [alice.split("_")[1]] * 2 + [bob.split("_")[1]] * 2
    assert given == [flagged.event_id]


async def test_a_third_strike_within_the_window_mutes(moderation: Moderation) -> None:
    community = f"c{ULID()}".lower()
    await put_rules(moderation, community, LADDER_RULES)
    actor = Actor(platform_user_id="4242", member_id=str(ULID()))
    now = datetime.now(UTC)
    # one strike long expired (2 h ago, window 1 h), then three within the window
    times = [now - timedelta(hours=2), now - timedelta(minutes=3), now - timedelta(minutes=2), now]
    events = [
        message(community, moderation.tenant_id, "buy scamcoin", actor=actor, occurred_at=t)
        for t in times
    ]
    for event in events:
        await moderation.send(event)
        assert (await stored(moderation, event.event_id))["verdict"] == "remove"

    def mute(envelope: Envelope) -> bool:
        return ours(community)(envelope) and (envelope.data or {}).get("action") == "mute"

    mutes = await moderation.published("moderation.actions.v1", mute)
    assert len({m.id for m in mutes}) == 1
    action = mutes[0].data or {}
    assert (action["platform"], action["platform_user_id"], action["duration_seconds"]) == (
        "telegram",
        "4242",
        600,
    )
    assert (action["channel_id"], action["message_id"]) == ("-100123", "77")
    async with moderation.db.sessions() as session:
        given = (
            await session.execute(
                select(
                    sanctions.c.subject_event_id,
                    sanctions.c.strikes,
                    sanctions.c.action,
                    sanctions.c.action_id,
                )
                .where(sanctions.c.community_id == community)
                .order_by(sanctions.c.id)
            )
        ).all()
    # the expired strike still warned when it was new, and no longer counts afterwards
    assert [(g.subject_event_id, g.strikes, g.action) for g in given] == [
        (events[0].event_id, 1, "warn"),
        (events[1].event_id, 1, "warn"),
        (events[2].event_id, 2, "warn"),
        (events[3].event_id, 3, "mute"),
    ]
    assert given[3].action_id == action["action_id"]
    actions = await moderation.published(
        "moderation.actions.v1", ours(community), expected=8, timeout=30
    )
    kinds = sorted((a.data or {})["action"] for a in {a.id: a for a in actions}.values())
    assert kinds == ["delete"] * 4 + ["mute"] + ["warn"] * 3
