"""The insights service: its spec, and its app when it runs alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from services.insights.api import router
from services.insights.api_polls import router as polls_router
from services.insights.api_retrospective import router as retrospective_router
from services.insights.api_routing import router as routing_router
from services.insights.context import setup
from services.insights.deliveries import insights_loops
from services.insights.handlers import HANDLERS
from services.insights.recluster import recluster_loops
from services.insights.retrospective import retrospective_loops
from services.insights.settings import Settings
from services.insights.tables import metadata
from services.insights.uow import InsightsUoW
from shared.service import ServiceSpec


def background(context: object) -> list[Callable[[], Awaitable[None]]]:
    """Re-clustering, webhook deliveries, digests and monthly retrospectives."""
    return [*recluster_loops(context), *insights_loops(context), *retrospective_loops(context)]


SPEC = ServiceSpec(
    name="insights",
    metadata=metadata,
    handlers=HANDLERS,
    migrations=Path(__file__).parent / "migrations",
    routers=(router, routing_router, polls_router, retrospective_router),
    settings=Settings,
    setup=setup,
    background=background,
    unit_of_work=InsightsUoW,
    description="Feedback clustered by meaning, labelled and routed; monthly retrospectives.",
)
