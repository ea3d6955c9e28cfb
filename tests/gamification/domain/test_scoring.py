"""Who earns what for an event: conditions, bots, self-reactions, random XP, caps, cooldowns."""

from datetime import UTC, datetime, timedelta
from typing import Any

from services.gamification.domain.facts import fact_of
from services.gamification.domain.rules import parse_ruleset
from services.gamification.domain.scoring import (
    amount,
    candidates,
    compensation,
    cooldown_window,
    decide,
    windows,
)
from shared.events.community import Actor, CommunityEvent, Content

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

RULES = parse_ruleset(
    """
time_zone: UTC
caps: [{per: day, points: 30}]
rules:
  - id: message
    event: community.message.created
    points: 10
    when: {min_length: 5, not_channels: [spam]}
    cooldown_seconds: 60
  - id: xp
    event: community.message.created
    random: {min: 15, max: 25}
    when: {platforms: [discord]}
  - id: thumbs
    event: community.reaction.added
    to: receiver
    points: 5
    when: {emoji: ["👍"]}
    pair_caps: [{per: day, points: 10}]
"""
)


def message(text: str = "hello there", **fields: Any) -> CommunityEvent:
    defaults: dict[str, Any] = {
        "type": "community.message.created",
        "occurred_at": AT,
        "tenant_id": "t1",
        "community_id": "c1",
        "platform": "slack",
        "channel_id": "general",
        "dedup_key": f"k-{text}",
        "actor": Actor(platform_user_id="u1", member_id="ann"),
        "content": Content(text=text),
    }
    return CommunityEvent(**{**defaults, **fields})


def reaction(emoji: str, *, by: str = "bob", to: str = "ann", **fields: Any) -> CommunityEvent:
    fields.setdefault("type", "community.reaction.added")
    return message(
        actor=Actor(platform_user_id=f"p-{by}", member_id=by, is_bot=fields.pop("bot", False)),
        object_actor=Actor(platform_user_id=f"p-{to}", member_id=to),
        parent_id="m1",
        content=None,
        attributes={"reaction": emoji},
        **fields,
    )


def earned(event: CommunityEvent) -> dict[str, tuple[str, int]]:
    return {c.rule.id: (c.member_id, c.points) for c in candidates(RULES, fact_of(event))}


def test_a_message_earns_under_the_rules_whose_conditions_hold() -> None:
    assert earned(message()) == {"message": ("ann", 10)}
    assert earned(message("hi")) == {}  # shorter than min_length
    assert earned(message(channel_id="spam")) == {}
    assert set(earned(message(platform="discord"))) == {"message", "xp"}


def test_bots_earn_nothing() -> None:
    bot = Actor(platform_user_id="b", member_id="bot", is_bot=True)
    assert earned(message(actor=bot)) == {}
    assert earned(reaction("👍", bot=True)) == {}


def test_a_reaction_pays_its_receiver_and_a_self_reaction_pays_nobody() -> None:
    assert earned(reaction("👍")) == {"thumbs": ("ann", 5)}
    assert earned(reaction("👍", by="ann")) == {}
    assert earned(reaction("🎉")) == {}


def test_random_xp_is_drawn_from_the_event_id_so_a_replay_draws_the_same() -> None:
    (rule,) = [r for r in RULES.rules if r.id == "xp"]
    draws = [amount(rule, f"01JEVENT{n:018d}") for n in range(200)]
    assert draws == [amount(rule, f"01JEVENT{n:018d}") for n in range(200)]
    assert min(draws) == 15 and max(draws) == 25


def test_a_cap_cuts_the_award_to_what_is_left_of_the_period() -> None:
    (candidate,) = candidates(RULES, fact_of(message()))
    (day,) = windows(RULES, candidate, AT)
    assert (day.scope, day.limit) == ("all", 30)
    assert day.start == datetime(2026, 11, 20, tzinfo=UTC)
    assert decide(candidate, [(day, 0)], False).points == 10
    assert decide(candidate, [(day, 24)], False) == decide(candidate, [(day, 24)], False)
    assert decide(candidate, [(day, 24)], False).points == 6
    assert decide(candidate, [(day, 24)], False).reason == "capped"
    assert decide(candidate, [(day, 30)], False).points == 0


def test_a_pair_cap_bounds_what_one_giver_sends_one_receiver() -> None:
    (candidate,) = candidates(RULES, fact_of(reaction("👍")))
    assert candidate.giver_id == "bob"
    scopes = {w.scope: w for w in windows(RULES, candidate, AT)}
    assert set(scopes) == {"all", "pair"}
    used = [(scopes["all"], 0), (scopes["pair"], 10)]
    assert decide(candidate, used, False).points == 0


def test_a_cooldown_blocks_a_second_award_inside_the_window_either_side() -> None:
    (candidate,) = candidates(RULES, fact_of(message()))
    around = cooldown_window(candidate.rule, AT)
    assert around == (AT - timedelta(seconds=60), AT + timedelta(seconds=60))
    assert decide(candidate, [], True).points == 0
    assert decide(candidate, [], True).reason == "cooldown"


def test_compensation_nets_an_award_to_zero_while_revoked_and_back_after() -> None:
    assert compensation(awarded=10, net=10, revoked=True) == -10
    assert compensation(awarded=10, net=0, revoked=True) == 0
    assert compensation(awarded=10, net=0, revoked=False) == 10
    assert compensation(awarded=10, net=10, revoked=False) == 0


def test_a_deletion_names_the_same_content_as_its_message() -> None:
    created = fact_of(message(attributes={"message_id": "1700.1"}))
    deleted = fact_of(
        message(type="community.message.deleted", content=None, attributes={"message_id": "1700.1"})
    )
    assert created.ref is not None and created.ref == deleted.ref
    removed = fact_of(reaction("👍", type="community.reaction.removed"))
    assert removed.ref == fact_of(reaction("👍")).ref
