"""Tables of the gamification service (PostgreSQL schema `gamification`)."""

from shared.db.tables import service_metadata

metadata = service_metadata()
