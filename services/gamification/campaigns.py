"""Campaigns in the service: their SQL, the entries and votes a consumer batch brings, and
the close that crowns winners and sends the announcement and winner roles through ingest.

Entries and votes are recorded in the consumer batch's transaction, after its scoring
(`CampaignRecorder.record`, called by the batch). One vote per member per entry is the
votes table's primary key, so a duplicate vote or a redelivered reaction changes nothing;
a reaction by the entry's author is never a vote. Closing a campaign computes the winners
with domain/campaigns.py and queues `announce` and `grant_role` actions on
moderation.actions.v1 in the same transaction (ids derived from the campaign, so a retry
publishes nothing new).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from services.gamification.domain.campaigns import (
    CampaignSpec,
    Entry,
    Post,
    Standing,
    announcement,
    counts_as_vote,
    is_entry,
    standings,
    winners,
)
from services.gamification.repository import hashed_ref
from services.gamification.tables import campaign_entries, campaign_votes, campaigns
from shared.api.auth import Caller
from shared.db.outbox import Outbox
from shared.events.community import CommunityEvent, CommunityEventType
from shared.events.envelope import derived_event_id
from shared.events.payloads import ActionKind, ModerationAction
from shared.events.topics import MODERATION_ACTIONS

SOURCE = "/hearth/gamification"


@dataclass(frozen=True)
class Cue:
    """What campaigns need of a community event beyond what scoring reads."""

    type: CommunityEventType
    tenant_id: str
    community_id: str
    event_id: str
    platform: str
    member_id: str | None
    platform_user_id: str
    receiver: str | None
    """whom a reaction targets (the author of the message)"""
    occurred_at: datetime
    post: Post
    message: str | None
    """hashed reference of the message this is (a message) or targets (a reaction)"""
    emoji: str | None


def cue_of(event: CommunityEvent, emoji: str | None) -> Cue:
    """The campaign view of an event: no text is kept, only its #tags are read."""
    channel = event.channel_id or ""
    if event.type in (CommunityEventType.MESSAGE_CREATED, CommunityEventType.MESSAGE_DELETED):
        message_id = event.attributes.get("message_id") or event.source_event_id
    else:
        message_id = event.attributes.get("message_id") or event.parent_id
    message = None
    if message_id is not None:
        message = hashed_ref(f"m:{event.platform.value}:{channel}:{message_id}")
    return Cue(
        type=event.type,
        tenant_id=event.tenant_id,
        community_id=event.community_id,
        event_id=event.event_id,
        platform=event.platform.value,
        member_id=event.actor.member_id,
        platform_user_id=event.actor.platform_user_id,
        receiver=event.object_actor.member_id if event.object_actor is not None else None,
        occurred_at=event.occurred_at.astimezone(UTC),
        post=Post(
            platform=event.platform.value,
            channel_id=event.channel_id,
            thread_id=event.thread_id,
            text=event.content.text if event.content is not None else None,
            occurred_at=event.occurred_at.astimezone(UTC),
        ),
        message=message,
        emoji=emoji,
    )


@dataclass(frozen=True)
class StoredCampaign:
    """A campaign as stored."""

    campaign_id: str
    community_id: str
    spec: CampaignSpec
    closed_at: datetime | None
    winners: list[dict[str, Any]] | None


def _insert(session: AsyncSession, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _stored(row: Any) -> StoredCampaign:
    return StoredCampaign(
        row.campaign_id,
        row.community_id,
        CampaignSpec.model_validate_json(row.spec),
        _utc(row.closed_at) if row.closed_at is not None else None,
        json.loads(row.winners) if row.winners is not None else None,
    )


class Campaigns:
    """Campaigns of the caller's communities (scoped reads and writes for routes)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _readable(self, caller: Caller) -> Any:
        query = select(campaigns).where(campaigns.c.tenant_id == caller.tenant_id)
        if caller.community_ids is not None:
            query = query.where(campaigns.c.community_id.in_(sorted(caller.community_ids)))
        return query

    async def create(self, caller: Caller, community_id: str, spec: CampaignSpec) -> str:
        """Store a new campaign; its id."""
        campaign_id = f"cmp_{str(ULID()).lower()}"
        await self.session.execute(
            campaigns.insert().values(
                tenant_id=caller.tenant_id,
                campaign_id=campaign_id,
                community_id=community_id,
                spec=spec.model_dump_json(),
                starts_at=spec.starts_at,
                ends_at=spec.ends_at,
                created_by=caller.key_id,
            )
        )
        return campaign_id

    async def of_community(self, caller: Caller, community_id: str) -> list[StoredCampaign]:
        """The community's campaigns, the latest start first."""
        query = (
            self._readable(caller)
            .where(campaigns.c.community_id == community_id)
            .order_by(campaigns.c.starts_at.desc(), campaigns.c.campaign_id)
        )
        return [_stored(row) for row in await self.session.execute(query)]

    async def get(
        self, caller: Caller, community_id: str, campaign_id: str, *, lock: bool = False
    ) -> StoredCampaign | None:
        query = self._readable(caller).where(
            campaigns.c.community_id == community_id, campaigns.c.campaign_id == campaign_id
        )
        if lock and self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _stored(row) if row is not None else None

    async def entries(self, tenant_id: str, campaign_id: str) -> list[Entry]:
        """The campaign's entries still standing, with their distinct voters (never the
        entry's author)."""
        entries, votes = campaign_entries.c, campaign_votes.c
        query = (
            select(
                entries.entry_id,
                entries.member_id,
                entries.posted_at,
                func.count(votes.voter_member_id).label("votes"),
                entries.jury_rank,
            )
            .outerjoin(
                campaign_votes,
                and_(
                    votes.tenant_id == entries.tenant_id,
                    votes.campaign_id == entries.campaign_id,
                    votes.message_ref == entries.message_ref,
                    votes.voter_member_id != entries.member_id,
                ),
            )
            .where(
                entries.tenant_id == tenant_id,
                entries.campaign_id == campaign_id,
                entries.withdrawn.is_(False),
            )
            .group_by(entries.entry_id, entries.member_id, entries.posted_at, entries.jury_rank)
        )
        return [
            Entry(row.entry_id, row.member_id, _utc(row.posted_at), int(row.votes), row.jury_rank)
            for row in await self.session.execute(query)
        ]

    async def pick(self, tenant_id: str, campaign_id: str, picks: Sequence[str]) -> set[str]:
        """Set the jury's order (first = best); the picked ids that are not entries."""
        await self.session.execute(
            update(campaign_entries)
            .where(
                campaign_entries.c.tenant_id == tenant_id,
                campaign_entries.c.campaign_id == campaign_id,
            )
            .values(jury_rank=None)
        )
        missing = set()
        for rank, entry_id in enumerate(picks, start=1):
            result: Any = await self.session.execute(
                update(campaign_entries)
                .where(
                    campaign_entries.c.tenant_id == tenant_id,
                    campaign_entries.c.campaign_id == campaign_id,
                    campaign_entries.c.entry_id == entry_id,
                )
                .values(jury_rank=rank)
            )
            if result.rowcount == 0:
                missing.add(entry_id)
        return missing

    async def close(
        self, tenant_id: str, campaign: StoredCampaign, outbox: Outbox, now: datetime
    ) -> list[Standing]:
        """Crown the winners, store them and queue the announcement and winner roles."""
        entries = await self.entries(tenant_id, campaign.campaign_id)
        crowned = winners(campaign.spec, entries)
        await self.session.execute(
            update(campaigns)
            .where(
                campaigns.c.tenant_id == tenant_id,
                campaigns.c.campaign_id == campaign.campaign_id,
            )
            .values(
                closed_at=now,
                winners=json.dumps([_standing_json(s) for s in crowned]),
            )
        )
        accounts = await self._accounts(tenant_id, campaign.campaign_id)
        actions = []
        spec, at = campaign.spec, campaign.spec.ends_at
        if spec.announce_channel is not None:
            actions.append(
                _action(
                    tenant_id,
                    campaign,
                    "announce",
                    at,
                    action=ActionKind.ANNOUNCE,
                    channel_id=spec.announce_channel,
                    text=announcement(spec, crowned),
                )
            )
        if spec.winner_role is not None:
            for standing in crowned:
                actions.append(
                    _action(
                        tenant_id,
                        campaign,
                        f"role:{standing.member_id}",
                        at,
                        action=ActionKind.GRANT_ROLE,
                        platform_user_id=accounts[standing.entry_id],
                        role_id=spec.winner_role,
                        reason=f"winner of {spec.name}"[:200],
                    )
                )
        await outbox.extend(
            [(MODERATION_ACTIONS.name, action.to_envelope(source=SOURCE)) for action in actions]
        )
        return crowned

    async def _accounts(self, tenant_id: str, campaign_id: str) -> dict[str, str]:
        query = select(campaign_entries.c.entry_id, campaign_entries.c.platform_user_id).where(
            campaign_entries.c.tenant_id == tenant_id,
            campaign_entries.c.campaign_id == campaign_id,
        )
        return {row.entry_id: row.platform_user_id for row in await self.session.execute(query)}


def _action(
    tenant_id: str, campaign: StoredCampaign, what: str, at: datetime, **fields: Any
) -> ModerationAction:
    seed = f"campaign:{tenant_id}:{campaign.campaign_id}:{what}"
    event_id = derived_event_id(seed, at)
    return ModerationAction(
        event_id=event_id,
        action_id=event_id,
        tenant_id=tenant_id,
        community_id=campaign.community_id,
        platform=campaign.spec.platform,
        **fields,
    )


def _standing_json(standing: Standing) -> dict[str, Any]:
    return {
        "place": standing.place,
        "member_id": standing.member_id,
        "entry_id": standing.entry_id,
        "score": standing.score,
    }


class CampaignRecorder:
    """Records the entries and votes of a consumer batch (a few statements per batch)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, cues: Sequence[Cue], moderated: Sequence[tuple[str, str, bool]]) -> None:
        """Entries, votes, withdrawals from the batch's events, in delivery order;
        `moderated` holds (tenant, judged event id, removed) of moderation's decisions."""
        if moderated:
            for tenant_id, source_event_id, removed in moderated:
                await self.session.execute(
                    update(campaign_entries)
                    .where(
                        campaign_entries.c.tenant_id == tenant_id,
                        campaign_entries.c.entry_id == source_event_id,
                    )
                    .values(withdrawn=removed)
                )
        if not cues:
            return
        running = await self.running(
            {(c.tenant_id, c.community_id) for c in cues},
            min(c.occurred_at for c in cues),
            max(c.occurred_at for c in cues),
        )
        if not running:
            return
        new_entries: list[dict[str, Any]] = []
        votes: list[dict[str, Any]] = []
        unvotes: list[tuple[str, str, str, str]] = []
        withdrawn: list[tuple[str, str]] = []
        for cue in cues:
            here = running.get((cue.tenant_id, cue.community_id), [])
            if cue.message is None:
                continue
            if cue.type is CommunityEventType.MESSAGE_CREATED and cue.member_id:
                new_entries += [
                    {
                        "tenant_id": cue.tenant_id,
                        "campaign_id": campaign_id,
                        "entry_id": cue.event_id,
                        "member_id": cue.member_id,
                        "platform_user_id": cue.platform_user_id,
                        "message_ref": cue.message,
                        "posted_at": cue.occurred_at,
                        "jury_rank": None,
                        "withdrawn": False,
                    }
                    for campaign_id, spec in here
                    if is_entry(spec, cue.post)
                ]
            elif cue.type is CommunityEventType.MESSAGE_DELETED:
                withdrawn.append((cue.tenant_id, cue.message))
            elif cue.type is CommunityEventType.REACTION_REMOVED and cue.member_id is not None:
                unvotes += [
                    (cue.tenant_id, campaign_id, cue.message, cue.member_id)
                    for campaign_id, _spec in here
                ]
            elif cue.type is CommunityEventType.REACTION_ADDED:
                votes += [
                    {
                        "tenant_id": cue.tenant_id,
                        "campaign_id": campaign_id,
                        "message_ref": cue.message,
                        "voter_member_id": cue.member_id,
                        "voted_at": cue.occurred_at,
                    }
                    for campaign_id, spec in here
                    if counts_as_vote(
                        spec,
                        voter=cue.member_id,
                        author=cue.receiver,
                        channel_id=cue.post.channel_id,
                        emoji=cue.emoji,
                        at=cue.occurred_at,
                    )
                ]
        await self._write(new_entries, votes, unvotes, withdrawn)

    async def running(
        self, communities: set[tuple[str, str]], first: datetime, last: datetime
    ) -> dict[tuple[str, str], list[tuple[str, CampaignSpec]]]:
        """Open campaigns of these (tenant, community)s whose time overlaps [first, last]."""
        if not communities:
            return {}
        keys = sorted(communities)
        query = select(campaigns).where(
            or_(
                *(and_(campaigns.c.tenant_id == t, campaigns.c.community_id == c) for t, c in keys)
            ),
            campaigns.c.closed_at.is_(None),
            campaigns.c.starts_at <= last,
            campaigns.c.ends_at > first,
        )
        found: dict[tuple[str, str], list[tuple[str, CampaignSpec]]] = {}
        for row in await self.session.execute(query):
            found.setdefault((row.tenant_id, row.community_id), []).append(
                (row.campaign_id, CampaignSpec.model_validate_json(row.spec))
            )
        return found

    async def _write(
        self,
        new_entries: list[dict[str, Any]],
        votes: list[dict[str, Any]],
        unvotes: list[tuple[str, str, str, str]],
        withdrawn: list[tuple[str, str]],
    ) -> None:
        if new_entries:
            statement = _insert(self.session, campaign_entries).on_conflict_do_nothing()
            await self.session.execute(statement, new_entries)
        if votes:
            statement = _insert(self.session, campaign_votes).on_conflict_do_nothing()
            await self.session.execute(statement, votes)
        for tenant_id, campaign_id, message, voter in unvotes:
            await self.session.execute(
                delete(campaign_votes).where(
                    campaign_votes.c.tenant_id == tenant_id,
                    campaign_votes.c.campaign_id == campaign_id,
                    campaign_votes.c.message_ref == message,
                    campaign_votes.c.voter_member_id == voter,
                )
            )
        for tenant_id, message in withdrawn:
            await self.session.execute(
                update(campaign_entries)
                .where(
                    campaign_entries.c.tenant_id == tenant_id,
                    campaign_entries.c.message_ref == message,
                )
                .values(withdrawn=True)
            )


def standings_of(spec: CampaignSpec, entries: list[Entry]) -> list[Standing]:
    """The current order of a campaign (re-exported for the routes)."""
    return standings(spec, entries)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
