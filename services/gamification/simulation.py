"""What-if: a candidate ruleset scored on the community's recent activity, changing nothing.

Every activity and deletion the service scores is also kept, as the rules saw it (a
`Fact`: ids, types, lengths, emoji; no member text), for SIMULATE_DAYS days. A
simulation replays the facts of the last `days` days through the real batch scorer
(services/gamification/batch.py), with the candidate ruleset and the moderation removals
known now, into a throwaway embedded database, and compares what it earns with what the
same activities net in the ledger now: points per member, levels, the top N.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.gamification.batch import Activity, Batch, Deletion, Moderation
from services.gamification.domain import levels
from services.gamification.domain.facts import Fact
from services.gamification.repository import Badges, BatchStore, RecentFacts
from services.gamification.tables import member_totals, metadata, rulesets
from shared.api.auth import Caller
from shared.db.engine import Database
from shared.db.migrations import upgrade
from shared.db.outbox import Outbox
from shared.db.tables import outbox_table
from shared.events.community import CommunityEventType, Platform

SIMULATE_DAYS = 30
"""How long facts are kept, and the longest span a simulation covers."""
MAX_FACTS = 20_000
"""A simulation replays at most this many of the latest facts."""
MIGRATIONS = Path(__file__).parent / "migrations"


_FIELDS = tuple(field.name for field in fields(Fact))


def encode(fact: Fact) -> str:
    """A fact as stored (its fields are plain values: no deep copy as `asdict` makes)."""
    values = {name: getattr(fact, name) for name in _FIELDS}
    values["occurred_at"] = fact.occurred_at.isoformat()
    return json.dumps(values, sort_keys=True)


def decode(text: str) -> Fact:
    """A stored fact."""
    data = json.loads(text)
    data["type"] = CommunityEventType(data["type"])
    data["platform"] = Platform(data["platform"])
    data["occurred_at"] = datetime.fromisoformat(data["occurred_at"])
    return Fact(**data)


class FactLog:
    """The facts a transaction scored, kept at commit (and the community's old ones pruned)."""

    def __init__(self, store: RecentFacts) -> None:
        self.store = store
        self.queued: list[tuple[str, Fact]] = []

    def add(self, kind: str, fact: Fact) -> None:
        self.queued.append((kind, fact))

    async def flush(self, now: datetime | None = None) -> None:
        if not self.queued:
            return
        queued, self.queued = self.queued, []
        cutoff = (now or datetime.now(UTC)) - timedelta(days=SIMULATE_DAYS)
        rows = [
            {
                "tenant_id": fact.tenant_id,
                "event_id": fact.event_id,
                "community_id": fact.community_id,
                "kind": kind,
                "occurred_at": fact.occurred_at,
                "fact": encode(fact),
            }
            for kind, fact in queued
            if fact.occurred_at >= cutoff  # imported history older than that is not kept
        ]
        await self.store.add(rows)
        for tenant_id, community_id in sorted({(f.tenant_id, f.community_id) for _, f in queued}):
            await self.store.prune(tenant_id, community_id, cutoff)


@dataclass(frozen=True)
class MemberEffect:
    """One member's points from the simulated activity, now and under the candidate."""

    member_id: str
    current: int
    simulated: int
    level_now: int
    level_simulated: int


@dataclass(frozen=True)
class Simulation:
    """What a candidate ruleset would change over the simulated span."""

    since: datetime
    events: int
    truncated: bool
    members: list[MemberEffect]
    top_now: list[str]
    top_simulated: list[str]


async def simulate(
    facts: RecentFacts,
    standings: Badges,
    caller: Caller,
    community_id: str,
    source: str,
    *,
    days: int,
    top: int,
) -> Simulation:
    """Score the last `days` days of facts under `source` (a validated ruleset's YAML)."""
    since = datetime.now(UTC) - timedelta(days=days)
    stored = await facts.recent(caller, community_id, since, MAX_FACTS + 1)
    truncated = len(stored) > MAX_FACTS
    work = [(kind, decode(text)) for kind, text in reversed(stored[:MAX_FACTS])]
    activities = {fact.event_id for kind, fact in work if kind == "activity"}
    removed = await facts.removed(caller.tenant_id, activities)
    now_points = await facts.points_of(caller.tenant_id, community_id, activities)
    simulated = await _replay(caller.tenant_id, community_id, source, work, removed)
    totals = await standings.totals(
        caller.tenant_id, community_id, set(now_points) | set(simulated)
    )
    members = []
    for member in sorted(set(now_points) | set(simulated)):
        current, candidate = now_points.get(member, 0), simulated.get(member, 0)
        total = totals.get(member, current)
        members.append(
            MemberEffect(
                member,
                current,
                candidate,
                levels.progress(total).level,
                levels.progress(total - current + candidate).level,
            )
        )
    members.sort(key=lambda m: (-abs(m.simulated - m.current), m.member_id))
    return Simulation(
        since,
        len(work),
        truncated,
        members,
        _best(now_points, top),
        _best(simulated, top),
    )


def _best(points: dict[str, int], top: int) -> list[str]:
    ranked = sorted((p for p in points.items() if p[1] > 0), key=lambda p: (-p[1], p[0]))
    return [member for member, _ in ranked[:top]]


async def _replay(
    tenant_id: str,
    community_id: str,
    source: str,
    work: list[tuple[str, Fact]],
    removed: set[str],
) -> dict[str, int]:
    """member → points, scoring `work` with the real batch into a throwaway database."""
    with tempfile.TemporaryDirectory(prefix="hearth-simulate-") as folder:
        db = Database(f"sqlite+aiosqlite:///{folder}/simulate.db", schema="gamification")
        try:
            await upgrade(db, MIGRATIONS)
            async with db.transaction() as session:
                await session.execute(
                    rulesets.insert().values(
                        tenant_id=tenant_id,
                        community_id=community_id,
                        version=1,
                        source=source,
                        effective_from=datetime(1970, 1, 1, tzinfo=UTC),
                        created_by="simulation",
                    )
                )
                batch = Batch(BatchStore(session), Outbox(session, outbox_table(metadata)))
                for kind, fact in work:
                    if kind != "activity":
                        batch.add(Deletion(fact))
                        continue
                    batch.add(Activity(fact))
                    if fact.event_id in removed:
                        cause = f"{fact.event_id}~simulated"
                        batch.add(Moderation(tenant_id, fact.event_id, cause, removed=True))
                await batch.flush()
                rows = await session.execute(
                    select(member_totals.c.member_id, member_totals.c.points)
                )
                return {row.member_id: int(row.points) for row in rows}
        finally:
            await db.dispose()


def as_json(result: Simulation) -> dict[str, Any]:
    """The report as the API answers it."""
    return {
        "since": result.since,
        "events": result.events,
        "truncated": result.truncated,
        "points": {
            "current": sum(m.current for m in result.members),
            "simulated": sum(m.simulated for m in result.members),
        },
        "members": [
            {
                "member_id": m.member_id,
                "current": m.current,
                "simulated": m.simulated,
                "difference": m.simulated - m.current,
                "level_now": m.level_now,
                "level_simulated": m.level_simulated,
            }
            for m in result.members
        ],
        "top": {"current": result.top_now, "simulated": result.top_simulated},
    }
