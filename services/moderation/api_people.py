"""HTTP routes for the people around moderation: sanctions and their results, appeals,
member reports, and the exports (labelled examples, the audit log)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import PlainTextResponse

from services.moderation.appeals import AppealOutcome, decide_appeal, file_appeal
from services.moderation.reporting import report
from services.moderation.schemas import (
    AppealDecisionIn,
    AppealDecisionOut,
    AppealIn,
    AppealOut,
    AuditEntryOut,
    ReportIn,
    ReportOut,
    SanctionRecordOut,
)
from services.moderation.uow import ModerationUoW, TransactionDep
from shared.api.auth import Principal, require_community, require_scopes
from shared.api.pagination import CursorDep, LimitDep, Page, cursor_int, encode_cursor
from shared.api.problems import PROBLEM_RESPONSES, NotFound

router = APIRouter(prefix="/v1/moderation", tags=["moderation"])

ReadDep = Annotated[Principal, Depends(require_scopes("moderation:read"))]
WriteDep = Annotated[Principal, Depends(require_scopes("moderation:write"))]
UoWDep = Annotated[ModerationUoW, TransactionDep]
ExportLimit = Annotated[int, Query(ge=1, le=10_000, description="lines, 1 to 10,000")]
NEXT_CURSOR = "Hearth-Next-Cursor"
"""The header an export answers its next page's cursor in (absent on the last page)."""
_JSONL: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}
}


def _sanction(row: dict[str, Any], appeal: dict[str, Any] | None) -> SanctionRecordOut:
    return SanctionRecordOut(
        **{k: v for k, v in row.items() if k in SanctionRecordOut.model_fields},
        member=row["author"],
        appeal=None if appeal is None else AppealOut.model_validate(appeal),
    )


@router.get(
    "/sanctions",
    summary="List sanctions",
    description="Warnings, mutes and bans the strikes ladder sent, oldest first, each with "
    "what the platform did with it (`result`, from ingest.action_results.v1) and its appeal. "
    "Filters: `community_id`, `member` (Hearth member id or `platform:user id`).",
    response_model=Page[SanctionRecordOut],
    responses=PROBLEM_RESPONSES,
)
async def list_sanctions(
    caller: ReadDep,
    uow: UoWDep,
    limit: LimitDep,
    cursor: CursorDep,
    community_id: Annotated[str | None, Query(max_length=64)] = None,
    member: Annotated[str | None, Query(max_length=320)] = None,
) -> Page[SanctionRecordOut]:
    if community_id is not None:
        require_community(caller, community_id)
    rows = await uow.sanctions.page(
        caller,
        community_id=community_id,
        author=member,
        after_id=cursor_int(cursor, "id"),
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [_sanction(row, await uow.appeals.of_sanction(caller, row["id"])) for row in rows]
    return Page[SanctionRecordOut](
        items=items, next_cursor=encode_cursor({"id": rows[-1]["id"]}) if more else None
    )


@router.get(
    "/sanctions/{sanction_id}",
    summary="Get a sanction",
    description="One sanction with the platform's result and its appeal; 404 when it is not "
    "the caller's.",
    response_model=SanctionRecordOut,
    responses=PROBLEM_RESPONSES,
)
async def get_sanction(sanction_id: int, caller: ReadDep, uow: UoWDep) -> SanctionRecordOut:
    row = await uow.sanctions.get(caller, sanction_id)
    if row is None:
        raise NotFound(f"No sanction {sanction_id}.")
    return _sanction(row, await uow.appeals.of_sanction(caller, sanction_id))


@router.post(
    "/sanctions/{sanction_id}/appeals",
    status_code=201,
    summary="Appeal a sanction",
    description="Files the one appeal a sanction may have (409 for a second), for a "
    "moderator to uphold or reverse.",
    response_model=AppealOut,
    responses=PROBLEM_RESPONSES,
)
async def appeal_sanction(
    sanction_id: int, body: AppealIn, caller: WriteDep, uow: UoWDep
) -> AppealOut:
    return AppealOut.model_validate(await file_appeal(uow, caller, sanction_id, body.statement))


@router.get(
    "/appeals",
    summary="List appeals",
    description="Appeals oldest first; filters `community_id` and `status` (open, upheld, "
    "reversed).",
    response_model=Page[AppealOut],
    responses=PROBLEM_RESPONSES,
)
async def list_appeals(
    caller: ReadDep,
    uow: UoWDep,
    limit: LimitDep,
    cursor: CursorDep,
    community_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(pattern="^(open|upheld|reversed)$")] = None,
) -> Page[AppealOut]:
    if community_id is not None:
        require_community(caller, community_id)
    rows = await uow.appeals.page(
        caller,
        community_id=community_id,
        status=status,
        after_id=cursor_int(cursor, "id"),
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[AppealOut](
        items=[AppealOut.model_validate(row) for row in rows],
        next_cursor=encode_cursor({"id": rows[-1]["id"]}) if more else None,
    )


@router.post(
    "/appeals/{appeal_id}/decide",
    summary="Decide an appeal",
    description="`uphold` changes nothing. `reverse` lifts the sanction on the platform (an "
    "`unmute` or `unban` on moderation.actions.v1; a warning has nothing to lift), withdraws "
    "the strike and restores the removed message (`moderation.decision.made` allow and "
    "`moderation.content.restored`, so its points come back). Audited; 409 once decided.",
    response_model=AppealDecisionOut,
    responses=PROBLEM_RESPONSES,
)
async def decide(
    appeal_id: int, body: AppealDecisionIn, caller: WriteDep, uow: UoWDep
) -> AppealDecisionOut:
    decided = await decide_appeal(uow, caller, appeal_id, AppealOutcome(body.outcome), body.note)
    return AppealDecisionOut(
        appeal=AppealOut.model_validate(decided.appeal), published=decided.published
    )


@router.post(
    "/reports",
    summary="Report a message",
    description="A member reports a message moderation has read. The first report queues it "
    "for review (flagged, still visible); when `reports.hide_at` distinct members (3 by "
    "default, set in the community's rules) have reported it, it is hidden pending review "
    "(`moderation.content.removed` and a `delete`). A member's second report of the same "
    "message counts once; a moderator's review stands. 404 for a message moderation has not "
    "read.",
    response_model=ReportOut,
    responses=PROBLEM_RESPONSES,
)
async def post_report(body: ReportIn, caller: WriteDep, uow: UoWDep) -> ReportOut:
    require_community(caller, body.community_id)
    done = await report(
        uow,
        caller,
        community_id=body.community_id,
        subject_event_id=body.subject_event_id,
        reporter=body.reporter,
        reason=body.reason,
    )
    return ReportOut(
        outcome=done.outcome.value,
        reporters=done.reporters,
        hide_at=done.hide_at,
        decision_id=done.decision_id,
        published=done.published,
    )


def _jsonl(lines: list[dict[str, Any]], next_id: int | None) -> Response:
    body = "".join(json.dumps(line, ensure_ascii=False, default=str) + "\n" for line in lines)
    headers = {} if next_id is None else {NEXT_CURSOR: encode_cursor({"id": next_id})}
    return PlainTextResponse(body, media_type="application/x-ndjson", headers=headers)


@router.get(
    "/exports/reviewed.jsonl",
    summary="Export reviewed decisions as labelled examples",
    description="One JSON object per line for each decided review item whose text the "
    "recent-message window still holds: `text`, `label` (the moderator's verdict), "
    "`auto_verdict`, `rule_id`, `reason`, `overturned`, `subject_event_id`, `community_id`, "
    "`decided_at`. By default only overturned decisions (the false positives); "
    "`overturned=false` exports every reviewed one. The next page's cursor comes in the "
    "`Hearth-Next-Cursor` header.",
    responses={**PROBLEM_RESPONSES, **_JSONL},
    response_class=PlainTextResponse,
)
async def export_reviewed(
    caller: ReadDep,
    uow: UoWDep,
    cursor: CursorDep,
    limit: ExportLimit = 1000,
    community_id: Annotated[str | None, Query(max_length=64)] = None,
    overturned: bool = True,
) -> Response:
    if community_id is not None:
        require_community(caller, community_id)
    rows = await uow.queue.reviewed(
        caller,
        community_id=community_id,
        overturned_only=overturned,
        after_id=cursor_int(cursor, "id"),
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    lines = [
        {
            "text": row["text"],
            "label": row["final_verdict"],
            "auto_verdict": row["auto_verdict"],
            "rule_id": row["rule_id"],
            "reason": row["reason"],
            "overturned": row["overturned"],
            "subject_event_id": row["subject_event_id"],
            "community_id": row["community_id"],
            "decided_at": row["decided_at"],
        }
        for row in rows
    ]
    return _jsonl(lines, rows[-1]["id"] if more else None)


@router.get(
    "/exports/audit.jsonl",
    summary="Export the audit log",
    description="The audit log as JSON lines (the fields of `GET /v1/moderation/audit`), "
    "oldest first, with the same filters. The next page's cursor comes in the "
    "`Hearth-Next-Cursor` header.",
    responses={**PROBLEM_RESPONSES, **_JSONL},
    response_class=PlainTextResponse,
)
async def export_audit(
    caller: ReadDep,
    uow: UoWDep,
    cursor: CursorDep,
    limit: ExportLimit = 1000,
    community_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Response:
    if community_id is not None:
        require_community(caller, community_id)
    rows = await uow.audit.page(
        caller,
        community_id=community_id,
        decision_id=None,
        after_id=cursor_int(cursor, "id"),
        limit=limit + 1,
        action=action,
        actor=actor,
        since=since,
        until=until,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    lines = [AuditEntryOut.model_validate(row).model_dump(mode="json") for row in rows]
    return _jsonl(lines, rows[-1]["id"] if more else None)
