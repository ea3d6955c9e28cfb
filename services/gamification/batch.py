"""Scoring a whole consumer batch at once: read once, decide in memory, write in bulk.

The kit calls a handler once per event, all inside one transaction. Handlers only queue
their event on the unit of work's `Batch`; when the transaction commits, the batch

1. reads in a handful of statements what every queued event needs: the communities'
   rulesets, the state of the content they name, the ledger lines of the activities
   they touch, and the ledger window (caps, cooldowns) of every member who may earn;
2. handles the events in delivery order against that state, in memory, exactly as one
   event after the other would: each decision sees the ones before it in the batch;
3. writes the ledger lines with one multi-row INSERT … ON CONFLICT DO NOTHING, credits
   the totals of the lines that were new (an atomic increment per member), and queues
   the awards and level changes on the outbox, in order.

The guarantees are the per-event ones: a line's key is (event id, source event id, rule
id, rule version) under a unique constraint, and only lines the INSERT reports as new
move a total or publish anything, so a redelivered or concurrently handled event
counts once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from services.gamification.campaigns import CampaignRecorder, Cue
from services.gamification.domain import levels, scoring
from services.gamification.domain.campaigns import CampaignSpec, multiplied, multiplier_at
from services.gamification.domain.facts import Fact
from services.gamification.domain.leaderboard import Line, deltas
from services.gamification.domain.rules import Ruleset
from services.gamification.leaderboard import Leaderboards, ruleset_in_force
from services.gamification.repository import (
    Award,
    BatchStore,
    ContentState,
    StoredRuleset,
    hashed_ref,
)
from shared.db.outbox import Outbox
from shared.events.community import CommunityEventType
from shared.events.envelope import derived_event_id
from shared.events.payloads import AwardEvent, AwardEventType
from shared.events.topics import GAMIFICATION_AWARDS

SOURCE = "/hearth/gamification"

Key = tuple[str, str, str, int]
Member = tuple[str, str, str]


@dataclass(frozen=True)
class Activity:
    """An activity to score (and, with its cue, to check for campaign entries and votes)."""

    fact: Fact
    cue: Cue | None = None


@dataclass(frozen=True)
class Deletion:
    """A message deleted or a reaction taken back."""

    fact: Fact
    cue: Cue | None = None


@dataclass(frozen=True)
class Moderation:
    """Moderation removed (or restored) the content of an activity."""

    tenant_id: str
    source_event_id: str
    cause: str
    removed: bool


Work = Activity | Deletion | Moderation


@dataclass
class _State:
    """What the batch knows, loaded once and kept up to date as it goes."""

    rulesets: dict[tuple[str, str], list[StoredRuleset]]
    content: dict[tuple[str, str, str], ContentState]
    moderated: dict[tuple[str, str], bool]
    lines: dict[tuple[str, str], list[dict[str, Any]]]
    """(tenant, activity) → its ledger lines."""
    window: dict[Member, list[dict[str, Any]]]
    """member → their lines earned in the span the batch's caps and cooldowns look at."""
    keys: set[Key] = field(default_factory=set)
    pending: list[dict[str, Any]] = field(default_factory=list)
    dirty_content: set[tuple[str, str, str]] = field(default_factory=set)
    dirty_moderated: set[tuple[str, str]] = field(default_factory=set)
    named: dict[tuple[str, str], set[tuple[str, str, str]]] = field(default_factory=dict)
    """(tenant, activity) → the content keys that have named it."""
    campaigns: dict[tuple[str, str], list[CampaignSpec]] = field(default_factory=dict)
    """(tenant, community) → its campaigns running during the batch (for multipliers)."""

    def __post_init__(self) -> None:
        for key, found in self.content.items():
            self._index(key, found)

    def set_content(self, key: tuple[str, str, str], found: ContentState) -> None:
        self.content[key] = found
        self.dirty_content.add(key)
        self._index(key, found)

    def _index(self, key: tuple[str, str, str], found: ContentState) -> None:
        if found.source_event_id is not None:
            self.named.setdefault((found.tenant_id, found.source_event_id), set()).add(key)

    def deleted_source(self, tenant_id: str, source_event_id: str) -> bool:
        """Whether content naming this activity is deleted."""
        return any(
            self.content[key].deleted and self.content[key].source_event_id == source_event_id
            for key in self.named.get((tenant_id, source_event_id), ())
        )


class Batch:
    """The events of one transaction, scored together at commit (see the module docstring)."""

    def __init__(self, store: BatchStore, outbox: Outbox) -> None:
        self.store = store
        self.outbox = outbox
        self.boards = Leaderboards(store.session)
        self.campaigns = CampaignRecorder(store.session)
        self.queued: list[Work] = []

    def add(self, work: Work) -> None:
        self.queued.append(work)

    async def flush(self) -> None:
        """Score what was queued and write it; a no-op when nothing was."""
        if not self.queued:
            return
        queued, self.queued = self.queued, []
        state = await self._load(queued)
        for work in queued:
            if isinstance(work, Activity):
                self._activity(state, work.fact)
            elif isinstance(work, Deletion):
                self._deletion(state, work.fact)
            else:
                state.moderated[(work.tenant_id, work.source_event_id)] = work.removed
                state.dirty_moderated.add((work.tenant_id, work.source_event_id))
                self._reconcile(state, work.tenant_id, work.source_event_id, work.cause)
        await self._write(queued, state)
        await self.campaigns.record(
            [w.cue for w in queued if not isinstance(w, Moderation) and w.cue is not None],
            [
                (w.tenant_id, w.source_event_id, w.removed)
                for w in queued
                if isinstance(w, Moderation)
            ],
        )

    # --- 1. read once ---------------------------------------------------------

    async def _load(self, queued: list[Work]) -> _State:
        facts = [work.fact for work in queued if not isinstance(work, Moderation)]
        activities = [work.fact for work in queued if isinstance(work, Activity)]
        refs = {
            (f.tenant_id, f.community_id, hashed_ref(f.ref)) for f in facts if f.ref is not None
        }
        judged = {(w.tenant_id, w.source_event_id) for w in queued if isinstance(w, Moderation)}
        content = {
            (s.tenant_id, s.community_id, s.ref): s for s in await self.store.content(refs, judged)
        }
        sources = judged | {(f.tenant_id, f.event_id) for f in activities}
        sources |= {
            (s.tenant_id, s.source_event_id)
            for s in content.values()
            if s.source_event_id is not None
        }
        lines: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for line in await self.store.lines_of(sources):
            line["earned_at"] = _utc(line["earned_at"])
            lines[(line["tenant_id"], line["source_event_id"])].append(line)
        state = _State(
            rulesets=await self.store.rulesets_of(
                {(f.tenant_id, f.community_id) for f in activities}
            ),
            content=content,
            moderated=await self.store.moderated_of(sources),
            lines=lines,
            window={},
        )
        state.keys = {_key(line) for group in lines.values() for line in group}
        if activities:
            running = await self.campaigns.running(
                {(f.tenant_id, f.community_id) for f in activities},
                min(f.occurred_at for f in activities),
                max(f.occurred_at for f in activities),
            )
            state.campaigns = {key: [spec for _id, spec in found] for key, found in running.items()}
        await self._load_windows(state, activities)
        return state

    async def _load_windows(self, state: _State, activities: list[Fact]) -> None:
        """Each member's lines over the union of the periods and cooldowns they may need."""
        spans: dict[tuple[str, str], tuple[datetime, datetime, set[str]]] = {}
        for fact in activities:
            ruleset = _ruleset_at(state, fact)
            for candidate in scoring.candidates(ruleset, fact):
                around = [
                    (w.start, w.end) for w in scoring.windows(ruleset, candidate, fact.occurred_at)
                ]
                if (
                    cooldown := scoring.cooldown_window(candidate.rule, fact.occurred_at)
                ) is not None:
                    around.append(cooldown)
                where = (fact.tenant_id, fact.community_id)
                state.window.setdefault((*where, candidate.member_id), [])
                if not around:
                    continue
                start, end = min(a for a, _ in around), max(b for _, b in around)
                if where in spans:
                    old_start, old_end, members = spans[where]
                    start, end = min(start, old_start), max(end, old_end)
                else:
                    members = set()
                members.add(candidate.member_id)
                spans[where] = (start, end, members)
        for (tenant_id, community_id), (start, end, members) in spans.items():
            for line in await self.store.member_lines(tenant_id, community_id, members, start, end):
                line["earned_at"] = _utc(line["earned_at"])
                state.window[(tenant_id, community_id, line["member_id"])].append(line)

    # --- 2. decide in memory, in delivery order --------------------------------

    def _activity(self, state: _State, fact: Fact) -> None:
        deleted = False
        if fact.ref is not None:
            deleted = self._register(state, fact)
        ruleset = _ruleset_at(state, fact)
        decided = {
            (line["rule_id"], line["rule_version"])
            for line in state.lines.get((fact.tenant_id, fact.event_id), [])
            if line["event_id"] == fact.event_id
        }
        for candidate in scoring.candidates(ruleset, fact):
            if (candidate.rule.id, ruleset.version) not in decided:
                self._decide(state, ruleset, fact, candidate)
        # Content deleted or removed before its activity arrived earns and is revoked at once,
        # so a later restore has something to give back.
        if deleted or _revoked(state, fact.tenant_id, fact.event_id):
            self._reconcile(state, fact.tenant_id, fact.event_id, f"{fact.event_id}~revoked")

    def _register(self, state: _State, fact: Fact) -> bool:
        """Name the activity as its content; whether that content is already deleted.

        A message deleted before its creation arrived stays deleted. A reaction added
        again after its removal is new content that is not deleted.
        """
        assert fact.ref is not None
        key = (fact.tenant_id, fact.community_id, hashed_ref(fact.ref))
        found = state.content.get(key)
        if found is None:
            found = ContentState(*key, source_event_id=fact.event_id, deleted=False)
        elif fact.type is CommunityEventType.REACTION_ADDED:
            found = replace(found, source_event_id=fact.event_id, deleted=False)
        elif found.source_event_id is None:
            found = replace(found, source_event_id=fact.event_id)
        state.set_content(key, found)
        return found.deleted

    def _deletion(self, state: _State, fact: Fact) -> None:
        if fact.ref is None:
            return
        key = (fact.tenant_id, fact.community_id, hashed_ref(fact.ref))
        found = state.content.get(key) or ContentState(*key, source_event_id=None, deleted=True)
        state.set_content(key, replace(found, deleted=True))
        if found.source_event_id is not None:
            self._reconcile(state, fact.tenant_id, found.source_event_id, fact.event_id)

    def _decide(
        self, state: _State, ruleset: Ruleset, fact: Fact, candidate: scoring.Candidate
    ) -> None:
        lines = state.window[(fact.tenant_id, fact.community_id, candidate.member_id)]
        boost = multiplier_at(
            state.campaigns.get((fact.tenant_id, fact.community_id), []),
            fact.platform.value,
            fact.channel_id,
            fact.occurred_at,
        )
        candidate = replace(candidate, points=multiplied(candidate.points, boost))
        used = []
        for window in scoring.windows(ruleset, candidate, fact.occurred_at):
            already = sum(
                line["points"]
                for line in lines
                if window.start <= line["earned_at"] < window.end
                and (window.scope == "all" or line["rule_id"] == candidate.rule.id)
                and (window.scope != "pair" or line["giver_member_id"] == candidate.giver_id)
            )
            used.append((window, already))
        cooling_down = False
        if (around := scoring.cooldown_window(candidate.rule, fact.occurred_at)) is not None:
            start, end = around
            cooling_down = any(
                line["rule_id"] == candidate.rule.id
                and line["kind"] == "award"
                and line["points"] > 0
                and start < line["earned_at"] < end
                for line in lines
            )
        decision = scoring.decide(candidate, used, cooling_down)
        self._append(
            state,
            {
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
                "channel_id": fact.channel_id,
            },
        )

    def _reconcile(self, state: _State, tenant_id: str, source_event_id: str, cause: str) -> None:
        """Bring every award of an activity to what it should net: 0 while revoked, else all."""
        revoked = _revoked(state, tenant_id, source_event_id)
        lines = state.lines.get((tenant_id, source_event_id), [])
        channels = {
            (line["community_id"], line["member_id"], line["rule_id"], line["rule_version"]): line[
                "channel_id"
            ]
            for line in lines
            if line["kind"] == "award"
        }
        for award in _awards(lines):
            delta = scoring.compensation(award.points, award.net, revoked)
            if delta == 0:
                continue
            self._append(
                state,
                {
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
                    "earned_at": award.earned_at,
                    "channel_id": channels.get(
                        (award.community_id, award.member_id, award.rule_id, award.rule_version)
                    ),
                },
            )

    def _append(self, state: _State, line: dict[str, Any]) -> None:
        """Record a line unless its key is already in the ledger (then the first one stands)."""
        key = _key(line)
        if key in state.keys:
            return
        state.keys.add(key)
        state.pending.append(line)
        state.lines.setdefault((line["tenant_id"], line["source_event_id"]), []).append(line)
        member = (line["tenant_id"], line["community_id"], line["member_id"])
        if member in state.window:
            state.window[member].append(line)

    # --- 3. write in bulk -------------------------------------------------------

    async def _write(self, queued: list[Work], state: _State) -> None:
        await self.store.note_communities(
            {
                (w.fact.tenant_id, w.fact.community_id)
                for w in queued
                if not isinstance(w, Moderation)
            }
        )
        await self.store.save_content([state.content[key] for key in state.dirty_content])
        await self.store.save_moderated(
            {key: state.moderated[key] for key in state.dirty_moderated}
        )
        new = await self.store.append(state.pending)
        credited = [line for line in state.pending if line["points"] and _key(line) in new]
        if not credited:
            return
        deltas: dict[Member, int] = defaultdict(int)
        for line in credited:
            deltas[_member(line)] += line["points"]
        after = await self.store.add_to_totals(deltas)
        running = {member: after[member] - delta for member, delta in deltas.items()}
        moved = {
            member: levels.progress(after[member]).level
            for member in deltas
            if levels.progress(running[member]).level != levels.progress(after[member]).level
        }
        await self.store.set_levels(moved)
        await self._rank(state, credited)
        events: list[AwardEvent] = []
        for line in credited:
            member = _member(line)
            before = running[member]
            running[member] = before + line["points"]
            events += _award_events(line, before, running[member])
        await self.outbox.extend(
            [(GAMIFICATION_AWARDS.name, event.to_envelope(source=SOURCE)) for event in events]
        )

    async def _rank(self, state: _State, credited: list[dict[str, Any]]) -> None:
        """Move the leaderboards the credited lines count on (in the same transaction)."""
        missing = {(line["tenant_id"], line["community_id"]) for line in credited}
        missing -= state.rulesets.keys()
        if missing:
            state.rulesets.update(await self.store.rulesets_of(missing))
        lines = [
            Line(
                line["tenant_id"],
                line["community_id"],
                line["channel_id"],
                line["member_id"],
                int(line["points"]),
                line["earned_at"],
                ruleset_in_force(
                    state.rulesets[(line["tenant_id"], line["community_id"])], line["earned_at"]
                ).time_zone,
            )
            for line in credited
        ]
        await self.boards.apply(deltas(lines))


def _award_events(line: dict[str, Any], before: int, after: int) -> list[AwardEvent]:
    """The points event of a credited line, and a level change when the level moved."""
    key = f"{line['event_id']}:{line['source_event_id']}:{line['rule_id']}:{line['rule_version']}"
    at = line["earned_at"]
    common = {
        "tenant_id": line["tenant_id"],
        "community_id": line["community_id"],
        "member_id": line["member_id"],
        "source_event_id": line["source_event_id"],
        "rule_id": line["rule_id"],
    }
    points = int(line["points"])
    kind = AwardEventType.POINTS_AWARDED if points > 0 else AwardEventType.POINTS_REVOKED
    found = [AwardEvent(event_id=derived_event_id(key, at), type=kind, points=points, **common)]
    old, new = levels.progress(before).level, levels.progress(after).level
    if old != new:
        found.append(
            AwardEvent(
                event_id=derived_event_id(f"level:{key}", at),
                type=AwardEventType.LEVEL_CHANGED,
                points=after,
                level=new,
                **common,
            )
        )
    return found


def _ruleset_at(state: _State, fact: Fact) -> Ruleset:
    """The community's ruleset in force when the activity happened (the default until one)."""
    return ruleset_in_force(
        state.rulesets.get((fact.tenant_id, fact.community_id), []), fact.occurred_at
    )


def _revoked(state: _State, tenant_id: str, source_event_id: str) -> bool:
    """Whether the activity's content is deleted or removed by moderation."""
    if state.moderated.get((tenant_id, source_event_id)):
        return True
    return state.deleted_source(tenant_id, source_event_id)


def _awards(lines: list[dict[str, Any]]) -> list[Award]:
    """Every award among an activity's lines (points > 0), with what it nets now."""
    grouped: dict[tuple[str, str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        grouped[
            (line["community_id"], line["member_id"], line["rule_id"], line["rule_version"])
        ].append(line)
    found = []
    for (community_id, member_id, rule_id, version), group in grouped.items():
        awarded = sum(line["points"] for line in group if line["kind"] == "award")
        if awarded <= 0:
            continue
        givers = [line["giver_member_id"] for line in group if line["giver_member_id"]]
        found.append(
            Award(
                community_id,
                member_id,
                rule_id,
                version,
                awarded,
                sum(line["points"] for line in group),
                max(givers) if givers else None,
                min(line["earned_at"] for line in group),
            )
        )
    return found


def _key(line: dict[str, Any]) -> Key:
    return (line["event_id"], line["source_event_id"], line["rule_id"], line["rule_version"])


def _member(line: dict[str, Any]) -> Member:
    return (line["tenant_id"], line["community_id"], line["member_id"])


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
