"""Every reaction of the gamification service to an event, in one place.

Handlers take a typed payload and the service's unit of work, and never commit:

    async def handler(event: CommunityEvent, uow: GamificationUoW) -> None: ...

Idempotence does not rest on processed_events alone: every ledger entry is keyed by
(event id, source event id, rule id, rule version), a decision once recorded is
final, and the ruleset applied is the one in force when the activity happened, so a
replay of the same events writes nothing new.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.gamification.domain import levels, scoring
from services.gamification.domain.facts import Fact, fact_of
from services.gamification.domain.rules import DEFAULT_RULESET, Ruleset, stored_ruleset
from services.gamification.repository import Award
from services.gamification.uow import GamificationUoW
from shared.db.consuming import Handler
from shared.events.community import CommunityEvent, CommunityEventType
from shared.events.envelope import derived_event_id
from shared.events.payloads import AwardEvent, AwardEventType, ModerationDecision
from shared.events.topics import GAMIFICATION_AWARDS

SOURCE = "/hearth/gamification"


async def ruleset_at(
    uow: GamificationUoW, tenant_id: str, community_id: str, at: datetime
) -> Ruleset:
    """The community's ruleset in force at `at` (the default until it uploads one)."""
    stored = await uow.rulesets.in_force(tenant_id, community_id, at)
    if stored is None:
        return DEFAULT_RULESET
    return stored_ruleset(stored.source, stored.version)


async def award_for_activity(event: CommunityEvent, uow: GamificationUoW) -> None:
    """Apply the community's ruleset to one activity; record every decision, even 0."""
    fact = fact_of(event)
    await uow.ledger.note_community(fact.tenant_id, fact.community_id)
    deleted = False
    if fact.ref is not None:
        deleted = await uow.ledger.register_content(
            fact.tenant_id,
            fact.community_id,
            fact.ref,
            fact.event_id,
            replace=fact.type is CommunityEventType.REACTION_ADDED,
        )
    ruleset = await ruleset_at(uow, fact.tenant_id, fact.community_id, fact.occurred_at)
    decided = await uow.ledger.decided_rules(fact.event_id)
    for candidate in scoring.candidates(ruleset, fact):
        if (candidate.rule.id, ruleset.version) in decided:
            continue
        await _decide(uow, ruleset, fact, candidate)
    # Content deleted or removed before its activity arrived earns and is revoked at once,
    # so a later restore has something to give back.
    if deleted or await uow.ledger.is_revoked(fact.tenant_id, fact.event_id):
        await reconcile(uow, fact.tenant_id, fact.event_id, cause=f"{fact.event_id}~revoked")


async def _decide(
    uow: GamificationUoW, ruleset: Ruleset, fact: Fact, candidate: scoring.Candidate
) -> None:
    used = []
    for window in scoring.windows(ruleset, candidate, fact.occurred_at):
        already = await uow.ledger.window_sum(
            fact.tenant_id,
            fact.community_id,
            candidate.member_id,
            window.start,
            window.end,
            rule_id=candidate.rule.id if window.scope != "all" else None,
            giver_member_id=candidate.giver_id if window.scope == "pair" else None,
        )
        used.append((window, already))
    cooling_down = False
    if (around := scoring.cooldown_window(candidate.rule, fact.occurred_at)) is not None:
        cooling_down = await uow.ledger.awarded_between(
            fact.tenant_id, fact.community_id, candidate.member_id, candidate.rule.id, *around
        )
    decision = scoring.decide(candidate, used, cooling_down)
    entry = {
        "tenant_id": fact.tenant_id,
        "community_id": fact.community_id,
        "member_id": candidate.member_id,
        "event_id": fact.event_id,
        "source_event_id": fact.event_id,
        "rule_id": candidate.rule.id,
        "rule_version": ruleset.version,
        "kind": "award",
        "points": decision.points,
        "reason": decision.reason,
        "giver_member_id": candidate.giver_id,
        "earned_at": fact.occurred_at,
    }
    if await uow.ledger.append(entry) and decision.points:
        await _credit(uow, entry)


async def reconcile(
    uow: GamificationUoW, tenant_id: str, source_event_id: str, *, cause: str
) -> None:
    """Bring every award of an activity to what it should net: 0 while revoked, else all."""
    revoked = await uow.ledger.is_revoked(tenant_id, source_event_id)
    for award in await uow.ledger.awards_of(tenant_id, source_event_id):
        delta = scoring.compensation(award.points, award.net, revoked)
        if delta == 0:
            continue
        entry = _compensating(tenant_id, source_event_id, award, cause, delta)
        if await uow.ledger.append(entry):
            await _credit(uow, entry)


def _compensating(
    tenant_id: str, source_event_id: str, award: Award, cause: str, delta: int
) -> dict[str, object]:
    return {
        "tenant_id": tenant_id,
        "community_id": award.community_id,
        "member_id": award.member_id,
        "event_id": cause,
        "source_event_id": source_event_id,
        "rule_id": award.rule_id,
        "rule_version": award.rule_version,
        "kind": "revoke" if delta < 0 else "regrant",
        "points": delta,
        "reason": "revoked" if delta < 0 else "restored",
        "giver_member_id": award.giver_member_id,
        # Counted in the period the activity earned in, so caps and periods stay right.
        "earned_at": _aware(award.earned_at),
    }


async def _credit(uow: GamificationUoW, entry: dict[str, object]) -> None:
    """Move the member's total and tell subscribers: points, and the level when it moved."""
    tenant_id, community_id = str(entry["tenant_id"]), str(entry["community_id"])
    member_id, points = str(entry["member_id"]), int(entry["points"])  # type: ignore[call-overload]
    before, after = await uow.ledger.add_to_total(
        tenant_id, community_id, member_id, points, lambda total: levels.progress(total).level
    )
    key = (
        f"{entry['event_id']}:{entry['source_event_id']}:{entry['rule_id']}:{entry['rule_version']}"
    )
    at = _aware(entry["earned_at"])  # type: ignore[arg-type]
    common = {
        "tenant_id": tenant_id,
        "community_id": community_id,
        "member_id": member_id,
        "source_event_id": str(entry["source_event_id"]),
        "rule_id": str(entry["rule_id"]),
    }
    kind = AwardEventType.POINTS_AWARDED if points > 0 else AwardEventType.POINTS_REVOKED
    await _emit(
        AwardEvent(event_id=derived_event_id(key, at), type=kind, points=points, **common), uow
    )
    old, new = levels.progress(before).level, levels.progress(after).level
    if old != new:
        await _emit(
            AwardEvent(
                event_id=derived_event_id(f"level:{key}", at),
                type=AwardEventType.LEVEL_CHANGED,
                points=after,
                level=new,
                **common,
            ),
            uow,
        )


async def _emit(event: AwardEvent, uow: GamificationUoW) -> None:
    await uow.outbox.add(GAMIFICATION_AWARDS.name, event.to_envelope(source=SOURCE))


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def revoke_for_deleted(event: CommunityEvent, uow: GamificationUoW) -> None:
    """A message deleted or a reaction taken back: cancel what it earned."""
    fact = fact_of(event)
    if fact.ref is None:
        return
    await uow.ledger.note_community(fact.tenant_id, fact.community_id)
    source = await uow.ledger.mark_deleted(fact.tenant_id, fact.community_id, fact.ref)
    if source is not None:
        await reconcile(uow, fact.tenant_id, source, cause=fact.event_id)


async def revoke_for_removed(decision: ModerationDecision, uow: GamificationUoW) -> None:
    """Moderation removed content: its points are taken back until it is restored."""
    await uow.ledger.set_moderated(decision.tenant_id, decision.subject_event_id, removed=True)
    await reconcile(uow, decision.tenant_id, decision.subject_event_id, cause=decision.event_id)


async def regrant_for_restored(decision: ModerationDecision, uow: GamificationUoW) -> None:
    """Moderation restored content: what it earned comes back (unless it was deleted)."""
    await uow.ledger.set_moderated(decision.tenant_id, decision.subject_event_id, removed=False)
    await reconcile(uow, decision.tenant_id, decision.subject_event_id, cause=decision.event_id)


_REVOKING = {CommunityEventType.MESSAGE_DELETED, CommunityEventType.REACTION_REMOVED}
# A member leaving earns nothing and takes nothing back (rules refuse it as a trigger).
_IGNORED = {CommunityEventType.MEMBER_LEFT}

HANDLERS: dict[str, Handler] = {
    **{
        event_type.value: award_for_activity
        for event_type in CommunityEventType
        if event_type not in _REVOKING | _IGNORED
    },
    CommunityEventType.MESSAGE_DELETED.value: revoke_for_deleted,
    CommunityEventType.REACTION_REMOVED.value: revoke_for_deleted,
    "moderation.content.removed": revoke_for_removed,
    "moderation.content.restored": regrant_for_restored,
}
