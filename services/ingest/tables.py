"""Tables of the ingest service (PostgreSQL schema `ingest`)."""

from shared.db.tables import service_metadata

metadata = service_metadata()
