"""Tables of the moderation service (PostgreSQL schema `moderation`)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
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
    # where the message is, so a member report or a moderator can act on it later
    Column("platform", String(32), nullable=True),
    Column("message_id", String(256), nullable=True),
    Column("platform_user_id", String(256), nullable=True),
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
    Column("platform", String(32), nullable=True),
    Column("channel_id", String(256), nullable=True),
    # what ingest reported on ingest.action_results.v1 for the action
    Column("result", String(32), nullable=True),
    Column("result_detail", String(500), nullable=True),
    Column("result_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("tenant_id", "subject_event_id", name="uq_sanctions_subject"),
)
Index("ix_sanctions_action", sanctions.c.action_id)

appeals = Table(
    "appeals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(64), nullable=False),
    Column("sanction_id", Id, nullable=False),
    Column("statement", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("decided_by", String(64), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("note", Text, nullable=True),
    # the unmute / unban a reversal sent, and what ingest reported for it
    Column("action_id", String(64), nullable=True),
    Column("result", String(32), nullable=True),
    Column("result_detail", String(500), nullable=True),
    Column("result_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("tenant_id", "sanction_id", name="uq_appeals_sanction"),
)
Index("ix_appeals_action", appeals.c.action_id)

reports = Table(
    "reports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(64), nullable=False),
    Column("subject_event_id", String(64), nullable=False),
    Column("reporter", String(320), nullable=False),
    Column("reason", String(200), nullable=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "subject_event_id", "reporter", name="uq_reports_reporter"),
)

# A bounded window of each community's recent live messages (text included), for dry runs
# of new rules and for conflict detection; pruned to HEARTH_MODERATION_RECENT_MESSAGES.
recent_messages = Table(
    "recent_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(64), nullable=False),
    Column("subject_event_id", String(64), nullable=False),
    Column("author", String(320), nullable=False),
    Column("reply_to", String(320), nullable=True),
    Column("scope", String(600), nullable=False),
    Column("text", Text, nullable=False),
    Column("links", JSON, nullable=False),
    Column("mentions", JSON, nullable=False),
    Column("author_ids", JSON, nullable=False),
    Column("roles", JSON, nullable=False),
    Column("channel_id", String(256), nullable=True),
    Column("verdict", String(16), nullable=False),
    Column("toxicity", Float, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "subject_event_id", name="uq_recent_messages_subject"),
)
Index(
    "ix_recent_messages_community",
    recent_messages.c.tenant_id,
    recent_messages.c.community_id,
    recent_messages.c.id,
)
Index(
    "ix_recent_messages_scope",
    recent_messages.c.tenant_id,
    recent_messages.c.community_id,
    recent_messages.c.scope,
    recent_messages.c.occurred_at,
)

# One conflict alert per community, kind, scope and window bucket.
conflict_alerts = Table(
    "conflict_alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("scope", String(700), nullable=False),
    Column("bucket", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint(
        "tenant_id", "community_id", "kind", "scope", "bucket", name="uq_conflict_alerts_bucket"
    ),
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
