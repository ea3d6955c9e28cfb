"""Accepting canonical events: identities resolved, duplicates dropped, then durably published.

An event counts as received only once Kafka acknowledged it (acks=all). Ids are derived
from (community, dedup key), so even a delivery published twice (a crash between the
publish and the bookkeeping) reaches consumers under one event id and is applied once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import repository
from services.ingest.domain import bounds
from services.ingest.tables import metadata
from shared.api.auth import Caller
from shared.bus.port import Bus, envelope_message
from shared.db.engine import Database
from shared.db.outbox import Outbox
from shared.db.tables import outbox_table
from shared.events.community import Actor, CommunityEvent
from shared.events.envelope import derived_event_id, utcnow
from shared.events.payloads import Identity, IdentityEvent, IdentityEventType
from shared.events.topics import COMMUNITY_EVENTS, MEMBERS_IDENTITY
from shared.observability.tracing import child_traceparent

UNKNOWN_ACTOR = "unknown"
PLATFORM_SCOPE = "events:platform"
"""Lets an integrator's events share a platform's dedup keys and members (see account_of)."""
OUTBOX = outbox_table(metadata)


@dataclass(frozen=True)
class Outcome:
    """What became of one event: accepted (published now), duplicate (seen before) or
    rejected (out of bounds, with the problems; nothing of it was recorded or published)."""

    status: str
    event_id: str | None
    errors: list[bounds.Problem] | None = None


class IdempotencyTaken(Exception):
    """Another request already answered (or is answering) under this Idempotency-Key."""


@dataclass(frozen=True)
class Idempotency:
    """An Idempotency-Key to claim in the same transaction as the events it covers.

    `answer` turns the outcomes into the (status code, body) stored for replays."""

    tenant_id: str
    key: str
    request_hash: str
    answer: Callable[[list[Outcome]], tuple[int, dict[str, Any]]]


async def accept(
    db: Database,
    bus: Bus,
    drafts: Sequence[CommunityEvent],
    *,
    traceparent: str | None = None,
    caller: Caller | None = None,
    idempotency: Idempotency | None = None,
) -> list[Outcome]:
    """Publish the drafts that are new; one Outcome per draft, in order.

    `caller` is the API key that sent them (None: a verified platform delivery); a key
    bound to some communities attaches only members it may see (repository.resolve_members).

    Every draft is checked against the bounds of what is recorded before anything is
    published. The dedup keys (and the Idempotency-Key) are claimed in one transaction
    that stays open until the broker acknowledged the events: a concurrent request with
    the same keys waits for it, then finds them taken and answers duplicate (or raises
    IdempotencyTaken); if the publish fails, the claims roll back with it.
    """
    now = utcnow()
    outcomes: list[Outcome | None] = [None] * len(drafts)
    candidates: list[tuple[int, CommunityEvent]] = []
    for index, draft in enumerate(drafts):
        problems = bounds.event_problems(draft, now=now)
        if problems:
            outcomes[index] = Outcome("rejected", None, problems)
        else:
            candidates.append((index, draft))
    events: list[CommunityEvent] = []
    if candidates:
        async with db.transaction() as session:
            events = await _with_members(session, [d for _, d in candidates], caller)
    async with db.transaction() as session:
        if idempotency is not None and not await repository.claim_idempotent(
            session,
            tenant_id=idempotency.tenant_id,
            key=idempotency.key,
            request_hash=idempotency.request_hash,
        ):
            raise IdempotencyTaken(idempotency.key)
        fresh: dict[tuple[str, str], tuple[CommunityEvent, dict[str, Any]]] = {}
        for event in events:
            key = (event.community_id, event.dedup_key)
            if key not in fresh:  # the first of a key in the request wins
                fresh[key] = (event, event.model_dump(mode="json"))  # serialized once
        claimed: set[tuple[str, str]] = set()
        for tenant_id in sorted({event.tenant_id for event, _ in fresh.values()}):
            rows = [_received_row(e, p, now) for e, p in fresh.values() if e.tenant_id == tenant_id]
            claimed |= await repository.claim_received(session, tenant_id, rows)
        known = await _known(session, [e for k, (e, _) in fresh.items() if k not in claimed])
        answered: set[tuple[str, str]] = set()
        for (index, _), event in zip(candidates, events, strict=True):
            key = (event.community_id, event.dedup_key)
            if key in claimed and key not in answered:
                outcomes[index] = Outcome("accepted", event.event_id)
            else:  # recorded before, or a later copy in this same request
                outcomes[index] = Outcome("duplicate", known.get(key, fresh[key][0].event_id))
            answered.add(key)
        published = [fresh[key] for key in fresh if key in claimed]
        if published:
            messages = [
                envelope_message(
                    COMMUNITY_EVENTS.name,
                    event.to_envelope(traceparent=child_traceparent(traceparent), data=payload),
                )
                for event, payload in published
            ]
            await bus.publish_many(messages)  # BusUnavailable propagates: the claims roll back
        done = [outcome for outcome in outcomes if outcome is not None]
        if idempotency is not None:
            status_code, response = idempotency.answer(done)
            await repository.answer_idempotent(
                session,
                tenant_id=idempotency.tenant_id,
                key=idempotency.key,
                status_code=status_code,
                response=response,
            )
    return done


async def _known(
    session: AsyncSession, events: Sequence[CommunityEvent]
) -> dict[tuple[str, str], str]:
    """Event ids recorded earlier for these events' (community, dedup key)."""
    by_tenant: dict[str, dict[str, list[str]]] = {}
    for event in events:
        by_community = by_tenant.setdefault(event.tenant_id, {})
        by_community.setdefault(event.community_id, []).append(event.dedup_key)
    known: dict[tuple[str, str], str] = {}
    for tenant_id, by_community in by_tenant.items():
        known.update(await repository.known_event_ids(session, tenant_id, by_community))
    return known


def speaks_for_platform(caller: Caller | None, platform: str) -> bool:
    """Whether events from this caller count as the platform's own: verified deliveries
    (no caller), events of the `api` platform, and keys holding events:platform."""
    return caller is None or platform == "api" or caller.has_scope(PLATFORM_SCOPE)


def account_of(caller: Caller | None, platform: str, user_id: str) -> tuple[str, str]:
    """The identity an actor is resolved as: the platform account itself, or, for an
    integrator that cannot speak for the platform, an integrator-asserted identity of
    platform `api` named `{platform}:{user id}`, so a forged event is never credited to
    the real platform member (an admin may merge the two once trusted)."""
    if speaks_for_platform(caller, platform):
        return platform, user_id
    return "api", f"{platform}:{user_id}"


async def _with_members(
    session: AsyncSession, drafts: Sequence[CommunityEvent], caller: Caller | None = None
) -> list[CommunityEvent]:
    """Give every actor its Hearth member id, creating members for new accounts."""
    by_tenant: dict[str, dict[tuple[str, str, str], repository.ActorSeen]] = {}
    for draft in drafts:
        for actor in (draft.actor, draft.object_actor):
            if actor is None or actor.platform_user_id == UNKNOWN_ACTOR:
                continue
            platform, user_id = account_of(caller, draft.platform.value, actor.platform_user_id)
            seen = repository.ActorSeen(
                platform,
                user_id,
                actor.username,
                actor.display_name,
                actor.is_bot,
                draft.community_id,
            )
            key = (seen.platform, seen.platform_user_id, draft.community_id)
            by_tenant.setdefault(draft.tenant_id, {})[key] = seen
    resolved: dict[tuple[str, str, str], str] = {}
    outbox = Outbox(session, OUTBOX)
    for tenant_id, actors in by_tenant.items():
        scope: repository.TenantScope = tenant_id
        if caller is not None and caller.tenant_id == tenant_id:
            scope = caller
        members, created = await repository.resolve_members(session, scope, actors.values())
        first_seen = {(a.platform, a.platform_user_id): a for a in actors.values()}
        for (platform, user_id), member_id in members.items():
            resolved[(tenant_id, platform, user_id)] = member_id
        created_set = set(created)
        await outbox.extend(
            [
                (
                    MEMBERS_IDENTITY.name,
                    member_created(tenant_id, member_id, first_seen[key]).to_envelope(
                        source="/hearth/ingest"
                    ),
                )
                for key, member_id in members.items()
                if member_id in created_set
            ]
        )
    return [_stamp(draft, resolved, caller) for draft in drafts]


def _stamp(
    draft: CommunityEvent, resolved: dict[tuple[str, str, str], str], caller: Caller | None
) -> CommunityEvent:
    def member(actor: Actor | None) -> Actor | None:
        if actor is None:
            return None
        account = account_of(caller, draft.platform.value, actor.platform_user_id)
        found = resolved.get((draft.tenant_id, *account))
        return actor.model_copy(update={"member_id": found}) if found else actor

    return draft.model_copy(
        update={
            "event_id": derived_event_id(
                f"{draft.community_id}:{draft.dedup_key}", draft.occurred_at
            ),
            "actor": member(draft.actor),
            "object_actor": member(draft.object_actor),
        }
    )


def member_created(tenant_id: str, member_id: str, seen: repository.ActorSeen) -> IdentityEvent:
    """The event announcing a member Hearth has just met."""
    return IdentityEvent(
        type=IdentityEventType.MEMBER_CREATED,
        tenant_id=tenant_id,
        member_id=member_id,
        identities=[
            Identity(
                platform=seen.platform,
                platform_user_id=seen.platform_user_id,
                username=seen.username,
                is_bot=seen.is_bot,
            )
        ],
    )


def _received_row(
    event: CommunityEvent, payload: dict[str, Any], now: datetime
) -> dict[str, object]:
    return {
        "event_id": event.event_id,
        "tenant_id": event.tenant_id,
        "community_id": event.community_id,
        "dedup_key": event.dedup_key,
        "type": event.type.value,
        "platform": event.platform.value,
        "member_id": event.actor.member_id,
        "occurred_at": event.occurred_at,
        "ingested_at": now,
        "payload": payload,
    }
