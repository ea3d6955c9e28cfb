"""What the insights routes and background loop share: settings and the database."""

from __future__ import annotations

from dataclasses import dataclass

from services.insights.settings import Settings
from shared.bus.port import Bus
from shared.db.engine import Database


@dataclass
class InsightsContext:
    """The insights service's dependencies, built once per process."""

    settings: Settings
    db: Database


def setup(settings: Settings | None, db: Database, bus: Bus) -> InsightsContext:
    """Build the context from what the composition root passes."""
    return InsightsContext(settings=settings if settings is not None else Settings(), db=db)
