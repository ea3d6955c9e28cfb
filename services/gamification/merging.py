"""Member merges from members.identity.v1: the ledger follows the member.

A merge gives every ledger line of the source member (in every community) to the
target, remembering which lines moved; totals, levels and leaderboards move with them
(atomic increments, so batches crediting the target meanwhile lose nothing) and the
target's badges are judged again at commit. An unmerge gives back exactly the lines
that moved, plus the compensating lines that followed them since (a revocation of the
source's old message, written while it was the target's), so both members' ledgers and
totals are what they were; what the target earned in between stays the target's.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from services.gamification.domain import levels
from services.gamification.domain.leaderboard import Line, deltas
from services.gamification.leaderboard import ruleset_in_force
from services.gamification.repository import MovedLine
from services.gamification.uow import GamificationUoW
from shared.events.envelope import derived_event_id


async def merge(
    uow: GamificationUoW, tenant_id: str, event_id: str, target: str, source: str, at: datetime
) -> None:
    """Fold `source`'s ledger into `target`'s (once per merge event)."""
    if target == source:
        return
    moved = await uow.merges.lines(tenant_id, source)
    merge_id = derived_event_id(f"merge:{event_id}:{source}", at)
    if not await uow.merges.record(
        merge_id, tenant_id, target, source, at, [line.id for line in moved]
    ):
        return
    await _move(uow, tenant_id, moved, source, target)


async def unmerge(uow: GamificationUoW, tenant_id: str, one: str, other: str, at: datetime) -> None:
    """Undo the latest merge between the two members, whichever way it went."""
    for target, source in ((one, other), (other, one)):
        merge_id = await uow.merges.active(tenant_id, target, source)
        if merge_id is None:
            continue
        ids = await uow.merges.moved_ids(merge_id)
        now_target = await uow.merges.lines(tenant_id, target)
        keys = {line.key for line in now_target if line.id in ids}
        back = [line for line in now_target if line.id in ids or line.key in keys]
        await uow.merges.undone(merge_id, at)
        await _move(uow, tenant_id, back, target, source)
        return


async def _move(
    uow: GamificationUoW, tenant_id: str, lines: list[MovedLine], old: str, new: str
) -> None:
    """Give `lines` from member `old` to `new`, and move what is derived from them."""
    if not lines:
        return
    await uow.merges.rekey(tenant_id, [line.id for line in lines], new)
    by_community: dict[str, int] = defaultdict(int)
    for line in lines:
        by_community[line.community_id] += line.points
    changes = {}
    for community_id, points in by_community.items():
        changes[(tenant_id, community_id, new)] = points
        changes[(tenant_id, community_id, old)] = -points
    after = await uow.store.add_to_totals(changes)
    await uow.store.set_levels(
        {
            member: levels.progress(total).level
            for member, total in after.items()
            if levels.progress(total).level != levels.progress(total - changes[member]).level
        }
    )
    versions = await uow.store.rulesets_of({(tenant_id, c) for c in by_community})
    board_lines = [
        Line(
            tenant_id,
            line.community_id,
            line.channel_id,
            member,
            sign * line.points,
            line.earned_at,
            ruleset_in_force(versions[(tenant_id, line.community_id)], line.earned_at).time_zone,
        )
        for line in lines
        if line.points
        for member, sign in ((new, 1), (old, -1))
    ]
    await uow.leaderboards.apply(deltas(board_lines))
    # Both members' badges are judged again at commit, as after any change of points.
    uow.store.written += [
        {
            "tenant_id": tenant_id,
            "community_id": line.community_id,
            "member_id": member,
            "earned_at": line.earned_at,
        }
        for line in lines
        for member in (new, old)
    ]
