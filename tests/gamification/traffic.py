"""Community events for the gamification tests: a busy, seeded, reproducible community."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events.community import Actor, CommunityEvent, Content
from shared.events.envelope import Envelope
from shared.events.payloads import DecisionEventType, ModerationDecision, Verdict

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def member(name: str, *, bot: bool = False) -> Actor:
    return Actor(platform_user_id=f"p-{name}", member_id=f"m-{name}", username=name, is_bot=bot)


def message(
    tenant: str, community: str, who: Actor, at: datetime, *, n: int, **fields: Any
) -> CommunityEvent:
    base: dict[str, Any] = {
        "type": "community.message.created",
        "occurred_at": at,
        "tenant_id": tenant,
        "community_id": community,
        "platform": "discord",
        "channel_id": "general",
        "source_event_id": f"msg-{n}",
        "dedup_key": f"discord:g:msg-{n}",
        "actor": who,
        "content": Content(text=f"message number {n} with some words"),
    }
    return CommunityEvent(**{**base, **fields})


def reaction(
    tenant: str,
    community: str,
    who: Actor,
    author: Actor,
    at: datetime,
    *,
    n: int,
    of: int,
    emoji: str = "👍",
    removed: bool = False,
) -> CommunityEvent:
    return message(
        tenant,
        community,
        who,
        at,
        n=n,
        type="community.reaction.removed" if removed else "community.reaction.added",
        parent_id=f"msg-{of}",
        source_event_id=f"msg-{of}",
        dedup_key=f"discord:g:reaction-{n}",
        object_actor=author,
        content=None,
        attributes={"reaction": {"name": emoji, "id": None}},
    )


def busy_community(tenant: str, community: str, count: int, seed: int = 7) -> list[Envelope]:
    """`count` events a few minutes apart: messages (some short, some backfilled, a
    bot's), reactions (some to oneself), reactions taken back, messages deleted."""
    rng = random.Random(seed)
    people = [member(f"u{i}") for i in range(25)]
    bot = member("bot", bot=True)
    events: list[CommunityEvent] = []
    messages: list[tuple[int, Actor]] = []
    reactions: list[tuple[Actor, Actor, int]] = []
    at = START
    for n in range(count):
        at += timedelta(seconds=rng.randint(5, 400))
        roll = rng.random()
        if roll < 0.55 or not messages:
            who = bot if rng.random() < 0.03 else rng.choice(people)
            text = "ok" if rng.random() < 0.1 else f"message number {n} with some words"
            events.append(
                message(
                    tenant,
                    community,
                    who,
                    at,
                    n=n,
                    content=Content(text=text),
                    backfilled=rng.random() < 0.2,
                )
            )
            messages.append((n, who))
        elif roll < 0.9:
            of, author = rng.choice(messages)
            who = author if rng.random() < 0.1 else rng.choice(people[:6])
            events.append(reaction(tenant, community, who, author, at, n=n, of=of))
            reactions.append((who, author, of))
        elif roll < 0.95 and reactions:
            who, author, of = rng.choice(reactions)
            events.append(reaction(tenant, community, who, author, at, n=n, of=of, removed=True))
        else:
            of, author = rng.choice(messages)
            events.append(
                message(
                    tenant,
                    community,
                    Actor(platform_user_id="unknown"),
                    at,
                    n=n,
                    type="community.message.deleted",
                    source_event_id=f"msg-{of}",
                    dedup_key=f"discord:g:delete-{n}",
                    content=None,
                )
            )
    return [event.to_envelope() for event in events]


def decision(tenant: str, community: str, subject: CommunityEvent, *, removed: bool) -> Envelope:
    kind = DecisionEventType.CONTENT_REMOVED if removed else DecisionEventType.CONTENT_RESTORED
    payload = ModerationDecision(
        type=kind,
        tenant_id=tenant,
        community_id=community,
        subject_event_id=subject.event_id,
        member_id=subject.actor.member_id,
        verdict=Verdict.REMOVE if removed else Verdict.ALLOW,
    )
    return payload.to_envelope(source="/hearth/moderation")
