"""Tables of the insights service (PostgreSQL schema `insights`)."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
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

routing_rules = Table(
    "routing_rules",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(32), primary_key=True),
    Column("source", Text, nullable=False, comment="the YAML as uploaded (validated)"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

routed_insights = Table(
    "routed_insights",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(32), nullable=False),
    Column("cluster_id", String(32), nullable=True),
    Column("rule", String(64), nullable=False),
    Column("team", String(16), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("kind", String(16), nullable=False, comment="alert, insight, content_idea, digest"),
    Column("key", String(255), nullable=False, comment="what fires once: rule, cluster, window"),
    Column("delivery", String(16), nullable=False, comment="instant, daily or weekly"),
    Column("period", String(16), nullable=True, comment="the digest period it waits for"),
    Column("digest_id", String(32), nullable=True, comment="the digest that carried it"),
    Column("body", JSON, nullable=False, comment="the insight as destinations receive it"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "community_id", "key", name="uq_routed_insights_key"),
)
Index(
    "ix_routed_insights_community",
    routed_insights.c.tenant_id,
    routed_insights.c.community_id,
    routed_insights.c.created_at,
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(32), primary_key=True, comment="X-Hearth-Delivery: same on every retry"),
    Column("tenant_id", String(64), nullable=False),
    Column("community_id", String(32), nullable=False),
    Column("insight_id", String(32), nullable=False, index=True),
    Column("destination", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("format", String(8), nullable=False),
    Column("secret", Text, nullable=False, comment="the destination's HMAC key"),
    Column("body", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False, comment="pending, in_flight, delivered, failed"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claim_id", String(32), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("last_status", Integer, nullable=True, comment="the receiver's last HTTP status"),
    Column("last_error", String(300), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
)
Index("ix_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
Index(
    "ix_deliveries_community",
    deliveries.c.tenant_id,
    deliveries.c.community_id,
    deliveries.c.created_at,
)

poll_answers = Table(
    "poll_answers",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(32), primary_key=True),
    Column("poll_id", String(255), primary_key=True, comment="the platform's poll or a survey id"),
    Column("voter", String(300), primary_key=True, comment="member id or platform:user id"),
    Column("source", String(16), nullable=False, comment="the platform, or survey"),
    Column("options", JSON, nullable=False, comment="chosen option ids or labels"),
    Column("text", Text, nullable=True, comment="a free-text answer"),
    Column("event_id", String(64), nullable=True, comment="the community event, for polls"),
    Column("answered_at", DateTime(timezone=True), nullable=False),
)

members_seen = Table(
    "members_seen",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(32), primary_key=True),
    Column("member", String(300), primary_key=True, comment="member id or platform:user id"),
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
)

member_days = Table(
    "member_days",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(32), primary_key=True),
    Column("member", String(300), primary_key=True),
    Column("day", Date, primary_key=True, comment="UTC day of the activity"),
    Column("events", Integer, nullable=False, comment="community events that day"),
    Column("messages", Integer, nullable=False, comment="messages and feedback that day"),
)

questions = Table(
    "questions",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(32), primary_key=True),
    Column("platform", String(16), primary_key=True),
    Column("source_event_id", String(255), primary_key=True, comment="the question's own id"),
    Column("asker", String(300), nullable=False),
    Column("asked_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=True, comment="first reply by another"),
)

moderation_days = Table(
    "moderation_days",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("outcome", String(32), primary_key=True, comment="a verdict, removed or restored"),
    Column("count", Integer, nullable=False),
)

retrospectives = Table(
    "retrospectives",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("community_id", String(32), primary_key=True),
    Column("period", String(16), primary_key=True, comment="the month, YYYY-MM"),
    Column("body", JSON, nullable=False, comment="the retrospective as the API answers it"),
    Column("published_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
