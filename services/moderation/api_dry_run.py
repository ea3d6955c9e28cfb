"""The rules dry run: a draft ruleset tried on the community's recent messages."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.moderation.api import YAML_BODY, InvalidRules, ReadDep, UoWDep, invalid_rules
from services.moderation.context import context_of
from services.moderation.domain.detectors import Message
from services.moderation.domain.engine import Engine
from services.moderation.domain.rules import RulesError, parse_rules
from services.moderation.schemas import DryRunItemOut, DryRunOut, ReasonOut
from shared.api.auth import require_community
from shared.api.problems import PROBLEM_RESPONSES
from shared.events.payloads import Verdict

router = APIRouter(prefix="/v1/moderation", tags=["moderation"])

DRY_RUN_MESSAGES = 2000
"""Recent messages a dry run judges at most (the window may keep more)."""
DRY_RUN_ITEMS = 200
"""Messages a dry run lists at most."""


@router.post(
    "/communities/{community_id}/rules:dry-run",
    summary="Try rules on recent messages",
    description="Validates a draft ruleset (YAML, as for PUT, 422 by line and field) and "
    "answers what it would decide on the community's recent live messages (the window "
    "HEARTH_MODERATION_RECENT_MESSAGES keeps, newest first, at most 2,000) beside what was "
    "decided: counts per verdict, how many change, and the messages the draft would not "
    "allow or judges differently (at most 200). Nothing is stored, published or activated. "
    "Flood rules see no history here.",
    response_model=DryRunOut,
    responses=PROBLEM_RESPONSES,
    openapi_extra=YAML_BODY,
)
async def dry_run(
    community_id: str,
    request: Request,
    caller: ReadDep,
    uow: UoWDep,
    limit: Annotated[int, Query(ge=1, le=DRY_RUN_MESSAGES)] = DRY_RUN_MESSAGES,
) -> DryRunOut:
    require_community(caller, community_id)
    try:
        source = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRules("The rules must be UTF-8 text.") from None
    try:
        rules = parse_rules(source)
    except RulesError as error:
        raise invalid_rules(error) from None
    context = context_of(getattr(request.app.state, "moderation", None))
    engine = Engine(rules, version=-1, regex_timeout=context.engines.regex_timeout)
    rows = await uow.recent.latest(caller, community_id, limit)
    messages = [
        Message(
            text=row["text"],
            links=tuple(row["links"]),
            mentions=tuple(row["mentions"]),
            channel_id=row["channel_id"],
            author_ids=frozenset(row["author_ids"]),
            roles=frozenset(row["roles"]),
        )
        for row in rows
    ]
    evaluations = engine.evaluate_many(messages) if messages else []
    items: list[DryRunItemOut] = []
    changed = 0
    for row, evaluation in zip(rows, evaluations, strict=True):
        current = Verdict(row["verdict"])
        changed += evaluation.verdict != current
        if (evaluation.verdict != Verdict.ALLOW or evaluation.verdict != current) and len(
            items
        ) < DRY_RUN_ITEMS:
            items.append(
                DryRunItemOut(
                    subject_event_id=row["subject_event_id"],
                    channel_id=row["channel_id"],
                    occurred_at=row["occurred_at"],
                    text=row["text"],
                    current_verdict=current,
                    verdict=evaluation.verdict,
                    reasons=[
                        ReasonOut(
                            rule=h.rule_id,
                            action=h.action.value,
                            reason=h.reason,
                            category=h.category,
                        )
                        for h in evaluation.hits
                    ],
                )
            )
    return DryRunOut(
        community_id=community_id,
        messages=len(rows),
        verdicts=dict(Counter(e.verdict.value for e in evaluations)),
        current_verdicts=dict(Counter(row["verdict"] for row in rows)),
        changed=changed,
        items=items,
    )
