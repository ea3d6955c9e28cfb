"""Every reaction of the gamification service to an event, in one place.

Handlers take a typed payload and the service's unit of work, and never commit:

    async def handler(event: CommunityEvent, uow: GamificationUoW) -> None: ...

Idempotence does not rest on processed_events alone: every ledger entry is keyed by
(event id, source event id, rule id, rule version), a decision once recorded is
final, and the ruleset applied is the one in force when the activity happened, so a
replay of the same events writes nothing new.

Handlers only queue their event on `uow.batch`; the batch scores all the events of
the transaction together just before it commits (services/gamification/batch.py).
"""

from __future__ import annotations

from datetime import datetime

from services.gamification import merging
from services.gamification.batch import Activity, Deletion, Moderation
from services.gamification.campaigns import cue_of
from services.gamification.domain.facts import fact_of
from services.gamification.domain.rules import DEFAULT_RULESET, Ruleset, stored_ruleset
from services.gamification.uow import GamificationUoW
from shared.db.consuming import Handler
from shared.events.community import CommunityEvent, CommunityEventType
from shared.events.payloads import IdentityEvent, IdentityEventType, ModerationDecision


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
    uow.batch.add(Activity(fact, cue_of(event, fact.emoji)))
    uow.facts.add("activity", fact)  # kept a while, for simulating rulesets


async def revoke_for_deleted(event: CommunityEvent, uow: GamificationUoW) -> None:
    """A message deleted or a reaction taken back: cancel what it earned."""
    fact = fact_of(event)
    uow.batch.add(Deletion(fact, cue_of(event, fact.emoji)))
    uow.facts.add("deletion", fact)


async def revoke_for_removed(decision: ModerationDecision, uow: GamificationUoW) -> None:
    """Moderation removed content: its points are taken back until it is restored."""
    uow.batch.add(
        Moderation(decision.tenant_id, decision.subject_event_id, decision.event_id, removed=True)
    )


async def regrant_for_restored(decision: ModerationDecision, uow: GamificationUoW) -> None:
    """Moderation restored content: what it earned comes back (unless it was deleted)."""
    uow.batch.add(
        Moderation(decision.tenant_id, decision.subject_event_id, decision.event_id, removed=False)
    )


async def rekey_merged_member(event: IdentityEvent, uow: GamificationUoW) -> None:
    """Ingest merged members: their ledgers, totals and boards become the target's."""
    await uow.batch.flush()  # what was delivered before the merge is scored before it
    for source in event.merged_member_ids:
        await merging.merge(
            uow, event.tenant_id, event.event_id, event.member_id, source, event.occurred_at
        )


async def split_unmerged_member(event: IdentityEvent, uow: GamificationUoW) -> None:
    """Ingest undid a merge: exactly the lines that moved go back."""
    await uow.batch.flush()
    for other in event.merged_member_ids:
        await merging.unmerge(uow, event.tenant_id, event.member_id, other, event.occurred_at)


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
    IdentityEventType.MEMBERS_MERGED.value: rekey_merged_member,
    IdentityEventType.MEMBERS_UNMERGED.value: split_unmerged_member,
}
