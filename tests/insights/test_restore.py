"""Moderation's removal and restoration on the embedded database (SQLite, no broker).

The handlers run against the service's real tables; the Kafka + PostgreSQL path of the
same flow is in test_feedback_stream.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.insights.handlers import cluster_feedback, remove_from_cluster, restore_to_cluster
from services.insights.repository import Feedback
from services.insights.tables import metadata
from services.insights.uow import InsightsUoW
from shared.api.auth import Caller
from shared.db.engine import Database
from shared.db.outbox import Outbox
from shared.db.tables import outbox_table
from shared.events.community import Actor, CommunityEvent, CommunityEventType, Content, Platform
from shared.events.payloads import DecisionEventType, ModerationDecision, Verdict

TENANT, COMMUNITY = "t1", "c1"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'insights.db'}", schema="insights")
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def run(db: Database, handler: object, payload: object) -> None:
    async with db.transaction() as session:
        uow = InsightsUoW(session, Outbox(session, outbox_table(metadata)))
        await handler(payload, uow)  # type: ignore[operator]


def feedback(user: str, text: str) -> CommunityEvent:
    return CommunityEvent(
        type=CommunityEventType.FEEDBACK_SUBMITTED,
        occurred_at=datetime(2026, 11, 20, tzinfo=UTC),
        tenant_id=TENANT,
        community_id=COMMUNITY,
        platform=Platform.DISCORD,
        channel_id="feedback",
        actor=Actor(platform_user_id=user, member_id=f"m-{user}"),
        content=Content(text=text),
        dedup_key=f"k-{user}",
    )


def decision(kind: DecisionEventType, event_id: str) -> ModerationDecision:
    return ModerationDecision(
        type=kind,
        tenant_id=TENANT,
        community_id=COMMUNITY,
        subject_event_id=event_id,
        verdict=Verdict.REMOVE,
    )


async def visible(db: Database) -> dict[str, set[str]]:
    async with db.transaction() as session:
        by_cluster = await Feedback(session).readable_members(
            Caller(tenant_id=TENANT, key_id="k", scopes=frozenset({"admin"})), COMMUNITY
        )
    return {cid: {m.text for m in members} for cid, members in by_cluster.items()}


async def test_removed_then_restored_content_returns_to_its_cluster(db: Database) -> None:
    first = feedback("ann", "The app crashes every time I try to upload a photo")
    second = feedback("bob", "Приложение вылетает каждый раз, когда я пытаюсь загрузить фото")
    await run(db, cluster_feedback, first)
    await run(db, cluster_feedback, second)
    [(cluster_id, texts)] = (await visible(db)).items()
    assert len(texts) == 2

    await run(db, remove_from_cluster, decision(DecisionEventType.CONTENT_REMOVED, first.event_id))
    await run(db, remove_from_cluster, decision(DecisionEventType.CONTENT_REMOVED, first.event_id))
    assert await visible(db) == {cluster_id: {second.content.text}}  # type: ignore[union-attr]

    await run(db, restore_to_cluster, decision(DecisionEventType.CONTENT_RESTORED, first.event_id))
    assert await visible(db) == {cluster_id: texts}
    async with db.transaction() as session:
        [stored] = await Feedback(session).clusters_of(TENANT, COMMUNITY)
    assert stored.count == 2  # the centroid counts it again, once


async def test_content_removed_before_it_arrives_shows_only_once_restored(db: Database) -> None:
    late = feedback("cyd", "Please add a dark theme to the desktop client")
    await run(db, remove_from_cluster, decision(DecisionEventType.CONTENT_REMOVED, late.event_id))
    await run(db, cluster_feedback, late)
    assert await visible(db) == {}
    await run(db, restore_to_cluster, decision(DecisionEventType.CONTENT_RESTORED, late.event_id))
    assert list((await visible(db)).values()) == [{late.content.text}]  # type: ignore[union-attr]
