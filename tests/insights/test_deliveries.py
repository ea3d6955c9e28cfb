"""Digests and delivery outcomes on the embedded database, with a local webhook receiver.

Praise reaching a size rule with daily delivery waits for its digest; once the day is
over the digest goes out as one JSON webhook listing the content idea with its source
links. A receiver answering 410 fails the delivery at once (a 4xx is not retried); one
that is unreachable is retried later with the same delivery id.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import select

from services.insights.context import InsightsContext
from services.insights.deliveries import Deliverer
from services.insights.domain.delivery import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from services.insights.handlers import HANDLERS
from services.insights.routing import send_digests
from services.insights.settings import Settings
from services.insights.tables import deliveries, metadata, routed_insights
from services.insights.uow import InsightsUoW
from shared.db.engine import Database
from shared.db.outbox import Outbox
from shared.db.tables import outbox_table
from shared.events.community import Actor, CommunityEvent, CommunityEventType, Content, Platform

TENANT, COMMUNITY = "t1", "c1"
SECRET = "a-signing-key-for-smm-team"
DAY = datetime(2026, 11, 20, 12, tzinfo=UTC)
PRAISE = [
    "I love the new update, the game looks amazing",
    "The new update is amazing, I love how the game looks now",
    "Обожаю новое обновление, игра выглядит потрясающе",
]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'insights.db'}", schema="insights")
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    calls: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        calls.append((dict(request.headers), await request.read()))
        return web.Response(status=410, text="gone")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/hook", calls
    finally:
        await runner.cleanup()


def rules(url: str) -> str:
    return f"""\
destinations:
  smm:
    url: {url}
    format: json
    secret: {SECRET}
  nowhere:
    url: http://127.0.0.1:9/hook
    secret: {SECRET}
rules:
  - name: ugc
    team: smm
    intents: [praise, content_idea]
    min_size: 3
    to: [smm, nowhere]
"""


async def run(db: Database, handler: Any, payload: Any) -> None:
    async with db.transaction() as session:
        await handler(payload, InsightsUoW(session, Outbox(session, outbox_table(metadata))))


async def test_a_daily_digest_goes_out_once_the_day_is_over(
    db: Database, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, calls = receiver
    async with db.transaction() as session:
        await InsightsUoW(session, Outbox(session, outbox_table(metadata))).routing.set_rules(
            TENANT, COMMUNITY, rules(url)
        )
    for n, text in enumerate(PRAISE):
        await run(
            db,
            HANDLERS["community.feedback.submitted"],
            CommunityEvent(
                type=CommunityEventType.FEEDBACK_SUBMITTED,
                occurred_at=DAY + timedelta(minutes=n),
                tenant_id=TENANT,
                community_id=COMMUNITY,
                platform=Platform.DISCORD,
                channel_id="fan-art",
                source_event_id=f"msg-{n}",
                actor=Actor(platform_user_id=f"u{n}", member_id=f"m{n}"),
                content=Content(text=text),
                dedup_key=f"k{n}",
            ),
        )
    settings = Settings(delivery_backoff_seconds=60)
    context = InsightsContext(settings=settings, db=db)
    assert await send_digests(context, now=DAY + timedelta(hours=6)) == 0  # the day is not over
    async with db.transaction() as session:
        waiting = (await session.execute(select(routed_insights))).mappings().all()
    assert [(r["kind"], r["delivery"], r["period"], r["digest_id"]) for r in waiting] == [
        ("content_idea", "daily", "2026-11-20", None)
    ]
    assert await send_digests(context, now=DAY + timedelta(days=1)) == 1
    assert await send_digests(context, now=DAY + timedelta(days=1)) == 0  # sent once

    async with httpx.AsyncClient(timeout=5) as client:
        assert await Deliverer(context, client=client).pass_once(client) == 2
    async with db.transaction() as session:
        rows = (
            (await session.execute(select(deliveries).order_by(deliveries.c.destination)))
            .mappings()
            .all()
        )
    outcome = {r["destination"]: (r["status"], r["attempts"], r["last_status"]) for r in rows}
    assert outcome == {"smm": ("failed", 1, 410), "nowhere": ("pending", 1, None)}
    assert rows[0]["last_error"] == "ConnectError"  # retried later, same delivery id

    [(headers, body)] = calls
    assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert headers[DELIVERY_HEADER] == next(r["id"] for r in rows if r["destination"] == "smm")
    digest = json.loads(body)
    assert (digest["kind"], digest["team"], digest["period"]) == ("digest", "smm", "2026-11-20")
    [idea] = digest["items"]
    assert idea["kind"] == "content_idea" and idea["cluster"]["size"] == 3
    assert {link["source_event_id"] for link in idea["cluster"]["links"]} == {
        "msg-0",
        "msg-1",
        "msg-2",
    }
