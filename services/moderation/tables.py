"""Tables of the moderation service (PostgreSQL schema `moderation`)."""

from shared.db.tables import service_metadata

metadata = service_metadata()
