"""The ingest service: its spec, and its app when it runs alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from services.ingest.api import router
from services.ingest.connectors import connector_loops
from services.ingest.context import setup
from services.ingest.dispatch import dispatch_loops
from services.ingest.handlers import HANDLERS
from services.ingest.settings import Settings
from services.ingest.tables import metadata
from shared.service import ServiceSpec


def background_loops(context: object) -> list[Callable[[], Awaitable[None]]]:
    """Connectors (pollers, gateways) and the dispatcher that carries actions out."""
    return [*connector_loops(context), *dispatch_loops(context)]


SPEC = ServiceSpec(
    name="ingest",
    metadata=metadata,
    handlers=HANDLERS,
    migrations=Path(__file__).parent / "migrations",
    routers=(router,),
    description="Platform connectors in, decisions out, member identity, integrator API.",
    settings=Settings,
    setup=setup,
    background=background_loops,
)
