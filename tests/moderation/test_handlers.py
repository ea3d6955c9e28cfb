"""A message event on community.events.v1 becomes a stored decision, a published decision
and, when it is hidden or removed, a delete action for the platform's connector."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ulid import ULID

from services.moderation.repository import Decisions
from shared.api.auth import Principal
from shared.events.community import Actor, CommunityEvent, CommunityEventType, Content, Platform
from shared.events.envelope import Envelope
from tests.moderation.conftest import Moderation

pytestmark = pytest.mark.integration

RULES = """
rules:
  - id: no-spoilers
    kind: keywords
    words: ["spoiler*"]
    action: remove
    reason: spoilers are not allowed here
"""


def message(community: str, tenant: str, text: str, **fields: Any) -> CommunityEvent:
    values: dict[str, Any] = {
        "type": CommunityEventType.MESSAGE_CREATED,
        "occurred_at": datetime.now(UTC),
        "tenant_id": tenant,
        "community_id": community,
        "platform": Platform.TELEGRAM,
        "workspace_id": "-100123",
        "channel_id": "-100123",
        "source_event_id": f"update-{ULID()}",
        "dedup_key": f"telegram:{ULID()}",
        "actor": Actor(platform_user_id="4242", member_id=str(ULID()), username="ann"),
        "content": Content(text=text),
        "attributes": {"message_id": 77},
        **fields,
    }
    return CommunityEvent(**values)


async def stored(moderation: Moderation, event_id: str, timeout: float = 90) -> dict[str, Any]:
    """The decision stored for an event, waiting for the consumer to make it."""
    caller = Principal(tenant_id=moderation.tenant_id, key_id="test", scopes=frozenset({"*"}))
    deadline = time.monotonic() + timeout
    while True:
        async with moderation.db.sessions() as session:
            row = await Decisions(session).of_event(caller, event_id)
        if row is not None or time.monotonic() > deadline:
            assert row is not None, "no decision was stored"
            return row
        await asyncio.sleep(0.2)


def about(event_id: str) -> Any:
    return lambda e: (e.data or {}).get("subject_event_id") == event_id


async def test_a_message_breaking_a_rule_is_decided_published_and_deleted(
    moderation: Moderation,
) -> None:
    community = f"c{ULID()}".lower()
    put = await moderation.client.put(
        f"/v1/moderation/communities/{community}/rules",
        content=RULES,
        headers={**moderation.auth(), "Content-Type": "application/yaml"},
    )
    assert put.status_code == 200, put.text
    event = message(community, moderation.tenant_id, "SPOILERS: the butler did it")
    await moderation.send(event)
    await moderation.send(event)  # a redelivery changes nothing

    decision = await stored(moderation, event.event_id)
    assert decision["verdict"] == "remove"
    assert decision["rules_version"] == 1
    assert decision["rule_ids"] == ["no-spoilers"]
    assert decision["acted"] is True

    published = await moderation.published(
        "moderation.decisions.v1", about(event.event_id), expected=2
    )
    # The relay publishes at least once: a copy under the same event id is one event.
    decisions = list({e.id: e for e in published}.values())
    by_type = {e.type: e.data for e in decisions}
    assert len(decisions) == 2, [e.type for e in decisions]
    assert by_type["moderation.decision.made"]["verdict"] == "remove"
    assert by_type["moderation.decision.made"]["reasons"] == [
        "no-spoilers: spoilers are not allowed here"
    ]
    removed = by_type["moderation.content.removed"]
    assert removed["member_id"] == event.actor.member_id

    actions = await moderation.published(
        "moderation.actions.v1",
        lambda e: (e.data or {}).get("community_id") == community,
    )
    assert len({a.id for a in actions}) == 1
    action = actions[0].data or {}
    assert action["action"] == "delete"
    assert action["platform"] == "telegram"
    assert (action["channel_id"], action["message_id"]) == ("-100123", "77")
    assert action["platform_user_id"] == "4242"


@pytest.mark.parametrize("moderation", ["memory"], indirect=True)  # cheap; Kafka above
async def test_backfilled_history_is_scored_but_never_acted_on(moderation: Moderation) -> None:
    community = f"c{ULID()}".lower()
    old = message(
        community,
        moderation.tenant_id,
        "what the fuck",
        backfilled=True,
        occurred_at=datetime.now(UTC) - timedelta(days=400),
    )
    live = message(community, moderation.tenant_id, "hello everyone")
    await moderation.send(old)
    await moderation.send(live)
    assert (await stored(moderation, old.event_id))["verdict"] == "hide"
    assert (await stored(moderation, live.event_id))["verdict"] == "allow"
    assert (await stored(moderation, old.event_id))["acted"] is False

    def ours(envelope: Envelope) -> bool:
        return (envelope.data or {}).get("community_id") == community

    decisions = await moderation.published("moderation.decisions.v1", ours)
    assert [(e.data or {})["subject_event_id"] for e in decisions] == [live.event_id]
    actions = await moderation.published("moderation.actions.v1", ours, expected=0, timeout=1)
    assert actions == []


@pytest.mark.parametrize("moderation", ["memory"], indirect=True)  # cheap; Kafka above
async def test_flood_counts_the_members_messages_in_the_window(moderation: Moderation) -> None:
    community = f"c{ULID()}".lower()
    put = await moderation.client.put(
        f"/v1/moderation/communities/{community}/rules",
        content="rules:\n  - {id: flood, kind: flood, max_messages: 2, per_seconds: 60,"
        " action: hide, reason: slow down}\n",
        headers=moderation.auth(),
    )
    assert put.status_code == 200, put.text
    actor = Actor(platform_user_id="9", member_id=str(ULID()))
    start = datetime.now(UTC)
    events = [
        message(
            community,
            moderation.tenant_id,
            f"msg {n}",
            actor=actor,
            occurred_at=start + timedelta(seconds=n),
        )
        for n in range(3)
    ]
    verdicts = []
    for event in events:  # one at a time, as they would arrive
        await moderation.send(event)
        verdicts.append((await stored(moderation, event.event_id))["verdict"])
    assert verdicts == ["allow", "allow", "hide"]


@pytest.mark.parametrize("moderation", ["memory"], indirect=True)  # cheap; Kafka above
async def test_a_catastrophic_pattern_in_a_communitys_rules_cannot_stall_the_consumer(
    moderation: Moderation,
) -> None:
    community = f"c{ULID()}".lower()
    rules = (
        "rules:\n"
        "  - {id: evil, kind: regex, patterns: ['(a|aa)+$'], action: remove, reason: r}\n"
        "  - {id: spoilers, kind: keywords, words: [spoiler], action: hide, reason: s}\n"
    )
    put = await moderation.client.put(
        f"/v1/moderation/communities/{community}/rules", content=rules, headers=moderation.auth()
    )
    assert put.status_code == 200, put.text
    slow = message(community, moderation.tenant_id, "spoiler " + "a" * 60 + "!")
    after = message(community, moderation.tenant_id, "spoiler")
    await moderation.send(slow)
    await moderation.send(after)
    cut_off = await stored(moderation, slow.event_id)
    assert (cut_off["verdict"], cut_off["timed_out"], cut_off["rule_ids"]) == (
        "hide",
        ["evil"],
        ["spoilers"],
    )
    assert (await stored(moderation, after.event_id))["verdict"] == "hide"


async def test_the_classifier_scores_are_stored_and_published_with_the_communitys_thresholds(
    moderation: Moderation,
) -> None:
    strict, lenient = f"c{ULID()}".lower(), f"c{ULID()}".lower()
    lenient_rules = "classifier:\n  attributes:\n    insult: {threshold: 0.3, action: flag}\n"
    put = await moderation.client.put(
        f"/v1/moderation/communities/{lenient}/rules",
        content=lenient_rules,
        headers={**moderation.auth(), "Content-Type": "application/yaml"},
    )
    assert put.status_code == 200, put.text
    text = "Ты жалкий тупой неудачник, тебя здесь никто не любит"  # an insult, no swear word
    hidden = message(strict, moderation.tenant_id, text)
    flagged = message(lenient, moderation.tenant_id, text)
    await moderation.send(hidden)
    await moderation.send(flagged)

    decision = await stored(moderation, hidden.event_id)
    assert decision["verdict"] == "hide"  # the default thresholds
    assert "classifier.insult" in decision["rule_ids"]
    assert decision["scores"]["insult"] > 0.5
    assert set(decision["scores"]) >= {"toxicity", "insult", "threat", "profanity", "sexual"}
    assert decision["acted"] is True
    lenient_decision = await stored(moderation, flagged.event_id)
    assert (lenient_decision["verdict"], lenient_decision["rule_ids"]) == (
        "flag",
        ["classifier.insult"],
    )
    assert lenient_decision["acted"] is False

    published = await moderation.published(
        "moderation.decisions.v1", about(hidden.event_id), expected=2
    )
    made = next(e.data for e in published if e.type == "moderation.decision.made")
    assert made is not None and made["scores"]["insult"] > 0.5
    assert "classifier.insult: insult" in made["reasons"]
