"""Which rules an event earns points under, and how many once cooldowns and caps apply.

Scoring runs in two steps so that it stays pure: `candidates` says who may earn what
under which rule, `windows` says which ledger sums the caps need, and `decide` turns
those sums (read by the repository) into the points recorded. A decision is final:
the ledger keeps it (even at 0 points) under (event id, rule id, rule version).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from services.gamification.domain.facts import Fact
from services.gamification.domain.periods import bounds
from services.gamification.domain.rules import Conditions, Rule, Ruleset
from shared.events.community import CommunityEventType

# Types where the actor acts on someone else's content: doing it to yourself earns nothing.
_TOWARDS_OTHERS = frozenset({CommunityEventType.REACTION_ADDED, CommunityEventType.ANSWER_ACCEPTED})


@dataclass(frozen=True)
class Candidate:
    """A member who may earn `points` under `rule` for one event, before caps."""

    rule: Rule
    member_id: str
    giver_id: str | None
    points: int


@dataclass(frozen=True)
class Window:
    """A ledger sum a cap bounds: this member's points in one calendar period."""

    scope: Literal["rule", "all", "pair"]
    start: datetime
    end: datetime
    limit: int


@dataclass(frozen=True)
class Decision:
    """What the ledger records for a candidate: points, and why fewer when fewer."""

    points: int
    reason: Literal["earned", "capped", "cooldown"]


def matches(when: Conditions, fact: Fact) -> bool:
    """Whether every condition given holds for the event."""
    if when.channels is not None and fact.channel_id not in when.channels:
        return False
    if when.not_channels is not None and fact.channel_id in when.not_channels:
        return False
    if when.platforms is not None and fact.platform not in when.platforms:
        return False
    if when.min_length is not None and fact.text_length < when.min_length:
        return False
    if when.emoji is not None and fact.emoji not in when.emoji:
        return False
    if when.is_reply is not None and fact.is_reply != when.is_reply:
        return False
    return when.has_attachment is None or fact.has_attachment == when.has_attachment


def amount(rule: Rule, event_id: str) -> int:
    """The rule's points for this event; "random" points are drawn from the event id."""
    if rule.random is None:
        return rule.points or 0
    span = rule.random.max - rule.random.min + 1
    draw = int.from_bytes(hashlib.sha256(f"{event_id}:{rule.id}".encode()).digest()[:8], "big")
    return rule.random.min + draw % span


def candidates(ruleset: Ruleset, fact: Fact) -> list[Candidate]:
    """Who may earn what for this event: no bots, nothing for acting on one's own content."""
    found = []
    for rule in ruleset.rules:
        if rule.event != fact.type or not matches(rule.when, fact):
            continue
        if rule.to == "actor":
            member, is_bot, giver = fact.actor, fact.actor_is_bot, None
        else:
            member, is_bot, giver = fact.receiver, fact.receiver_is_bot, fact.actor
            if fact.actor_is_bot:  # a bot's reaction is worth nothing to its receiver
                continue
        if member is None or is_bot:
            continue
        if fact.self_directed and (rule.to == "receiver" or fact.type in _TOWARDS_OTHERS):
            continue
        found.append(Candidate(rule, member, giver, amount(rule, fact.event_id)))
    return found


def windows(ruleset: Ruleset, candidate: Candidate, at: datetime) -> list[Window]:
    """The capped sums this candidate's award must fit in, for the period holding `at`."""
    found = []
    for scope, caps in (
        ("rule", candidate.rule.caps),
        ("all", ruleset.caps),
        ("pair", candidate.rule.pair_caps if candidate.giver_id else []),
    ):
        for cap in caps:
            start, end = bounds(cap.per, at, ruleset.time_zone)
            found.append(Window(scope, start, end, cap.points))  # type: ignore[arg-type]
    return found


def cooldown_window(rule: Rule, at: datetime) -> tuple[datetime, datetime] | None:
    """The open interval around `at` in which another award of the rule blocks this one.

    Symmetric, so history imported out of order is held to the same spacing as live.
    """
    if rule.cooldown_seconds == 0:
        return None
    gap = timedelta(seconds=rule.cooldown_seconds)
    return at - gap, at + gap


def decide(candidate: Candidate, used: list[tuple[Window, int]], cooling_down: bool) -> Decision:
    """The points recorded, given what each window already holds and the cooldown."""
    if cooling_down:
        return Decision(0, "cooldown")
    points = candidate.points
    for window, already in used:
        points = min(points, max(window.limit - already, 0))
    return Decision(points, "earned" if points == candidate.points else "capped")


def compensation(awarded: int, net: int, revoked: bool) -> int:
    """The entry that brings an award's net to what it should be: 0 while revoked."""
    return (0 if revoked else awarded) - net
