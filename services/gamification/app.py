"""The gamification service: its spec, and its app when it runs alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event

from services.gamification.api import router
from services.gamification.api_campaigns import router as campaigns_router
from services.gamification.api_members import router as members_router
from services.gamification.handlers import HANDLERS
from services.gamification.settings import Settings
from services.gamification.tables import metadata
from services.gamification.uow import GamificationUoW
from shared.bus.port import Bus
from shared.db.engine import Database
from shared.service import ServiceSpec


def setup(_settings: Any, db: Database, _bus: Bus | None) -> None:
    """Tune the service's PostgreSQL sessions.

    A consumer batch looks rows up with IN lists of a few hundred values. After five
    executions of a prepared statement PostgreSQL may switch to a generic plan that no
    longer uses the index for such a list: the kit's processed_events lookup went from
    5 ms to 140 ms per batch of 500, growing with the table. Custom plans keep it at 5 ms.
    """
    if db.is_postgres:
        event.listen(db.engine.sync_engine, "connect", _custom_plans)


def _custom_plans(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET plan_cache_mode = force_custom_plan")
    cursor.close()


SPEC = ServiceSpec(
    name="gamification",
    metadata=metadata,
    handlers=HANDLERS,
    migrations=Path(__file__).parent / "migrations",
    routers=(router, members_router, campaigns_router),
    settings=Settings,
    unit_of_work=GamificationUoW,
    setup=setup,
    description="Idempotent points ledger, badges, levels, streaks, leaderboards, core members.",
)
