"""The retrospective on the embedded database: events through the handlers, figures out.

Two months of a small community: who was active when, a question and its first reply, a
member whose activity dropped, a moderation removal, a core change, a poll and feedback.
The November retrospective is checked figure by figure, then rendered in both locales.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.insights.api_retrospective import BadPeriod, period
from services.insights.context import InsightsContext
from services.insights.handlers import HANDLERS, record_core_member
from services.insights.retrospective import build, publish_month
from services.insights.retrospective_render import html_report, markdown
from services.insights.settings import Settings
from services.insights.tables import metadata
from services.insights.uow import InsightsUoW
from shared.db.engine import Database
from shared.db.outbox import Outbox
from shared.db.tables import outbox_table
from shared.events.community import Actor, CommunityEvent, CommunityEventType, Content, Platform
from shared.events.payloads import CoreMemberChange, DecisionEventType, ModerationDecision, Verdict

TENANT, COMMUNITY = "t1", "c1"
OCT, NOV = datetime(2026, 10, 1, 12, tzinfo=UTC), datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'insights.db'}", schema="insights")
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def run(db: Database, handler: Any, payload: Any) -> None:
    async with db.transaction() as session:
        await handler(payload, InsightsUoW(session, Outbox(session, outbox_table(metadata))))


counter = iter(range(1_000_000))


async def say(
    db: Database,
    user: str,
    at: datetime,
    text: str = "hi",
    kind: CommunityEventType = CommunityEventType.MESSAGE_CREATED,
    **fields: Any,
) -> CommunityEvent:
    n = next(counter)
    event = CommunityEvent(
        type=kind,
        occurred_at=at,
        tenant_id=TENANT,
        community_id=COMMUNITY,
        platform=Platform.DISCORD,
        channel_id="general",
        source_event_id=f"s{n}",
        actor=Actor(platform_user_id=user, member_id=f"m-{user}"),
        content=Content(text=text) if kind is not CommunityEventType.REACTION_ADDED else None,
        dedup_key=f"k{n}",
        **fields,
    )
    await run(db, HANDLERS[kind.value], event)
    return event


async def test_a_month_in_figures_and_in_both_locales(db: Database) -> None:
    # October: ann and boris are regulars; cyd is busy, then goes quiet in November.
    for day in range(0, 31, 3):
        await say(db, "ann", OCT + timedelta(days=day))
        await say(db, "boris", OCT + timedelta(days=day), kind=CommunityEventType.REACTION_ADDED)
    for day in range(8, 31):
        await say(db, "cyd", OCT + timedelta(days=day))
    # November: ann stays, boris is gone (churned), dan and eve are new.
    for day in range(0, 30, 2):
        await say(db, "ann", NOV + timedelta(days=day))
    await say(db, "cyd", NOV + timedelta(days=1))
    for user in ("dan", "eve"):
        await say(db, user, NOV + timedelta(days=10))
    question = await say(db, "dan", NOV + timedelta(days=12), "How do I link my Steam account?")
    await say(
        db,
        "ann",
        NOV + timedelta(days=12, hours=2),
        "Settings, then Accounts",
        parent_id=question.source_event_id,
    )
    await say(db, "eve", NOV + timedelta(days=13), "The app crashes every time I upload a photo")
    await say(db, "dan", NOV + timedelta(days=14), "Приложение вылетает, когда я загружаю фото")
    poll = {"poll_id": "p1", "option_ids": [1]}
    await say(
        db, "ann", NOV + timedelta(days=15), kind=CommunityEventType.POLL_ANSWERED, attributes=poll
    )
    await run(
        db,
        HANDLERS["moderation.content.removed"],
        ModerationDecision(
            type=DecisionEventType.CONTENT_REMOVED,
            tenant_id=TENANT,
            community_id=COMMUNITY,
            subject_event_id="gone",
            verdict=Verdict.REMOVE,
            occurred_at=NOV + timedelta(days=3),
        ),
    )
    await run(
        db,
        record_core_member,
        CoreMemberChange(
            tenant_id=TENANT,
            community_id=COMMUNITY,
            member_id="m-ann",
            core_member=True,
            occurred_at=NOV + timedelta(days=20),
        ),
    )

    start, end = period("2026-11", None, None)
    async with db.transaction() as session:
        report = await build(
            InsightsUoW(session, Outbox(session, outbox_table(metadata))),
            TENANT,
            COMMUNITY,
            start,
            end,
        )
    a = report["activity"]
    assert (a["mau"], a["new"], a["returning"], a["churned"]) == (4, 2, 2, 1)
    assert a["wau"] == 1  # only ann in the last 7 days of November
    assert a["dau"] == pytest.approx(sum(n for _, n in a["daily_active"]) / 30, abs=1e-3)
    assert a["stickiness"] == pytest.approx(a["dau"] / 4, abs=1e-4)
    assert a["questions"] == {"asked": 1, "answered": 1, "median_first_response_seconds": 7200.0}
    assert a["top_contributors"][0]["member"] == "m-ann"
    assert [c["member"] for c in a["churn_risk"]] == ["m-cyd", "m-boris"]  # ann kept up
    november_cohort = [c for c in a["cohorts"] if c["week"] == "2026-11-09"]
    assert november_cohort and november_cohort[0]["members"] == 2  # dan and eve
    assert november_cohort[0]["retention"][0] == 1.0
    assert report["core"] == {"joined": ["m-ann"], "left": []}
    assert report["moderation"] == {"removed": 1}
    assert [(p["poll_id"], p["voters"], p["leading"]) for p in report["polls"]] == [("p1", 1, "1")]
    crashes = [c for c in report["clusters"] if c["intent"] == "bug_report"]
    assert crashes and (crashes[0]["current"], crashes[0]["direction"]) == (2, "new")

    english, russian = markdown(report, "en"), markdown(report, "ru")
    assert "# Community retrospective" in english and "| Monthly active members | 4 |" in english
    assert "# Ретроспектива сообщества" in russian and "| Активных за месяц | 4 |" in russian
    assert "| m-cyd |" in english and "2.0 h" in english and "2.0 ч" in russian
    page = html_report(report, "ru")
    assert page.startswith("<!doctype html>") and 'lang="ru"' in page
    assert page.count("<svg") == 3  # daily actives, member flow, clusters


def test_periods() -> None:
    assert period("2026-12", None, None) == (date(2026, 12, 1), date(2027, 1, 1))
    assert period(None, date(2026, 11, 3), date(2026, 11, 10)) == (
        date(2026, 11, 3),
        date(2026, 11, 10),
    )
    for bad in (
        ("2026-13", None, None),
        (None, date(2026, 11, 3), None),
        (None, date(2026, 11, 3), date(2026, 11, 1)),
    ):
        with pytest.raises(BadPeriod):
            period(*bad)


async def test_last_month_is_published_once_with_its_event(db: Database) -> None:
    await say(db, "ann", NOV + timedelta(days=3))
    await say(db, "boris", NOV + timedelta(days=4))
    context = InsightsContext(settings=Settings(), db=db)
    december = datetime(2026, 12, 2, tzinfo=UTC)
    assert await publish_month(context, now=december) == 1
    assert await publish_month(context, now=december) == 0  # once per month
    async with db.transaction() as session:
        uow = InsightsUoW(session, Outbox(session, outbox_table(metadata)))
        [stored] = await uow.activity.retrospectives_of(TENANT, COMMUNITY)
        events = (await session.execute(select(outbox_table(metadata)))).mappings().all()
    assert stored["period"] == "2026-11" and stored["body"]["activity"]["mau"] == 2
    [published] = [json.loads(e["value"]) for e in events]
    assert published["type"] == "insights.retrospective.published"
    assert (published["summary"]["period"], published["summary"]["mau"]) == (
        "2026-11",
        2,
    )
