"""Manual grants and deductions: points a community manager gives or takes, with a reason.

A grant is its own ledger line (rule `manual`, keyed by the grant's id) beside an audit
row naming the API key that made it and why. It moves the member's total, level and
leaderboards and publishes on gamification.awards.v1 like any award, in the request's
transaction; its badges are judged at commit like a batch's.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.gamification.domain import levels
from services.gamification.domain.leaderboard import Line, deltas
from services.gamification.handlers import ruleset_at
from services.gamification.uow import GamificationUoW
from shared.api.auth import Caller
from shared.events.envelope import derived_event_id, new_event_id, utcnow
from shared.events.payloads import AwardEvent, AwardEventType
from shared.events.topics import GAMIFICATION_AWARDS

SOURCE = "/hearth/gamification"
MANUAL_RULE = "manual"


@dataclass(frozen=True)
class Granted:
    """A grant recorded: its id and the member's total after it."""

    grant_id: str
    total: int
    level: int


async def grant(
    uow: GamificationUoW,
    caller: Caller,
    community_id: str,
    member_id: str,
    points: int,
    reason: str,
) -> Granted:
    """Record a grant (points > 0) or deduction (points < 0) and apply it; no commit."""
    tenant_id, now, grant_id = caller.tenant_id, utcnow(), new_event_id()
    await uow.grants.add(caller, grant_id, community_id, member_id, points, reason, now)
    line = {
        "tenant_id": tenant_id,
        "community_id": community_id,
        "member_id": member_id,
        "event_id": grant_id,
        "source_event_id": grant_id,
        "rule_id": MANUAL_RULE,
        "rule_version": 0,
        "kind": "grant" if points > 0 else "deduct",
        "points": points,
        "reason": "manual",
        "giver_member_id": None,
        "earned_at": now,
        "channel_id": None,
    }
    await uow.store.append([line])
    member = (tenant_id, community_id, member_id)
    total = (await uow.store.add_to_totals({member: points}))[member]
    old, new = levels.progress(total - points).level, levels.progress(total).level
    if old != new:
        await uow.store.set_levels({member: new})
    ruleset = await ruleset_at(uow, tenant_id, community_id, now)
    await uow.leaderboards.apply(
        deltas([Line(tenant_id, community_id, None, member_id, points, now, ruleset.time_zone)])
    )
    common = {
        "tenant_id": tenant_id,
        "community_id": community_id,
        "member_id": member_id,
        "source_event_id": grant_id,
        "rule_id": MANUAL_RULE,
        "occurred_at": now,
    }
    kind = AwardEventType.POINTS_AWARDED if points > 0 else AwardEventType.POINTS_REVOKED
    events = [AwardEvent(event_id=grant_id, type=kind, points=points, **common)]
    if old != new:
        events.append(
            AwardEvent(
                event_id=derived_event_id(f"level:{grant_id}", now),
                type=AwardEventType.LEVEL_CHANGED,
                points=total,
                level=new,
                **common,
            )
        )
    await uow.outbox.extend(
        [(GAMIFICATION_AWARDS.name, event.to_envelope(source=SOURCE)) for event in events]
    )
    return Granted(grant_id, total, new)
