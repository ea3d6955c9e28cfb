"""Member reports feed the review queue; enough distinct reporters hide the message
pending review (the community's `reports.hide_at`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.moderation.context import context_of
from services.moderation.domain.reports import ReportOutcome, outcome_of
from services.moderation.domain.sanctions import as_utc
from services.moderation.metrics import REPORTS_TOTAL
from services.moderation.review import SOURCE
from services.moderation.uow import ModerationUoW
from shared.api.auth import Principal
from shared.api.problems import NotFound
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

RULE_ID = "reports"
REASON = "reported by members"


@dataclass(frozen=True)
class Reported:
    """What one report did."""

    outcome: ReportOutcome
    reporters: int
    hide_at: int
    decision_id: int
    published: list[str]


async def report(
    uow: ModerationUoW,
    caller: Principal,
    *,
    community_id: str,
    subject_event_id: str,
    reporter: str,
    reason: str | None,
) -> Reported:
    """Count a member's report of a decided message and queue or hide it."""
    decision = await uow.decisions.of_event(caller, subject_event_id)
    if decision is None or decision["community_id"] != community_id or decision["backfilled"]:
        raise NotFound(
            f"No live message {subject_event_id} in community {community_id!r} "
            "(moderation has not read it, or it is imported history)."
        )
    stored = await uow.rulesets.active(caller, community_id)
    settings = context_of(uow.context).engines.of(caller.tenant_id, stored).ruleset.reports
    new = await uow.reports.add(
        tenant_id=caller.tenant_id,
        community_id=community_id,
        subject_event_id=subject_event_id,
        reporter=reporter,
        reason=reason,
        created_by=caller.key_id,
        created_at=utcnow(),
    )
    reporters = await uow.reports.reporters(caller.tenant_id, subject_event_id)
    item = await uow.queue.get(caller, decision["id"])
    verdict = Verdict(item["auto_verdict"] if item else decision["verdict"])
    outcome = outcome_of(
        new=new,
        reporters=reporters,
        verdict=verdict,
        queued=item is not None,
        reviewed=item is not None and item["status"] == "decided",
        settings=settings,
    )
    published: list[str] = []
    if outcome == ReportOutcome.QUEUED:
        await _queue(uow, decision, Verdict.FLAG)
    elif outcome == ReportOutcome.HIDDEN:
        if item is None:
            await _queue(uow, decision, Verdict.HIDE)
        else:
            await uow.queue.escalate(
                caller.tenant_id,
                decision["id"],
                auto_verdict=Verdict.HIDE.value,
                rule_id=RULE_ID,
                reason=REASON,
            )
        published = await _hide(uow, decision, reporters)
    if new:
        await uow.audit.append(
            tenant_id=caller.tenant_id,
            community_id=community_id,
            actor=caller.key_id,
            action="report",
            decision_id=decision["id"],
            subject_event_id=subject_event_id,
            detail={"reporter": reporter, "reporters": reporters, "outcome": outcome.value},
        )
    REPORTS_TOTAL.labels(outcome.value).inc()
    return Reported(outcome, reporters, settings.hide_at, decision["id"], published)


async def _queue(uow: ModerationUoW, decision: dict[str, Any], verdict: Verdict) -> None:
    await uow.queue.add(
        tenant_id=decision["tenant_id"],
        community_id=decision["community_id"],
        decision_id=decision["id"],
        subject_event_id=decision["subject_event_id"],
        auto_verdict=verdict.value,
        rule_id=RULE_ID,
        reason=REASON,
        reasons=[f"{RULE_ID}: {REASON}"],
        author=decision["author"],
        member_id=decision["member_id"],
        platform=decision["platform"] or Platform.API.value,
        channel_id=decision["channel_id"],
        message_id=decision["message_id"],
        platform_user_id=decision["platform_user_id"],
        occurred_at=as_utc(decision["occurred_at"]),
        created_at=utcnow(),
    )


async def _hide(uow: ModerationUoW, decision: dict[str, Any], reporters: int) -> list[str]:
    """Take the message down pending review, as an automatic hide would."""
    hidden = ModerationDecision(
        type=DecisionEventType.DECISION_MADE,
        tenant_id=decision["tenant_id"],
        community_id=decision["community_id"],
        subject_event_id=decision["subject_event_id"],
        member_id=decision["member_id"],
        verdict=Verdict.HIDE,
        reasons=[f"{RULE_ID}: {REASON} ({reporters})"],
    )
    removed = hidden.model_copy(
        update={"type": DecisionEventType.CONTENT_REMOVED, "event_id": new_event_id()}
    )
    published = []
    for event in (hidden, removed):
        await uow.outbox.add(MODERATION_DECISIONS.name, event.to_envelope(source=SOURCE))
        published.append(event.type.value)
    if decision["platform"] is not None and decision["message_id"] is not None:
        delete = ModerationAction(
            tenant_id=decision["tenant_id"],
            community_id=decision["community_id"],
            platform=Platform(decision["platform"]),
            action=ActionKind.DELETE,
            channel_id=decision["channel_id"],
            message_id=decision["message_id"],
            platform_user_id=decision["platform_user_id"],
            reason=REASON,
        )
        await uow.outbox.add(MODERATION_ACTIONS.name, delete.to_envelope(source=SOURCE))
        published.append(f"{MODERATION_ACTIONS.name}:delete")
    return published
