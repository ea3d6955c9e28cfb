"""The composition root: settings are injected, and a request is one unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import Column, ForeignKey, Integer, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.api.uow import transaction
from shared.bus.memory import InMemoryBus
from shared.db.consuming import UnitOfWork
from shared.db.engine import Database
from shared.db.outbox import Outbox
from shared.db.tables import outbox_table, service_metadata
from shared.events.envelope import Envelope
from shared.host import Host
from shared.service import ServiceSpec
from tests.shared.conftest import create_all

metadata = service_metadata()
parents = Table("parents", metadata, Column("id", Integer, primary_key=True))
children = Table(
    "children",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "parent_id",
        Integer,
        ForeignKey("parents.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    Column("name", String(40), nullable=False),
)


class Family:
    """A repository: SQL on the unit of work's session, never a commit."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_child(self, parent_id: int, name: str) -> None:
        await self.session.execute(children.insert().values(parent_id=parent_id, name=name))

    async def add_parent(self, parent_id: int) -> None:
        await self.session.execute(parents.insert().values(id=parent_id))


class FamilyUoW(UnitOfWork):
    def __init__(
        self, session: AsyncSession, outbox: Outbox, *, context: Any = None, group: str = ""
    ) -> None:
        super().__init__(session, outbox, context=context, group=group)
        self.family = Family(session)


class Child(BaseModel):
    parent_id: int
    name: str
    with_parent: bool = False


router = APIRouter(prefix="/v1/family")
UoWDep = Annotated[FamilyUoW, transaction("family")]


@router.post("/children", status_code=201)
async def add_child(body: Child, uow: UoWDep) -> dict[str, str]:
    if body.with_parent:
        await uow.family.add_parent(body.parent_id)
    await uow.family.add_child(body.parent_id, body.name)
    await uow.outbox.add(
        "family.v1", Envelope(source="/tests", type="family.child.added", data={"n": 1})
    )
    return {"status": "added"}


@router.get("/context")
async def context_of(uow: UoWDep) -> dict[str, str]:
    return {"greeting": uow.context["greeting"]}


class FamilySettings(BaseModel):
    greeting: str = "from the environment"


def family_setup(settings: FamilySettings, db: Database, bus: object) -> dict[str, str]:
    return {"greeting": settings.greeting}


SPEC = ServiceSpec(
    name="family",
    metadata=metadata,
    handlers={},
    migrations=Path("unused"),
    routers=(router,),
    settings=FamilySettings,
    setup=family_setup,
    unit_of_work=FamilyUoW,
)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'family.db'}")
    await create_all(db, metadata)
    host = Host(
        [(SPEC, db)],
        bus=InMemoryBus(),
        tenancy_db=Database(f"sqlite+aiosqlite:///{tmp_path / 'hearth.db'}"),
        settings={"family": FamilySettings(greeting="passed in")},
    )
    app = host.create_app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http, db
    await db.dispose()


async def rows(db: Database, table: Table) -> int:
    async with db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def test_a_route_commits_its_rows_and_its_events_together(client) -> None:
    http, db = client
    response = await http.post(
        "/v1/family/children", json={"parent_id": 1, "name": "a", "with_parent": True}
    )
    assert response.status_code == 201
    assert await rows(db, children) == 1
    assert await rows(db, outbox_table(metadata)) == 1


async def test_a_commit_that_fails_is_never_answered_2xx_and_leaves_nothing(client) -> None:
    http, db = client
    # The deferred foreign key is checked at COMMIT, after the route has returned.
    response = await http.post("/v1/family/children", json={"parent_id": 7, "name": "orphan"})
    assert response.status_code >= 500
    assert await rows(db, children) == 0
    assert await rows(db, outbox_table(metadata)) == 0, "no event for a change that did not land"


async def test_settings_passed_to_the_host_reach_the_service_context(client) -> None:
    http, _ = client
    response = await http.get("/v1/family/context")
    assert response.json() == {"greeting": "passed in"}
