"""Appeals: one per sanction; a moderator upholds it (nothing changes) or reverses it (the
mute or ban is lifted on the platform, the strike is withdrawn and removed content's points
come back through `moderation.content.restored`).

Everything goes through the unit of work, so the outcome, the audit entry and the events
commit together with the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.moderation.metrics import APPEALS_TOTAL
from services.moderation.review import SOURCE
from services.moderation.uow import ModerationUoW
from shared.api.auth import Principal
from shared.api.problems import Conflict, NotFound
from shared.events.community import Platform
from shared.events.envelope import new_event_id, utcnow
from shared.events.payloads import (
    ActionKind,
    DecisionEventType,
    ModerationAction,
    ModerationDecision,
    Verdict,
)
from shared.events.topics import MODERATION_ACTIONS, MODERATION_DECISIONS

_LIFTED_BY = {"mute": ActionKind.UNMUTE, "ban": ActionKind.UNBAN}
"""What a reversal sends for each sanction; a warning has nothing to lift."""


class AppealOutcome(StrEnum):
    """A moderator's answer to an appeal."""

    UPHOLD = "uphold"
    REVERSE = "reverse"


_STATUS = {AppealOutcome.UPHOLD: "upheld", AppealOutcome.REVERSE: "reversed"}


@dataclass(frozen=True)
class AppealDecided:
    """What deciding an appeal did."""

    appeal: dict[str, Any]
    published: list[str]


async def file_appeal(
    uow: ModerationUoW, caller: Principal, sanction_id: int, statement: str | None
) -> dict[str, Any]:
    """Open the one appeal a sanction may have; 404 for an unknown sanction, 409 for a
    second appeal."""
    sanction = await uow.sanctions.get(caller, sanction_id)
    if sanction is None:
        raise NotFound(f"No sanction {sanction_id}.")
    appeal_id = await uow.appeals.add(
        tenant_id=caller.tenant_id,
        community_id=sanction["community_id"],
        sanction_id=sanction_id,
        statement=statement,
        created_by=caller.key_id,
        created_at=utcnow(),
    )
    if appeal_id is None:
        raise Conflict(f"Sanction {sanction_id} was appealed already; one appeal per sanction.")
    await uow.audit.append(
        tenant_id=caller.tenant_id,
        community_id=sanction["community_id"],
        actor=caller.key_id,
        action="appeal",
        subject_event_id=sanction["subject_event_id"],
        detail={"sanction_id": sanction_id, "appeal_id": appeal_id},
    )
    APPEALS_TOTAL.labels("filed").inc()
    appeal = await uow.appeals.get(caller, appeal_id)
    assert appeal is not None  # inserted in this transaction
    return appeal


async def decide_appeal(
    uow: ModerationUoW,
    caller: Principal,
    appeal_id: int,
    outcome: AppealOutcome,
    note: str | None,
) -> AppealDecided:
    """Uphold or reverse an open appeal; 404 for an unknown one, 409 once decided."""
    appeal = await uow.appeals.get(caller, appeal_id)
    if appeal is None:
        raise NotFound(f"No appeal {appeal_id}.")
    if appeal["status"] != "open":
        raise Conflict(f"Appeal {appeal_id} was decided already ({appeal['status']}).")
    sanction = await uow.sanctions.get(caller, appeal["sanction_id"])
    if sanction is None:  # pragma: no cover - sanctions are never deleted
        raise NotFound(f"No sanction {appeal['sanction_id']}.")
    published: list[str] = []
    lift: ModerationAction | None = None
    if outcome == AppealOutcome.REVERSE:
        lift = _lift(sanction)
        published = await _reverse(uow, caller, sanction, lift)
    if not await uow.appeals.decide(
        caller,
        appeal_id,
        status=_STATUS[outcome],
        note=note,
        action_id=None if lift is None else lift.action_id,
        at=utcnow(),
    ):
        raise Conflict(f"Appeal {appeal_id} was decided already.")
    await uow.audit.append(
        tenant_id=caller.tenant_id,
        community_id=appeal["community_id"],
        actor=caller.key_id,
        action="appeal_decided",
        subject_event_id=sanction["subject_event_id"],
        detail={
            "appeal_id": appeal_id,
            "sanction_id": sanction["id"],
            "outcome": _STATUS[outcome],
            "note": note,
            "action_id": None if lift is None else lift.action_id,
        },
    )
    APPEALS_TOTAL.labels(_STATUS[outcome]).inc()
    decided = await uow.appeals.get(caller, appeal_id)
    assert decided is not None
    return AppealDecided(decided, published)


def _lift(sanction: dict[str, Any]) -> ModerationAction | None:
    """The unmute or unban that undoes a mute or ban; None for a warning, or a sanction
    stored before Hearth kept where it applied."""
    kind = _LIFTED_BY.get(sanction["action"])
    if kind is None or sanction["platform"] is None:
        return None
    return ModerationAction(
        tenant_id=sanction["tenant_id"],
        community_id=sanction["community_id"],
        platform=Platform(sanction["platform"]),
        action=kind,
        channel_id=sanction["channel_id"],
        platform_user_id=sanction["platform_user_id"],
        reason="appeal: sanction reversed by a moderator",
    )


async def _reverse(
    uow: ModerationUoW,
    caller: Principal,
    sanction: dict[str, Any],
    lift: ModerationAction | None,
) -> list[str]:
    """Lift the sanction, withdraw its strike, give the removed content back."""
    published: list[str] = []
    if lift is not None:
        await uow.outbox.add(MODERATION_ACTIONS.name, lift.to_envelope(source=SOURCE))
        published.append(f"{MODERATION_ACTIONS.name}:{lift.action.value}")
    subject = sanction["subject_event_id"]
    await uow.strikes.withdraw(caller.tenant_id, subject)
    decision = await uow.decisions.of_event(caller, subject)
    if decision is None:
        return published
    allowed = ModerationDecision(
        type=DecisionEventType.DECISION_MADE,
        tenant_id=caller.tenant_id,
        community_id=sanction["community_id"],
        subject_event_id=subject,
        member_id=decision["member_id"],
        verdict=Verdict.ALLOW,
        reasons=["appeal: reversed by a moderator"],
    )
    restored = allowed.model_copy(
        update={"type": DecisionEventType.CONTENT_RESTORED, "event_id": new_event_id()}
    )
    for event in (allowed, restored):
        await uow.outbox.add(MODERATION_DECISIONS.name, event.to_envelope(source=SOURCE))
        published.append(event.type.value)
    return published
