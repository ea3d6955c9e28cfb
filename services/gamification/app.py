"""The gamification service: its spec, and its app when it runs alone."""

from __future__ import annotations

from pathlib import Path

from services.gamification.api import router
from services.gamification.handlers import HANDLERS
from services.gamification.settings import Settings
from services.gamification.tables import metadata
from services.gamification.uow import GamificationUoW
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="gamification",
    metadata=metadata,
    handlers=HANDLERS,
    migrations=Path(__file__).parent / "migrations",
    routers=(router,),
    settings=Settings,
    unit_of_work=GamificationUoW,
    description="Idempotent points ledger, badges, levels, streaks, leaderboards, core members.",
)
