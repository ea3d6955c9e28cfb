"""The moderation service: its spec, and its app when it runs alone."""

from __future__ import annotations

from pathlib import Path

from services.moderation.api import router
from services.moderation.api_dry_run import router as dry_run_router
from services.moderation.api_people import router as people_router
from services.moderation.context import background, setup
from services.moderation.handlers import HANDLERS
from services.moderation.settings import Settings
from services.moderation.tables import metadata
from services.moderation.uow import ModerationUoW
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    setup=setup,
    name="moderation",
    metadata=metadata,
    handlers=HANDLERS,
    migrations=Path(__file__).parent / "migrations",
    routers=(router, dry_run_router, people_router),
    background=background,
    settings=Settings,
    unit_of_work=ModerationUoW,
    description="Rules and offline ML, decisions, sanctions, review queue, audit log, appeals.",
)
