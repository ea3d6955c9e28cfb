"""Conflict detection: a conversation whose toxicity, share of flagged messages or replies
between the same two members rise over the window raises one alert, with the members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ulid import ULID

from services.moderation.domain.conflict import ConflictKind, ConflictSettings, Said, detect
from shared.events.community import Actor
from tests.moderation.conftest import Moderation
from tests.moderation.test_handlers import message, stored
from tests.moderation.test_review import counter, ours, put_rules

SETTINGS = ConflictSettings(
    min_messages=4, toxicity=0.5, flagged_share=0.5, pair_replies=3, pair_toxicity=0.3
)


def said(author: str, to: str | None = None, toxicity: float = 0.0, flagged: bool = False) -> Said:
    return Said(author, to, toxicity, flagged)


def test_a_calm_conversation_raises_nothing() -> None:
    window = [said("a", "b"), said("b", "a"), said("c"), said("a", "b", 0.2)]
    assert detect(window, window[-1], SETTINGS) == []


def test_rising_toxicity_names_the_most_toxic_members() -> None:
    window = [
        said("a", toxicity=0.9),
        said("b", toxicity=0.8),
        said("a", toxicity=0.7),
        said("c", toxicity=0.1),
    ]
    (conflict,) = detect(window, window[-1], SETTINGS)
    assert (conflict.kind, conflict.value, conflict.messages) == (ConflictKind.TOXICITY, 0.625, 4)
    assert conflict.members == ["a", "b"]


def test_a_share_of_flagged_messages_needs_enough_messages() -> None:
    flagged = [said("a", flagged=True), said("b", flagged=True), said("c")]
    assert detect(flagged, flagged[-1], SETTINGS) == []  # 3 < min_messages
    window = [*flagged, said("a", flagged=True)]
    (conflict,) = detect(window, window[-1], SETTINGS)
    assert (conflict.kind, conflict.value, conflict.members) == (
        ConflictKind.FLAGGED_SHARE,
        0.75,
        ["a", "b"],
    )


def test_two_members_trading_heated_replies() -> None:
    window = [said("a", "b", 0.4), said("b", "a", 0.5), said("c", "a"), said("a", "b", 0.3)]
    (conflict,) = detect(window, window[-1], SETTINGS)
    assert (conflict.kind, conflict.value, conflict.members) == (
        ConflictKind.PAIR_REPLIES,
        3,
        ["a", "b"],
    )
    # friendly replies, however many, are no conflict
    friendly = [said("a", "b"), said("b", "a"), said("a", "b"), said("b", "a")]
    assert detect(friendly, friendly[-1], SETTINGS) == []
    assert detect(window, window[-1], ConflictSettings(enabled=False)) == []


@pytest.mark.integration
@pytest.mark.parametrize("moderation", ["memory"], indirect=True)  # one consumer, the outbox
async def test_a_heated_thread_raises_one_alert_per_kind(moderation: Moderation) -> None:
    community = f"c{ULID()}".lower()
    await put_rules(
        moderation,
        community,
        "rules:\n  - {id: rude, kind: keywords, words: [idiot], action: flag, reason: rude}\n"
        "classifier: {enabled: false}\n"
        "conflicts: {min_messages: 4, flagged_share: 0.5, pair_replies: 4, pair_toxicity: 0}\n",
    )
    ann = Actor(platform_user_id="1", member_id=str(ULID()))
    bob = Actor(platform_user_id="2", member_id=str(ULID()))
    start = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()) // 600 * 600, UTC)
    before = counter("hearth_moderation_conflicts_total", kind="pair_replies")
    for n in range(6):  # ann and bob answer each other in one thread
        author, other = (ann, bob) if n % 2 == 0 else (bob, ann)
        event = message(
            community,
            moderation.tenant_id,
            "you idiot" if n else "I disagree",
            actor=author,
            object_actor=other,
            thread_id="t1",
            occurred_at=start + timedelta(seconds=n + 1),
        )
        await moderation.send(event)
        await stored(moderation, event.event_id)
    calm = message(community, moderation.tenant_id, "nice weather", thread_id="t2")
    await moderation.send(calm)
    await stored(moderation, calm.event_id)

    alerts = await moderation.published(
        "moderation.decisions.v1",
        lambda e: e.type == "moderation.conflict.detected" and ours(community)(e),
        expected=2,
    )
    by_kind = {(e.data or {})["conflict"]["kind"]: e.data or {} for e in alerts}
    assert sorted(by_kind) == ["flagged_share", "pair_replies"]
    assert len({e.id for e in alerts}) == 2  # once per kind in the window, not per message
    pair = by_kind["pair_replies"]["conflict"]
    assert sorted(pair["members"]) == sorted([str(ann.member_id), str(bob.member_id)])
    assert (pair["thread_id"], pair["value"], pair["window_seconds"]) == ("t1", 4, 600)
    share = by_kind["flagged_share"]["conflict"]
    assert (share["messages"], share["value"]) == (4, 0.75)
    assert counter("hearth_moderation_conflicts_total", kind="pair_replies") == before + 1
