"""Kafka keys come from the topic registry: one member's events keep their order."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from shared.bus.port import envelope_message
from shared.events.community import Actor, CommunityEvent, CommunityEventType, Platform
from shared.events.envelope import Envelope
from shared.events.payloads import (
    ActionKind,
    ActionResult,
    ActionResultEventType,
    AwardEvent,
    AwardEventType,
    CoreMemberChange,
    DecisionEventType,
    IdentityEvent,
    IdentityEventType,
    InsightEvent,
    InsightEventType,
    ModerationAction,
    ModerationDecision,
    Verdict,
)
from shared.events.topics import TOPICS, partition_key
from tests.shared.conftest import Backend

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def activity(
    kind: CommunityEventType, member: str | None, community: str = "c1", user: str = "U1"
) -> CommunityEvent:
    return CommunityEvent(
        type=kind,
        occurred_at=AT,
        tenant_id="acme",
        community_id=community,
        platform=Platform.SLACK,
        dedup_key=f"slack:{community}:{member}:{kind}:{user}",
        actor=Actor(platform_user_id=user, member_id=member),
    )


# One payload per topic, and the key its registry entry documents for it.
SAMPLES: dict[str, tuple[BaseModel, str]] = {
    "community.events.v1": (activity(CommunityEventType.MESSAGE_CREATED, "M1"), "c1:M1"),
    "members.identity.v1": (
        IdentityEvent(tenant_id="acme", type=IdentityEventType.MEMBER_CREATED, member_id="M1"),
        "acme:M1",
    ),
    "moderation.decisions.v1": (
        ModerationDecision(
            tenant_id="acme",
            type=DecisionEventType.DECISION_MADE,
            community_id="c1",
            subject_event_id="E1",
            member_id="M1",
            verdict=Verdict.ALLOW,
        ),
        "c1:M1",
    ),
    "moderation.actions.v1": (
        ModerationAction(
            tenant_id="acme",
            community_id="c1",
            platform=Platform.TELEGRAM,
            action=ActionKind.BAN,
            platform_user_id="4242",
        ),
        "c1:4242",
    ),
    "ingest.action_results.v1": (
        ActionResult(
            tenant_id="acme",
            type=ActionResultEventType.ACTION_COMPLETED,
            action_id="A1",
            community_id="c1",
            platform=Platform.TELEGRAM,
            action="ban",
            outcome="done",
        ),
        "c1:A1",
    ),
    "gamification.awards.v1": (
        AwardEvent(
            tenant_id="acme",
            type=AwardEventType.POINTS_AWARDED,
            community_id="c1",
            member_id="M1",
            points=5,
        ),
        "c1:M1",
    ),
    "gamification.core_members.v1": (
        CoreMemberChange(tenant_id="acme", community_id="c1", member_id="M1", core_member=True),
        "c1:M1",
    ),
    "insights.v1": (
        InsightEvent(
            tenant_id="acme",
            type=InsightEventType.CLUSTER_CREATED,
            community_id="c1",
            cluster_id="K1",
        ),
        "c1:K1",
    ),
}


def test_every_topic_has_a_sample_here() -> None:
    assert sorted(SAMPLES) == sorted(TOPICS), "a new topic needs a sample and its expected key"


@pytest.mark.parametrize("topic", sorted(SAMPLES))
def test_each_topic_keys_its_payload_as_documented(topic: str) -> None:
    payload, expected = SAMPLES[topic]
    assert TOPICS[topic].partition_key(payload) == expected
    assert partition_key(payload) == expected
    if isinstance(payload, CommunityEvent):
        envelope = payload.to_envelope()
    else:
        envelope = payload.to_envelope(source="/tests")  # type: ignore[attr-defined]
    assert envelope.to_kafka()[0] == expected.encode()


def test_a_member_ingest_does_not_know_yet_is_keyed_by_platform_account() -> None:
    event = activity(CommunityEventType.MESSAGE_CREATED, member=None, user="U7")
    assert partition_key(event) == "c1:slack:U7"


def test_a_member_has_one_key_across_activity_decisions_and_awards() -> None:
    keys = {partition_key(SAMPLES[topic][0]) for topic in SAMPLES if topic != "insights.v1"}
    keys -= {"acme:M1", "c1:4242", "c1:A1"}  # keyed by tenant, platform account, action
    assert keys == {"c1:M1"}


KINDS = (
    CommunityEventType.MESSAGE_CREATED,
    CommunityEventType.REACTION_ADDED,
    CommunityEventType.MESSAGE_EDITED,
    CommunityEventType.MEMBER_LEFT,
)


async def test_one_members_events_land_on_one_partition_in_order(backend: Backend) -> None:
    topic = backend.unique("community.events")
    await backend.bus.ensure_topics([topic])
    sent = [
        (community, member, index, activity(kind, member, community=community))
        for index, kind in enumerate(KINDS)
        for community in ("c1", "c2")
        for member in (f"M{n}" for n in range(8))
    ]
    await backend.bus.publish_many(
        [envelope_message(topic, event.to_envelope()) for *_, event in sent]
    )

    consumer = backend.bus.consumer([topic], backend.unique("reader"))
    await consumer.start()
    records = []
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while len(records) < len(sent) and asyncio.get_running_loop().time() < deadline:
            records.extend(await consumer.fetch(500, timeout=1))
    finally:
        await consumer.stop()

    by_id = {event.event_id: (community, member, index) for community, member, index, event in sent}
    partitions: dict[tuple[str, str], set[int]] = defaultdict(set)
    order: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for record in records:
        community, member, index = by_id[Envelope.from_kafka(*_parts(record)).id]
        partitions[(community, member)].add(record.partition)
        order[(community, member)].append((record.offset, index))
    assert len(records) == len(sent)
    assert all(len(found) == 1 for found in partitions.values()), dict(partitions)
    assert all([i for _, i in sorted(seen)] == list(range(len(KINDS))) for seen in order.values())
    assert len({p for found in partitions.values() for p in found}) > 1, "keys spread out"


def _parts(record):  # Record → the arguments of Envelope.from_kafka
    return record.key, record.value, record.headers
