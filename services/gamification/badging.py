"""Badges follow the ledger: after a batch's lines are written, the members they touched
are judged against their community's badges (in the same transaction).

`Observed` is the batch's store with a memory of what it wrote: the ledger lines that
were new (only those move totals, so only those can move a badge) and the levels the
totals crossed. `Badging.flush` reads, per community whose ruleset has badges, what
those badges are judged on, asks the pure domain (domain/badges.py) what changed, and
writes the changes and their events (gamification.awards.v1) under the batch's outbox.
A badge row moves by generation, so a change is published by the one transaction that
made it, and a replay (which writes no new lines) publishes nothing.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.gamification import metrics
from services.gamification.domain import badges, levels
from services.gamification.domain.rules import DEFAULT_RULESET, Ruleset, stored_ruleset
from services.gamification.repository import (
    Badges,
    BatchStore,
    CoreMembers,
    HeldBadge,
    Rulesets,
)
from shared.db.outbox import Outbox
from shared.events.envelope import derived_event_id
from shared.events.payloads import AwardEvent, AwardEventType
from shared.events.topics import GAMIFICATION_AWARDS

SOURCE = "/hearth/gamification"

Member = tuple[str, str, str]


class Observed(BatchStore):
    """The batch's store, remembering the lines it wrote and the levels totals crossed."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.written: list[dict[str, Any]] = []
        self.tally = metrics.Tally()

    async def append(self, entries: list[dict[str, Any]]) -> set[tuple[str, str, str, int]]:
        new = await super().append(entries)
        for entry in entries:
            key = (entry["event_id"], entry["source_event_id"], entry["rule_id"])
            if entry["points"] and (*key, entry["rule_version"]) in new:
                self.written.append(entry)
                if entry["points"] > 0:
                    self.tally.points += int(entry["points"])
                else:
                    self.tally.revoked -= int(entry["points"])
        return new

    async def add_to_totals(self, deltas: dict[Member, int]) -> dict[Member, int]:
        after = await super().add_to_totals(deltas)
        for member, delta in deltas.items():
            gained = levels.progress(after[member]).level
            gained -= levels.progress(after[member] - delta).level
            self.tally.level_ups += max(gained, 0)
        return after

    def take(self) -> list[dict[str, Any]]:
        """The lines written since the last call."""
        written, self.written = self.written, []
        return written


class Badging:
    """Judges the badges of the members a transaction's ledger lines touched."""

    def __init__(self, session: AsyncSession, outbox: Outbox, tally: metrics.Tally) -> None:
        self.badges = Badges(session)
        self.core = CoreMembers(session)
        self.rulesets = Rulesets(session)
        self.outbox = outbox
        self.tally = tally

    async def flush(self, written: list[dict[str, Any]]) -> None:
        """Award and withdraw what the written lines changed; a no-op without badges."""
        touched: dict[tuple[str, str], dict[str, list[datetime]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for line in written:
            at = line["earned_at"]
            at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
            touched[(line["tenant_id"], line["community_id"])][line["member_id"]].append(at)
        events: list[AwardEvent] = []
        for (tenant_id, community_id), members in sorted(touched.items()):
            ruleset = await self._ruleset(tenant_id, community_id)
            if ruleset.badges:
                events += await self._judge(tenant_id, community_id, ruleset, members)
                live = max(at for times in members.values() for at in times)
                events += await self._ranked(tenant_id, community_id, ruleset, live)
        await self.outbox.extend(
            [(GAMIFICATION_AWARDS.name, event.to_envelope(source=SOURCE)) for event in events]
        )

    async def _ruleset(self, tenant_id: str, community_id: str) -> Ruleset:
        stored = await self.rulesets.in_force(tenant_id, community_id, datetime.now(UTC))
        return DEFAULT_RULESET if stored is None else stored_ruleset(stored.source, stored.version)

    async def _judge(
        self,
        tenant_id: str,
        community_id: str,
        ruleset: Ruleset,
        members: dict[str, list[datetime]],
    ) -> list[AwardEvent]:
        names = set(members)
        stored = await self.badges.held(tenant_id, community_id, names)
        # The span each member's badges must see: around the changes, and back to when a
        # streak badge they hold was earned (a recheck must see the streak that earned it).
        around = {
            member: [*times, *(h.awarded_at for h in stored.get(member, ()) if h.held)]
            for member, times in members.items()
        }
        spans = [
            span
            for badge in ruleset.badges
            for times in around.values()
            if (span := badges.window(badge, times)) is not None
        ]
        totals = await self.badges.totals(tenant_id, community_id, names)
        by_rule = await self.badges.points_by_rule(tenant_id, community_id, names)
        earnings: dict[str, list[tuple[str, datetime, int]]] = {}
        if spans:
            start, end = min(s for s, _ in spans), max(e for _, e in spans)
            earnings = await self.badges.earnings(tenant_id, community_id, names, start, end)
        events = []
        for member in sorted(names):
            standing = badges.Standing(
                total=totals.get(member, 0),
                by_rule=by_rule.get(member, {}),
                earnings=[badges.Earning(*e) for e in earnings.get(member, [])],
            )
            rows = {(h.badge_id, h.tier): h for h in stored.get(member, [])}
            at = max(members[member])
            for badge in ruleset.badges:
                if badge.kind == "ranked":
                    continue  # judged per closed period, in `_ranked`
                if badge.kind in ("streak", "time_bounded") and (
                    badges.window(badge, around[member]) is None
                ):
                    continue  # nothing in what changed can move it
                now = badges.held(badge, standing, ruleset.time_zone)
                was = {tier: h.held for (b, tier), h in rows.items() if b == badge.id}
                for change in badges.changes(badge, now, was):
                    row = rows.get((badge.id, change.tier))
                    event = await self._apply(
                        tenant_id, community_id, member, badge.kind, change, row, at
                    )
                    if event is not None:
                        events.append(event)
        return events

    async def _ranked(
        self, tenant_id: str, community_id: str, ruleset: Ruleset, latest: datetime
    ) -> list[AwardEvent]:
        """Crown the top members of each ranked badge's last closed period, once.

        Only activity of a later period (live traffic after the boundary, not the closed
        period's own imported history) closes a period, so its points are in by then.
        """
        events: list[AwardEvent] = []
        now = datetime.now(UTC)
        for badge in ruleset.badges:
            if badge.kind != "ranked" or badge.top is None:
                continue
            label, start, end = badges.last_period(badge, now, ruleset.time_zone)
            key = f"rk:{hashlib.sha256(badge.id.encode()).hexdigest()[:10]}:{label}"
            if latest < end or await self.core.evaluated(tenant_id, community_id, key):
                continue
            best = await self.core.top_in_window(tenant_id, community_id, start, end, badge.top * 3)
            winners = badges.ranked_winners(badge, best)
            if not await self.core.claim(tenant_id, community_id, key, end, len(winners)):
                continue
            for member in winners:
                change = badges.Change(badge.id, label, awarded=True)
                event = await self._apply(
                    tenant_id, community_id, member, badge.kind, change, None, end
                )
                if event is not None:
                    events.append(event)
        return events

    async def _apply(
        self,
        tenant_id: str,
        community_id: str,
        member: str,
        kind: str,
        change: badges.Change,
        row: HeldBadge | None,
        at: datetime,
    ) -> AwardEvent | None:
        generation = (row.generation if row is not None else 0) + 1
        moved = await self.badges.change(
            tenant_id,
            community_id,
            member,
            change.badge_id,
            change.tier,
            held=change.awarded,
            generation=generation,
            at=at,
        )
        if not moved:
            return None
        (self.tally.badges if change.awarded else self.tally.withdrawn)[kind] += 1
        seed = f"badge:{tenant_id}:{community_id}:{member}:{change.badge_id}:{change.tier}"
        return AwardEvent(
            event_id=derived_event_id(f"{seed}:{generation}", at),
            type=AwardEventType.BADGE_AWARDED if change.awarded else AwardEventType.BADGE_REVOKED,
            tenant_id=tenant_id,
            community_id=community_id,
            member_id=member,
            badge=change.badge_id,
            tier=change.tier or None,
            occurred_at=at,
        )
