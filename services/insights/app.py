"""The insights service: its spec, and its app when it runs alone."""

from __future__ import annotations

from pathlib import Path

from services.insights.api import router
from services.insights.context import setup
from services.insights.handlers import HANDLERS
from services.insights.recluster import recluster_loops
from services.insights.settings import Settings
from services.insights.tables import metadata
from services.insights.uow import InsightsUoW
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="insights",
    metadata=metadata,
    handlers=HANDLERS,
    migrations=Path(__file__).parent / "migrations",
    routers=(router,),
    settings=Settings,
    setup=setup,
    background=recluster_loops,
    unit_of_work=InsightsUoW,
    description="Feedback clustered by meaning, labelled and routed; monthly retrospectives.",
)
