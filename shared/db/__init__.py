"""Database kit: engines, the outbox and its relay, idempotent processing, migrations."""

from shared.db.consuming import Handler, UnitOfWork, idempotent_processor
from shared.db.engine import Database
from shared.db.outbox import Outbox, OutboxRelay
from shared.db.settings import DatabaseSettings

__all__ = [
    "Database",
    "DatabaseSettings",
    "Handler",
    "Outbox",
    "OutboxRelay",
    "UnitOfWork",
    "idempotent_processor",
]
