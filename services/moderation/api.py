"""HTTP routes of the moderation service, under /v1/moderation/."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.moderation.context import context_of
from services.moderation.domain.detectors import Message
from services.moderation.domain.rules import DEFAULT_RULES_YAML, RulesError, parse_rules
from services.moderation.schemas import EvaluateIn, EvaluateOut, ReasonOut, RulesOut
from services.moderation.uow import ModerationUoW, TransactionDep
from shared.api.auth import Principal, require_community, require_scopes
from shared.api.problems import PROBLEM_RESPONSES, Problem

router = APIRouter(prefix="/v1/moderation", tags=["moderation"])

ReadDep = Annotated[Principal, Depends(require_scopes("moderation:read"))]
WriteDep = Annotated[Principal, Depends(require_scopes("moderation:write"))]
UoWDep = Annotated[ModerationUoW, TransactionDep]

_YAML_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/yaml": {"schema": {"type": "string"}}},
    }
}


class InvalidRules(Problem):
    """An uploaded ruleset does not validate; `errors` name the line and field."""

    status = 422
    title = "Invalid rules"


def _invalid(error: RulesError) -> InvalidRules:
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
    openapi_extra=_YAML_BODY,
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
        raise _invalid(error) from None
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
