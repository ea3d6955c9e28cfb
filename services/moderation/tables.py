"""Tables of the moderation service (PostgreSQL schema `moderation`)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from shared.db.tables import Id, service_metadata

metadata = service_metadata()

rulesets = Table(
    "rulesets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "community_id", "version", name="uq_rulesets_version"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(64), nullable=False),
    Column("subject_event_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("author", String(320), nullable=False),
    Column("member_id", String(64), nullable=True),
    Column("channel_id", String(256), nullable=True),
    Column("verdict", String(16), nullable=False),
    Column("rules_version", Integer, nullable=False),
    Column("rule_ids", JSON, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("scores", JSON, nullable=False),
    Column("timed_out", JSON, nullable=False),
    Column("backfilled", Boolean, nullable=False),
    Column("acted", Boolean, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "subject_event_id", name="uq_decisions_subject"),
)
# Flood rules count one author's recent messages in a community.
Index(
    "ix_decisions_author_recent",
    decisions.c.tenant_id,
    decisions.c.community_id,
    decisions.c.author,
    decisions.c.occurred_at,
)
