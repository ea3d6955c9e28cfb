"""The ingest service: its spec, and its app when it runs alone."""

from __future__ import annotations

from pathlib import Path

from services.ingest.api import router
from services.ingest.connectors import connector_loops
from services.ingest.context import setup
from services.ingest.handlers import HANDLERS
from services.ingest.tables import metadata
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="ingest",
    metadata=metadata,
    handlers=HANDLERS,
    migrations=Path(__file__).parent / "migrations",
    routers=(router,),
    description="Platform connectors in, decisions out, member identity, integrator API.",
    setup=setup,
    background=connector_loops,
)
