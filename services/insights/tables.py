"""Tables of the insights service (PostgreSQL schema `insights`)."""

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    false,
    func,
)

from shared.db.tables import service_metadata

metadata = service_metadata()

clusters = Table(
    "clusters",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(32), nullable=False),
    Column("total", LargeBinary, nullable=False, comment="float32 sum of members' unit vectors"),
    Column("count", Integer, nullable=False, comment="messages counted in the centroid"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_clusters_community", clusters.c.tenant_id, clusters.c.community_id)

cluster_members = Table(
    "cluster_members",
    metadata,
    Column("event_id", String(64), primary_key=True, comment="the community event clustered"),
    Column("cluster_id", String(32), nullable=False, index=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(32), nullable=False),
    Column("member_id", String(64), nullable=True),
    Column("platform", String(16), nullable=False),
    Column("channel_id", String(255), nullable=True),
    Column("source_event_id", String(255), nullable=True, comment="the platform's own id"),
    Column("text", Text, nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("duplicate", Boolean, nullable=False, comment="near-identical to an earlier member"),
    Column("intent", String(32), nullable=False),
    Column("sentiment", String(16), nullable=False, server_default="neutral"),
    Column(
        "removed",
        Boolean,
        nullable=False,
        server_default=false(),
        comment="removed by moderation: hidden and out of the centroid until restored",
    ),
    Column("vector", LargeBinary, nullable=False, comment="float32 unit embedding"),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_cluster_members_fingerprint",
    cluster_members.c.tenant_id,
    cluster_members.c.community_id,
    cluster_members.c.fingerprint,
)

removed_content = Table(
    "removed_content",
    metadata,
    Column("event_id", String(64), primary_key=True, comment="removed by moderation"),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(32), nullable=False),
    Column("removed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

core_members = Table(
    "core_members",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(32), primary_key=True),
    Column("member_id", String(64), primary_key=True),
    Column("core", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False, comment="the change's time"),
)

cluster_aliases = Table(
    "cluster_aliases",
    metadata,
    Column("alias_id", String(32), primary_key=True, comment="a cluster merged away"),
    Column("cluster_id", String(32), nullable=False, index=True, comment="where it went"),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(32), nullable=False),
    Column("merged_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
