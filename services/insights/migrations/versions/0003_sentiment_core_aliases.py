"""Sentiment and a removed flag on cluster members; core members; merged cluster aliases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 02:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cluster_members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sentiment", sa.String(length=16), server_default="neutral", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "removed",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="removed by moderation: hidden and out of the centroid until restored",
            )
        )

    op.create_table(
        "core_members",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("core", sa.Boolean(), nullable=False),
        sa.Column(
            "changed_at", sa.DateTime(timezone=True), nullable=False, comment="the change's time"
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "community_id", "member_id", name=op.f("pk_core_members")
        ),
    )

    op.create_table(
        "cluster_aliases",
        sa.Column(
            "alias_id", sa.String(length=32), nullable=False, comment="a cluster merged away"
        ),
        sa.Column("cluster_id", sa.String(length=32), nullable=False, comment="where it went"),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column(
            "merged_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("alias_id", name=op.f("pk_cluster_aliases")),
    )
    with op.batch_alter_table("cluster_aliases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cluster_aliases_cluster_id"), ["cluster_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cluster_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_aliases_cluster_id"))
    op.drop_table("cluster_aliases")
    op.drop_table("core_members")
    with op.batch_alter_table("cluster_members", schema=None) as batch_op:
        batch_op.drop_column("removed")
        batch_op.drop_column("sentiment")
