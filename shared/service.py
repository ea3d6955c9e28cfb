"""What a service declares about itself so a host can run it alone or beside the others."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from sqlalchemy import MetaData

from shared.bus.port import Bus
from shared.db.consuming import Handler, UnitOfWork, UnitOfWorkFactory
from shared.db.engine import Database
from shared.events.topics import topic_for_type


@dataclass(frozen=True)
class ServiceSpec:
    """A service's name, schema, reactions to events and HTTP routes."""

    name: str
    metadata: MetaData
    handlers: Mapping[str, Handler]
    migrations: Path
    routers: Sequence[APIRouter] = field(default_factory=tuple)
    description: str = ""
    settings: Callable[[], object] | None = None
    """Reads the service's Settings from the environment; the host calls it unless the
    composition root passes settings in (tests pass their own by parameter)."""
    setup: Callable[[Any, Database, Bus], object] | None = None
    """Builds the service's context from (settings, database, bus); routes find it in
    app.state and handlers in `uow.context`. It reads nothing from the environment."""
    background: Callable[[object], Sequence[Callable[[], Awaitable[None]]]] | None = None
    """Long-running loops of the service (pollers, gateways), given its context."""
    unit_of_work: UnitOfWorkFactory = UnitOfWork
    """Builds the unit of work (with the service's repositories) for handlers and routes."""

    @property
    def group(self) -> str:
        """Kafka consumer group of the service."""
        return f"hearth-{self.name}"

    @property
    def topics(self) -> tuple[str, ...]:
        """Topics to consume: those carrying an event type the service handles."""
        return tuple(sorted({topic_for_type(event_type).name for event_type in self.handlers}))
