"""Tables of the insights service (PostgreSQL schema `insights`)."""

from shared.db.tables import service_metadata

metadata = service_metadata()
