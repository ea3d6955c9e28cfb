"""Core-member evaluations: once a day per community (at local midnight, triggered by its
first activity of the day) or on request, in the caller's transaction.

An evaluation reads the window's points and active days from the ledger, asks the pure
domain (domain/core.py) who qualifies and who enters or leaves, stores the members'
states and publishes each change on gamification.core_members.v1, from which ingest
grants (or takes back) the core-member role on every binding configured with one. An
evaluation is recorded under its key (the local date, or a request id), so a day is
evaluated once even when several batches or replicas reach it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.gamification import metrics
from services.gamification.domain import core, streaks
from services.gamification.domain.rules import DEFAULT_RULESET, Ruleset, stored_ruleset
from services.gamification.repository import CoreMembers, Rulesets
from shared.db.outbox import Outbox
from shared.events.envelope import derived_event_id
from shared.events.payloads import CoreMemberChange
from shared.events.topics import CORE_MEMBERS

SOURCE = "/hearth/gamification"


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation found: the core after it, and who entered and left."""

    evaluated: bool
    core: list[str]
    entered: list[str]
    left: list[str]


class CoreDetection:
    """Evaluates the core of communities whose ruleset has a `core` section."""

    def __init__(self, session: AsyncSession, outbox: Outbox, tally: metrics.Tally) -> None:
        self.store = CoreMembers(session)
        self.rulesets = Rulesets(session)
        self.outbox = outbox
        self.tally = tally

    async def ruleset(self, tenant_id: str, community_id: str, at: datetime) -> Ruleset:
        stored = await self.rulesets.in_force(tenant_id, community_id, at)
        return DEFAULT_RULESET if stored is None else stored_ruleset(stored.source, stored.version)

    async def flush(self, written: list[dict[str, Any]], now: datetime | None = None) -> None:
        """Evaluate today's window for each community the written lines touched, once a day."""
        now = now or datetime.now(UTC)
        for tenant_id, community_id in sorted(
            {(line["tenant_id"], line["community_id"]) for line in written}
        ):
            ruleset = await self.ruleset(tenant_id, community_id, now)
            if ruleset.core is None:
                continue
            today = now.astimezone(ZoneInfo(ruleset.time_zone)).date()
            key = today.isoformat()
            if await self.store.evaluated(tenant_id, community_id, key):
                continue
            midnight = datetime(
                today.year, today.month, today.day, tzinfo=ZoneInfo(ruleset.time_zone)
            )
            await self.evaluate(tenant_id, community_id, ruleset, key, midnight.astimezone(UTC))

    async def evaluate(
        self, tenant_id: str, community_id: str, ruleset: Ruleset, key: str, window_end: datetime
    ) -> Evaluation:
        """One evaluation of the window ending at `window_end`, recorded under `key`."""
        config = ruleset.core
        assert config is not None
        start = window_end - timedelta(days=config.window_days)
        limit = config.size * 5 + len(config.exclude)
        top = await self.store.top_in_window(tenant_id, community_id, start, window_end, limit)
        times = await self.store.active_times(
            tenant_id, community_id, {member for member, _ in top}, start, window_end
        )
        scores = {
            member: core.Score(
                points,
                len(
                    {
                        streaks.period_index(at, "day", ruleset.time_zone)
                        for at in times.get(member, [])
                    }
                ),
            )
            for member, points in top
        }
        inside = set(core.qualifying(config, scores))
        stored = {
            member: core.CoreState(*state)
            for member, state in (await self.store.states(tenant_id, community_id)).items()
        }
        after, changes = core.step(config, inside, stored)
        members = sorted(member for member, state in after.items() if state.core)
        if not await self.store.claim(tenant_id, community_id, key, window_end, len(members)):
            return Evaluation(False, [m for m, s in stored.items() if s.core], [], [])
        await self.store.save_states(
            tenant_id,
            community_id,
            {m: (s.core, s.streak_in, s.streak_out) for m, s in after.items()},
        )
        events = [
            CoreMemberChange(
                event_id=derived_event_id(
                    f"core:{tenant_id}:{community_id}:{member}:{key}", window_end
                ),
                tenant_id=tenant_id,
                community_id=community_id,
                member_id=member,
                core_member=entered,
                rule_id="core",
                occurred_at=window_end,
            )
            for member, entered in sorted(changes.items())
        ]
        for event in events:
            self.tally.core["entered" if event.core_member else "left"] += 1
        await self.outbox.extend(
            [(CORE_MEMBERS.name, event.to_envelope(source=SOURCE)) for event in events]
        )
        return Evaluation(
            True,
            members,
            [m for m, entered in sorted(changes.items()) if entered],
            [m for m, entered in sorted(changes.items()) if not entered],
        )
