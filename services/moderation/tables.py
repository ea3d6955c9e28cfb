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

review_items = Table(
    "review_items",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(64), nullable=False),
    Column("decision_id", Id, nullable=False),
    Column("subject_event_id", String(64), nullable=False),
    Column("auto_verdict", String(16), nullable=False),
    Column("rule_id", String(64), nullable=True),
    Column("reason", String(200), nullable=True),
    Column("reasons", JSON, nullable=False),
    Column("author", String(320), nullable=False),
    Column("member_id", String(64), nullable=True),
    Column("platform", String(32), nullable=False),
    Column("channel_id", String(256), nullable=True),
    Column("message_id", String(256), nullable=True),
    Column("platform_user_id", String(256), nullable=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("final_verdict", String(16), nullable=True),
    Column("decided_by", String(64), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("note", Text, nullable=True),
    Column("overturned", Boolean, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "decision_id", name="uq_review_items_decision"),
)
# The queue: open items of a tenant's community, oldest first.
Index(
    "ix_review_items_queue",
    review_items.c.tenant_id,
    review_items.c.status,
    review_items.c.community_id,
    review_items.c.id,
)

strikes = Table(
    "strikes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(64), nullable=False),
    Column("author", String(320), nullable=False),
    Column("subject_event_id", String(64), nullable=False),
    Column("reason", String(200), nullable=True),
    Column("given_by", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "subject_event_id", name="uq_strikes_subject"),
)
Index(
    "ix_strikes_author",
    strikes.c.tenant_id,
    strikes.c.community_id,
    strikes.c.author,
    strikes.c.occurred_at,
)

sanctions = Table(
    "sanctions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(64), nullable=False),
    Column("author", String(320), nullable=False),
    Column("platform_user_id", String(256), nullable=True),
    Column("action", String(16), nullable=False),
    Column("duration_seconds", Integer, nullable=True),
    Column("strikes", Integer, nullable=False),
    Column("action_id", String(64), nullable=False),
    Column("subject_event_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "subject_event_id", name="uq_sanctions_subject"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(64), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("decision_id", Id, nullable=True),
    Column("subject_event_id", String(64), nullable=True),
    Column("detail", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_audit_log_community", audit_log.c.tenant_id, audit_log.c.community_id, audit_log.c.id)
