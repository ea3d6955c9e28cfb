"""Polls and surveys aggregated, on the embedded database (SQLite, no broker).

Telegram poll answers arrive as `community.poll.answered` events and go through the
service's handlers; a survey is posted through the route's function. Results split core
members from the rest and new members from long-standing ones, count a changed vote once
and a retracted one not at all, and cluster free-text answers across languages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.insights.api_polls import SurveyAnswer, SurveyIn, poll_results, post_survey
from services.insights.handlers import HANDLERS, record_core_member
from services.insights.tables import metadata
from services.insights.uow import InsightsUoW
from shared.api.auth import Caller
from shared.db.engine import Database
from shared.db.outbox import Outbox
from shared.db.tables import outbox_table
from shared.events.community import Actor, CommunityEvent, CommunityEventType, Platform
from shared.events.payloads import CoreMemberChange

TENANT, COMMUNITY = "t1", "c1"
POLL_DAY = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'insights.db'}", schema="insights")
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def run(db: Database, handler: Any, payload: Any) -> Any:
    async with db.transaction() as session:
        return await handler(payload, InsightsUoW(session, Outbox(session, outbox_table(metadata))))


def event(kind: CommunityEventType, user: str, at: datetime, **fields: Any) -> CommunityEvent:
    return CommunityEvent(
        type=kind,
        occurred_at=at,
        tenant_id=TENANT,
        community_id=COMMUNITY,
        platform=Platform.TELEGRAM,
        actor=Actor(platform_user_id=user, member_id=f"m-{user}"),
        dedup_key=f"k-{user}-{at.isoformat()}-{kind}",
        **fields,
    )


def vote(user: str, options: list[int], at: datetime = POLL_DAY) -> CommunityEvent:
    attributes = {"poll_id": "p1", "option_ids": options}
    return event(CommunityEventType.POLL_ANSWERED, user, at, attributes=attributes)


async def results(db: Database, poll_id: str) -> Any:
    async with db.transaction() as session:
        uow = InsightsUoW(session, Outbox(session, outbox_table(metadata)))
        rows = await uow.activity.answers_of(TENANT, COMMUNITY, poll_id)
        return await poll_results(uow, TENANT, COMMUNITY, poll_id, rows)


async def test_poll_answers_split_by_core_and_tenure(db: Database) -> None:
    old = POLL_DAY - timedelta(days=200)
    for user in ("ann", "boris"):  # long-standing members
        await run(
            db,
            HANDLERS["community.member.joined"],
            event(CommunityEventType.MEMBER_JOINED, user, old),
        )
    await run(
        db,
        record_core_member,
        CoreMemberChange(
            tenant_id=TENANT, community_id=COMMUNITY, member_id="m-ann", core_member=True
        ),
    )
    handle = HANDLERS["community.poll.answered"]
    await run(db, handle, vote("ann", [0]))
    await run(db, handle, vote("boris", [1], POLL_DAY - timedelta(minutes=5)))
    await run(db, handle, vote("boris", [0], POLL_DAY))  # changed vote: counts once, as it stands
    await run(db, handle, vote("cyd", [1]))  # first seen at the poll: new
    await run(db, handle, vote("dan", [1]))
    await run(db, handle, vote("dan", [], POLL_DAY + timedelta(minutes=1)))  # retracted

    poll = await results(db, "p1")
    assert (poll.voters, poll.core_voters, poll.new_voters) == (3, 1, 1)
    by_option = {o.option: o for o in poll.options}
    assert (by_option["0"].votes, by_option["0"].core, by_option["0"].rest) == (2, 1, 1)
    assert (by_option["0"].new, by_option["0"].long_standing) == (0, 2)
    assert (by_option["1"].votes, by_option["1"].new) == (1, 1)
    assert [o.option for o in poll.options] == ["0", "1"]


async def test_a_survey_posted_from_outside_clusters_its_free_text(db: Database) -> None:
    caller = Caller.system(TENANT)
    texts = [
        "Please add a dark theme to the app",
        "Добавьте, пожалуйста, тёмную тему в приложение",
        "Could you add a dark theme to the app?",
        "More tournaments on weekends",
    ]
    survey = SurveyIn(
        survey_id="q4",
        answers=[
            SurveyAnswer(respondent=f"r{n}", options=["yes"] if n % 2 else ["no"], text=text)
            for n, text in enumerate(texts)
        ],
    )
    async with db.transaction() as session:
        uow = InsightsUoW(session, Outbox(session, outbox_table(metadata)))
        accepted = await post_survey(COMMUNITY, survey, caller, uow)
    assert accepted.answers == 4
    poll = await results(db, "q4")
    assert (poll.source, poll.voters, poll.core_voters) == ("survey", 4, None)
    assert {o.option: o.votes for o in poll.options} == {"no": 2, "yes": 2}
    assert poll.text_answers == 4
    biggest = poll.text_clusters[0]
    assert biggest.answers == 3, [c.examples for c in poll.text_clusters]
    assert "More tournaments on weekends" not in biggest.examples
