"""Clusters, their members (linked to source events) and content moderation removed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 01:18:36.594409
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cluster_members",
        sa.Column(
            "event_id",
            sa.String(length=64),
            nullable=False,
            comment="the community event clustered",
        ),
        sa.Column("cluster_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.String(length=255), nullable=True),
        sa.Column(
            "source_event_id", sa.String(length=255), nullable=True, comment="the platform's own id"
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column(
            "duplicate", sa.Boolean(), nullable=False, comment="near-identical to an earlier member"
        ),
        sa.Column("intent", sa.String(length=32), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False, comment="float32 unit embedding"),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_cluster_members")),
    )
    with op.batch_alter_table("cluster_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cluster_members_cluster_id"), ["cluster_id"], unique=False
        )
        batch_op.create_index(
            "ix_cluster_members_fingerprint",
            ["tenant_id", "community_id", "fingerprint"],
            unique=False,
        )

    op.create_table(
        "clusters",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column(
            "total",
            sa.LargeBinary(),
            nullable=False,
            comment="float32 sum of members' unit vectors",
        ),
        sa.Column(
            "count", sa.Integer(), nullable=False, comment="messages counted in the centroid"
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
    )
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.create_index("ix_clusters_community", ["tenant_id", "community_id"], unique=False)

    op.create_table(
        "removed_content",
        sa.Column(
            "event_id", sa.String(length=64), nullable=False, comment="removed by moderation"
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column(
            "removed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_removed_content")),
    )


def downgrade() -> None:
    op.drop_table("removed_content")
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.drop_index("ix_clusters_community")

    op.drop_table("clusters")
    with op.batch_alter_table("cluster_members", schema=None) as batch_op:
        batch_op.drop_index("ix_cluster_members_fingerprint")
        batch_op.drop_index(batch_op.f("ix_cluster_members_cluster_id"))

    op.drop_table("cluster_members")
