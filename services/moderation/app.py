"""The moderation service: its spec, and its app when it runs alone."""

from __future__ import annotations

from pathlib import Path

from services.moderation.api import router
from services.moderation.handlers import HANDLERS
from services.moderation.tables import metadata
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="moderation",
    metadata=metadata,
    handlers=HANDLERS,
    migrations=Path(__file__).parent / "migrations",
    routers=(router,),
    description="Rules and offline ML, decisions, sanctions, review queue, audit log, appeals.",
)
