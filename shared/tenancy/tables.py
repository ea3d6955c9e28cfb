"""Tables of tenants and their API keys."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, MetaData, String, Table, func

from shared.db.tables import NAMING

SCHEMA = "hearth"

metadata = MetaData(naming_convention=NAMING)

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Set by delete-tenant; every key of a deleted tenant is refused from then on.
    Column("deleted_at", DateTime(timezone=True), nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("hashed", String(64), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("community_ids", JSON, nullable=True),
    Column("revoked", Boolean, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
