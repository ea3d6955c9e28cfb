"""Tables of the ingest service (PostgreSQL schema `ingest`)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    func,
    text,
)

from shared.db.tables import Id, service_metadata

metadata = service_metadata()

communities = Table(
    "communities",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

bindings = Table(
    "bindings",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column(
        "community_id",
        String(32),
        ForeignKey("communities.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("platform", String(16), nullable=False),
    Column("external_id", String(512), nullable=False),
    Column("secrets", LargeBinary, nullable=False),
    Column("secret_names", JSON, nullable=False),
    Column("options", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Per tenant: another tenant's claim on a workspace id neither blocks nor reveals it.
    UniqueConstraint(
        "tenant_id", "platform", "external_id", name="uq_bindings_tenant_platform_external_id"
    ),
)

members = Table(
    "members",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False, index=True),
    Column("merged_into", String(32), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("member_id", String(32), nullable=False, index=True),
    Column("platform", String(16), nullable=False),
    Column("platform_user_id", String(256), nullable=False),
    Column("username", String(256), nullable=True),
    Column("display_name", String(512), nullable=True),
    Column("is_bot", Boolean, nullable=False, server_default="0"),
    Column("linked_by", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "platform", "platform_user_id", name="uq_identities_tenant_id"),
)
Index("ix_identities_username", identities.c.tenant_id, func.lower(identities.c.username))

# Where an identity was seen acting: a key bound to some communities sees a member only
# when one of the member's identities was seen in one of them.
identity_communities = Table(
    "identity_communities",
    metadata,
    Column("identity_id", Id, primary_key=True, autoincrement=False),
    Column("community_id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index(
    "ix_identity_communities_community",
    identity_communities.c.tenant_id,
    identity_communities.c.community_id,
)

merges = Table(
    "merges",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("target_member_id", String(32), nullable=False),
    Column("source_member_id", String(32), nullable=False),
    Column("identity_ids", JSON, nullable=False),
    Column("reason", String(1000), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("undone_at", DateTime(timezone=True), nullable=True),
)

received_events = Table(
    "received_events",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(32), nullable=False),
    Column("dedup_key", String(600), nullable=False),
    Column("type", String(64), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("member_id", String(32), nullable=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("community_id", "dedup_key", name="uq_received_events_dedup"),
)
Index(
    "ix_received_events_community",
    received_events.c.tenant_id,
    received_events.c.community_id,
    received_events.c.seq,
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

action_results = Table(
    "action_results",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("action_id", String(32), nullable=False, index=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(32), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("action", String(32), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("detail", String(1000), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

action_attempts = Table(
    "action_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("action_id", String(32), nullable=False),
    Column("binding_id", String(32), nullable=False),
    # Empty for a moderation action; a role grant is one per (member account, role).
    Column("platform_user_id", String(256), nullable=False, server_default=""),
    Column("role_id", String(256), nullable=False, server_default=""),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(32), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("action", String(32), nullable=False),
    Column("request", JSON, nullable=False),
    Column("source", JSON, nullable=False),
    Column("consumer_group", String(255), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claim_id", String(32), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("outcome", String(32), nullable=True),
    Column("detail", String(1000), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint(
        "action_id", "binding_id", "platform_user_id", "role_id", name="uq_action_attempts_key"
    ),
)
Index(
    "ix_action_attempts_open",
    action_attempts.c.binding_id,
    action_attempts.c.id,
    postgresql_where=text("status IN ('pending', 'in_flight')"),
    sqlite_where=text("status IN ('pending', 'in_flight')"),
)

# Telegram's poll_answer names no chat: the chat of each poll whose message was seen, so
# an answer is credited to the community of the poll's chat (connectors/telegram_polls.py).
telegram_polls = Table(
    "telegram_polls",
    metadata,
    Column("poll_id", String(128), primary_key=True),
    Column("chat_id", String(32), primary_key=True),
    Column("message_id", BigInteger, nullable=True),
    Column("seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The newest message the Discord gateway published, per binding and channel: where a
# gap fill reads channel history from after a session that could not resume.
discord_channel_marks = Table(
    "discord_channel_marks",
    metadata,
    Column("binding_id", String(32), primary_key=True),
    Column("channel_id", String(32), primary_key=True),
    Column("last_message_id", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
