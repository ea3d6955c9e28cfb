"""Routes of polls: surveys posted by integrators, and every poll's results."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from services.insights.domain.clustering import cluster_batch
from services.insights.domain.labels import label_clusters
from services.insights.domain.polls import Answer, tally
from services.insights.domain.text import fingerprint
from services.insights.embedding import encode_async
from services.insights.intents import load_model
from services.insights.uow import InsightsUoW, TransactionDep
from shared.api.auth import Caller, require_community, require_scopes
from shared.api.problems import PROBLEM_RESPONSES, NotFound, Problem

router = APIRouter(prefix="/v1/insights", tags=["insights"])

ReadDep = Annotated[Caller, Depends(require_scopes("insights:read"))]
WriteDep = Annotated[Caller, Depends(require_scopes("insights:write"))]
UoWDep = Annotated[InsightsUoW, TransactionDep]

MAX_SURVEY_ANSWERS = 5_000
NEW_MEMBER = timedelta(days=30)
"""A voter first seen less than this before answering counts as new."""


class RepeatedRespondent(Problem):
    """Two answers of one request name the same respondent."""

    status = 422


class SurveyAnswer(BaseModel):
    """One respondent's answer to a survey run outside the community's platforms."""

    model_config = ConfigDict(extra="forbid")

    respondent: str = Field(min_length=1, max_length=255, description="your id of the respondent")
    member_id: str | None = Field(
        default=None, max_length=64, description="the Hearth member, when known (core, tenure)"
    )
    options: list[str] = Field(
        default_factory=list, max_length=50, description="chosen options (labels or ids)"
    )
    text: str | None = Field(default=None, max_length=2_000, description="a free-text answer")
    answered_at: datetime | None = Field(default=None, description="default: now")


class SurveyIn(BaseModel):
    """A survey's answers; posting a respondent again replaces their earlier answer."""

    model_config = ConfigDict(extra="forbid")

    survey_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    answers: list[SurveyAnswer] = Field(min_length=1, max_length=MAX_SURVEY_ANSWERS)


class SurveyAccepted(BaseModel):
    """What was stored."""

    survey_id: str
    answers: int


class PollSummary(BaseModel):
    """A poll or survey of the community."""

    poll_id: str
    source: str = Field(description="the platform it ran on, or survey")
    answers: int = Field(description="voters with an answer recorded (latest each)")
    first_at: datetime
    last_at: datetime


class PollList(BaseModel):
    """The community's polls, latest answered first."""

    items: list[PollSummary]


class OptionOut(BaseModel):
    """Votes for one option, by who cast them."""

    option: str
    votes: int
    share: float = Field(description="votes / voters")
    core: int = Field(description="votes of core members")
    rest: int = Field(description="votes of everyone else")
    new: int = Field(description="votes of members first seen under 30 days before answering")
    long_standing: int


class TextCluster(BaseModel):
    """Free-text answers about one thing."""

    label: str
    keywords: list[str]
    answers: int
    examples: list[str] = Field(description="up to 3 answers")


class PollOut(BaseModel):
    """A poll's results."""

    poll_id: str
    source: str
    voters: int = Field(description="distinct voters (a changed vote counts once, as it stands)")
    core_voters: int | None = Field(description="null while the community's core is unknown")
    new_voters: int
    options: list[OptionOut] = Field(description="most votes first")
    text_answers: int
    text_clusters: list[TextCluster] = Field(
        description="free-text answers clustered, biggest first"
    )


@router.post(
    "/communities/{community_id}/surveys",
    response_model=SurveyAccepted,
    summary="Post a survey's answers",
    description=(
        "Answers of a survey run elsewhere (a form, an e-mail campaign), aggregated like the "
        "community's Telegram and Discord polls: one answer per respondent (a later "
        f"`answered_at` replaces an earlier one), up to {MAX_SURVEY_ANSWERS:,} per request. "
        "Name `member_id` where you know it so the results split core and new members. "
        "Needs `insights:write`."
    ),
    responses=PROBLEM_RESPONSES,
)
async def post_survey(
    community_id: str, body: SurveyIn, caller: WriteDep, uow: UoWDep
) -> SurveyAccepted:
    """Store a survey's answers."""
    require_community(caller, community_id)
    respondents = [a.respondent for a in body.answers]
    if len(set(respondents)) != len(respondents):
        raise RepeatedRespondent("Each respondent may appear once per request.")
    now = datetime.now(UTC)
    for answer in body.answers:
        await uow.activity.record_answer(
            tenant_id=caller.tenant_id,
            community_id=community_id,
            poll_id=body.survey_id,
            voter=answer.member_id or f"survey:{answer.respondent}",
            source="survey",
            options=list(dict.fromkeys(answer.options)),
            text=(answer.text or "").strip() or None,
            event_id=None,
            answered_at=_aware(answer.answered_at or now),
        )
    return SurveyAccepted(survey_id=body.survey_id, answers=len(body.answers))


@router.get(
    "/communities/{community_id}/polls",
    response_model=PollList,
    summary="A community's polls and surveys",
    description="Every poll answered in the community (`community.poll.answered` from "
    "Telegram and Discord) and every survey posted, latest answered first.",
    responses=PROBLEM_RESPONSES,
)
async def list_polls(community_id: str, caller: ReadDep, uow: UoWDep) -> PollList:
    """The community's polls."""
    require_community(caller, community_id)
    rows = await uow.activity.polls_of(caller.tenant_id, community_id)
    return PollList(
        items=[
            PollSummary(
                poll_id=r["poll_id"],
                source=r["source"],
                answers=r["answers"],
                first_at=_aware(r["first_at"]),
                last_at=_aware(r["last_at"]),
            )
            for r in rows
        ]
    )


@router.get(
    "/communities/{community_id}/polls/{poll_id}",
    response_model=PollOut,
    summary="A poll's results",
    description=(
        "Counts per option, distinct voters, the split between core members and the rest "
        "and between new members (first seen under 30 days before answering) and "
        "long-standing ones, and the free-text answers clustered by meaning like feedback. "
        "404 when the community has no such poll."
    ),
    responses=PROBLEM_RESPONSES,
)
async def get_poll(community_id: str, poll_id: str, caller: ReadDep, uow: UoWDep) -> PollOut:
    """One poll's results."""
    require_community(caller, community_id)
    rows = await uow.activity.answers_of(caller.tenant_id, community_id, poll_id)
    if not rows:
        raise NotFound("No such poll in this community.")
    return await poll_results(uow, caller.tenant_id, community_id, poll_id, rows)


async def poll_results(
    uow: InsightsUoW, tenant_id: str, community_id: str, poll_id: str, rows: list[Any]
) -> PollOut:
    """A poll's results from its stored answers."""
    answers = [
        Answer(
            voter=r["voter"],
            options=tuple(r["options"]),
            text=r["text"],
            answered_at=_aware(r["answered_at"]),
        )
        for r in rows
    ]
    core = await uow.feedback.core_of(tenant_id, community_id)
    seen = await uow.activity.first_seen(tenant_id, community_id, [a.voter for a in answers])
    result = tally(
        answers,
        core=core,
        first_seen={k: _aware(v) for k, v in seen.items()},
        new_within=NEW_MEMBER,
    )
    texts = [answers[i].text or "" for i in result.texts]
    return PollOut(
        poll_id=poll_id,
        source=rows[0]["source"],
        voters=result.voters,
        core_voters=result.core_voters,
        new_voters=result.new_voters,
        options=[
            OptionOut(
                option=o.option,
                votes=o.votes,
                share=o.votes / result.voters if result.voters else 0.0,
                core=o.core,
                rest=o.rest,
                new=o.new,
                long_standing=o.long_standing,
            )
            for o in result.options
        ],
        text_answers=len(texts),
        text_clusters=await cluster_texts(texts),
    )


async def cluster_texts(texts: list[str]) -> list[TextCluster]:
    """Free-text answers clustered and labelled as `analyze` does, biggest first."""
    if not texts:
        return []
    vectors = await encode_async(texts)
    ids = await asyncio.to_thread(
        cluster_batch, vectors, [fingerprint(t) for t in texts], prior_centre=load_model().centre
    )
    grouped: dict[str, list[int]] = {}
    for index, cluster_id in enumerate(ids):
        grouped.setdefault(cluster_id, []).append(index)
    labels = label_clusters({cid: [texts[i] for i in members] for cid, members in grouped.items()})
    ordered = sorted(grouped.items(), key=lambda item: (-len(item[1]), item[1][0]))
    return [
        TextCluster(
            label=labels[cid].label,
            keywords=labels[cid].keywords,
            answers=len(members),
            examples=[texts[i] for i in members[:3]],
        )
        for cid, members in ordered
    ]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
