"""HTTP routes of the moderation service, under /v1/moderation/."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from services.moderation.context import context_of
from services.moderation.domain.detectors import Message
from services.moderation.domain.rules import DEFAULT_RULES_YAML, RulesError, parse_rules
from services.moderation.perspective import router as perspective_router
from services.moderation.review import apply_review, category_of
from services.moderation.schemas import (
    AuditEntryOut,
    DecideIn,
    DecideOut,
    EvaluateIn,
    EvaluateOut,
    QueueItemOut,
    ReasonOut,
    RulesOut,
    SanctionOut,
)
from services.moderation.uow import ModerationUoW, TransactionDep
from shared.api.auth import Principal, require_community, require_scopes
from shared.api.pagination import CursorDep, LimitDep, Page, cursor_int, encode_cursor
from shared.api.problems import PROBLEM_RESPONSES, Conflict, NotFound, Problem
from shared.events.envelope import utcnow
from shared.events.payloads import Verdict

router = APIRouter(prefix="/v1/moderation", tags=["moderation"])

ReadDep = Annotated[Principal, Depends(require_scopes("moderation:read"))]
WriteDep = Annotated[Principal, Depends(require_scopes("moderation:write"))]
UoWDep = Annotated[ModerationUoW, TransactionDep]

YAML_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/yaml": {"schema": {"type": "string"}}},
    }
}


class InvalidRules(Problem):
    """An uploaded ruleset does not validate; `errors` name the line and field."""

    status = 422
    title = "Invalid rules"


def invalid_rules(error: RulesError) -> InvalidRules:
    return InvalidRules(
        f"{len(error.errors)} problem(s) in the rules; the first: {error}",
        errors=[
            {"loc": e.field, "line": e.line, "msg": e.message, "type": "invalid_rules"}
            for e in error.errors
        ],
    )


@router.put(
    "/communities/{community_id}/rules",
    summary="Set a community's rules",
    description="Upload the community's rules as YAML (docs/moderation.md has the format). "
    "The rules are validated first: a 422 problem lists every error with its line and "
    "field. A valid upload becomes the next version (1, 2, ...) and applies to every "
    "message moderation reads from then on.",
    response_model=RulesOut,
    responses=PROBLEM_RESPONSES,
    openapi_extra=YAML_BODY,
)
async def put_rules(community_id: str, request: Request, caller: WriteDep, uow: UoWDep) -> RulesOut:
    require_community(caller, community_id)
    try:
        source = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRules("The rules must be UTF-8 text.") from None
    try:
        rules = parse_rules(source)
    except RulesError as error:
        raise invalid_rules(error) from None
    version = await uow.rulesets.add(caller, community_id, source)
    return RulesOut(
        community_id=community_id,
        version=version,
        default=False,
        source=source,
        rules=rules.model_dump(mode="json"),
    )


@router.get(
    "/communities/{community_id}/rules",
    summary="Get a community's active rules",
    description="The newest version the community uploaded, or Hearth's default rules "
    "(version 0, `default: true`) while it has none.",
    response_model=RulesOut,
    responses=PROBLEM_RESPONSES,
)
async def get_rules(community_id: str, caller: ReadDep, uow: UoWDep) -> RulesOut:
    require_community(caller, community_id)
    stored = await uow.rulesets.active(caller, community_id)
    if stored is None:
        return RulesOut(
            community_id=community_id,
            version=0,
            default=True,
            source=DEFAULT_RULES_YAML,
            rules=parse_rules(DEFAULT_RULES_YAML).model_dump(mode="json"),
        )
    return RulesOut(
        community_id=community_id,
        version=stored.version,
        default=False,
        created_at=stored.created_at,
        source=stored.source,
        rules=parse_rules(stored.source).model_dump(mode="json"),
    )


@router.post(
    "/evaluate",
    summary="Judge a text without storing it",
    description="Runs the community's active rules and the offline English/Russian "
    "classifiers with the community's thresholds (Hearth's default without "
    "`community_id`) on the text and answers the verdict, scores in 0-1 per attribute "
    "(toxicity, insult, threat, profanity, sexual, spam) and rule category, the rules and "
    "attributes that matched and the detected language. Nothing is stored or published. "
    "Flood rules need a member's history and never match here.",
    response_model=EvaluateOut,
    responses=PROBLEM_RESPONSES,
)
async def evaluate(body: EvaluateIn, request: Request, caller: ReadDep, uow: UoWDep) -> EvaluateOut:
    context = context_of(getattr(request.app.state, "moderation", None))
    stored = None
    if body.community_id is not None:
        require_community(caller, body.community_id)
        stored = await uow.rulesets.active(caller, body.community_id)
    engine = context.engines.of(caller.tenant_id, stored)
    author = body.author
    ids = (
        {v for v in (author.member_id, author.platform_user_id, author.username) if v}
        if (author)
        else set()
    )
    message = Message(
        text=body.text,
        links=tuple(body.links),
        mentions=tuple(body.mentions),
        channel_id=author.channel_id if author else None,
        author_ids=frozenset(ids),
        roles=frozenset(author.roles) if author else frozenset(),
    )
    evaluation = engine.evaluate(message)
    return EvaluateOut(
        verdict=evaluation.verdict,
        scores=evaluation.scores,
        reasons=[
            ReasonOut(rule=h.rule_id, action=h.action.value, reason=h.reason, category=h.category)
            for h in evaluation.hits
        ],
        language=evaluation.language,
        rules_version=engine.version,
        model_version=evaluation.model_version,
        timed_out=evaluation.timed_out,
    )


def _item(row: dict[str, Any]) -> QueueItemOut:
    return QueueItemOut(
        decision_id=row["decision_id"],
        community_id=row["community_id"],
        subject_event_id=row["subject_event_id"],
        auto_verdict=row["auto_verdict"],
        rule_id=row["rule_id"],
        reason=row["reason"],
        reasons=row["reasons"],
        member_id=row["member_id"],
        platform=row["platform"],
        channel_id=row["channel_id"],
        message_id=row["message_id"],
        platform_user_id=row["platform_user_id"],
        occurred_at=row["occurred_at"],
        queued_at=row["created_at"],
        status=row["status"],
        claimed_by=row["claimed_by"],
        claimed_at=row["claimed_at"],
        verdict=row["final_verdict"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        note=row["note"],
        overturned=row["overturned"],
    )


@router.get(
    "/queue",
    summary="List the review queue",
    description="Decisions the rules flagged or hid, waiting for a moderator (`status=pending`: "
    "open or claimed) or decided (`status=decided`), oldest first, in the caller's tenant "
    "and the communities its key covers. Filters: `community_id`, `reason` (the deciding "
    "rule's id or reason), `older_than` / `newer_than` (seconds since it was queued). "
    "Cursor pagination: pass `next_cursor` back as `cursor`.",
    response_model=Page[QueueItemOut],
    responses=PROBLEM_RESPONSES,
)
async def get_queue(
    caller: ReadDep,
    uow: UoWDep,
    limit: LimitDep,
    cursor: CursorDep,
    community_id: Annotated[str | None, Query(max_length=64)] = None,
    reason: Annotated[str | None, Query(max_length=200)] = None,
    older_than: Annotated[
        int | None, Query(ge=0, description="queued at least this many seconds ago")
    ] = None,
    newer_than: Annotated[
        int | None, Query(ge=0, description="queued at most this many seconds ago")
    ] = None,
    status: Annotated[str, Query(pattern="^(pending|decided)$")] = "pending",
) -> Page[QueueItemOut]:
    if community_id is not None:
        require_community(caller, community_id)
    now = utcnow()
    rows = await uow.queue.page(
        caller,
        pending=status == "pending",
        community_id=community_id,
        reason=reason,
        queued_before=None if older_than is None else now - timedelta(seconds=older_than),
        queued_after=None if newer_than is None else now - timedelta(seconds=newer_than),
        after_id=cursor_int(cursor, "id"),
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[QueueItemOut](
        items=[_item(row) for row in rows],
        next_cursor=encode_cursor({"id": rows[-1]["id"]}) if more else None,
    )


async def _queued(uow: ModerationUoW, caller: Principal, decision_id: int) -> dict[str, Any]:
    item = await uow.queue.get(caller, decision_id)
    if item is None:
        raise NotFound(f"No queued decision {decision_id}.")
    return item


def _held(item: dict[str, Any]) -> Conflict:
    if item["status"] == "decided":
        return Conflict(f"Decision {item['decision_id']} was reviewed already.")
    return Conflict(f"Decision {item['decision_id']} is claimed by another moderator.")


@router.post(
    "/queue/{decision_id}/claim",
    summary="Claim a queued decision",
    description="Marks the item as being reviewed by the caller's API key, so other "
    "moderators leave it; claiming one's own claim again is fine. 409 when another key "
    "holds it or it is decided.",
    response_model=QueueItemOut,
    responses=PROBLEM_RESPONSES,
)
async def claim(decision_id: int, caller: WriteDep, uow: UoWDep) -> QueueItemOut:
    item = await _queued(uow, caller, decision_id)
    if not await uow.queue.claim(caller, decision_id, utcnow()):
        raise _held(item)
    await uow.audit.append(
        tenant_id=caller.tenant_id,
        community_id=item["community_id"],
        actor=caller.key_id,
        action="claim",
        decision_id=decision_id,
        subject_event_id=item["subject_event_id"],
        detail={},
    )
    return _item(await _queued(uow, caller, decision_id))


@router.post(
    "/queue/{decision_id}/decide",
    summary="Decide a queued decision",
    description="The moderator's verdict overrides the automatic one. `allow` keeps the "
    "content (and restores hidden content: `moderation.content.restored`, so points come "
    "back); `remove` takes flagged content down (`moderation.content.removed` and a "
    "`delete` action) and gives its author a strike, which may earn a sanction on the "
    "community's ladder (a `warn`, `mute` or `ban` action). An allowed flag or hide counts "
    "as overturned. Recorded in the audit log with the note; 409 when decided already or "
    "claimed by another key.",
    response_model=DecideOut,
    responses=PROBLEM_RESPONSES,
)
async def decide(decision_id: int, body: DecideIn, caller: WriteDep, uow: UoWDep) -> DecideOut:
    item = await _queued(uow, caller, decision_id)
    verdict = Verdict(body.verdict)
    overturned = verdict == Verdict.ALLOW
    if not await uow.queue.decide(
        caller,
        decision_id,
        verdict=verdict.value,
        note=body.note,
        overturned=overturned,
        at=utcnow(),
    ):
        raise _held(item)
    context = context_of(uow.context)
    stored = await uow.rulesets.active(caller, item["community_id"])
    ruleset = context.engines.of(caller.tenant_id, stored).ruleset
    reviewed = await apply_review(
        uow,
        item,
        verdict,
        ruleset.sanctions,
        moderator=caller.key_id,
        category=category_of(ruleset, item["rule_id"]),
    )
    await uow.audit.append(
        tenant_id=caller.tenant_id,
        community_id=item["community_id"],
        actor=caller.key_id,
        action="decide",
        decision_id=decision_id,
        subject_event_id=item["subject_event_id"],
        detail={
            "auto_verdict": item["auto_verdict"],
            "verdict": verdict.value,
            "overturned": reviewed.overturned,
            "note": body.note,
        },
    )
    sanctioned = reviewed.sanctioned
    return DecideOut(
        item=_item(await _queued(uow, caller, decision_id)),
        published=reviewed.published,
        sanction=None
        if sanctioned is None
        else SanctionOut(
            action=sanctioned.step.action.value,
            duration_seconds=sanctioned.step.duration_seconds,
            strikes=sanctioned.strikes,
            action_id=sanctioned.action_id,
        ),
    )


@router.get(
    "/audit",
    summary="Read the audit log",
    description="Every claim, moderator decision (with its note), strike and sanction, "
    "oldest first, in the caller's tenant and the communities its key covers. Filters: "
    "`community_id`, `decision_id`. Cursor pagination: pass `next_cursor` back as `cursor`.",
    response_model=Page[AuditEntryOut],
    responses=PROBLEM_RESPONSES,
)
async def get_audit(
    caller: ReadDep,
    uow: UoWDep,
    limit: LimitDep,
    cursor: CursorDep,
    community_id: Annotated[str | None, Query(max_length=64)] = None,
    decision_id: int | None = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditEntryOut]:
    if community_id is not None:
        require_community(caller, community_id)
    rows = await uow.audit.page(
        caller,
        community_id=community_id,
        decision_id=decision_id,
        after_id=cursor_int(cursor, "id"),
        limit=limit + 1,
        action=action,
        actor=actor,
        since=since,
        until=until,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[AuditEntryOut](
        items=[AuditEntryOut.model_validate(row) for row in rows],
        next_cursor=encode_cursor({"id": rows[-1]["id"]}) if more else None,
    )


# Perspective API's comments:analyze, under /v1/moderation/perspective/v1alpha1.
router.include_router(perspective_router)
