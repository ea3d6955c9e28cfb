"""Leaderboards: a read model of the ledger per period bucket and channel; the ledger's channel.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 03:34:03.911787
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leaderboard_scores",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.String(length=10), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "community_id",
            "channel_id",
            "period",
            "bucket",
            "points",
            name=op.f("pk_leaderboard_scores"),
        ),
    )
    op.create_table(
        "leaderboard_totals",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column(
            "channel_id", sa.String(length=64), nullable=False, comment="'' for the whole community"
        ),
        sa.Column(
            "period",
            sa.String(length=8),
            nullable=False,
            comment="all_time, year, month, week, day",
        ),
        sa.Column(
            "bucket",
            sa.String(length=10),
            nullable=False,
            comment="all, 2026, 2026-11, 2026-W45, ...",
        ),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "community_id",
            "channel_id",
            "period",
            "bucket",
            "member_id",
            name=op.f("pk_leaderboard_totals"),
        ),
    )
    with op.batch_alter_table("leaderboard_totals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_leaderboard_totals_rank",
            ["tenant_id", "community_id", "channel_id", "period", "bucket", "points", "member_id"],
            unique=False,
        )

    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "channel_id",
                sa.String(length=64),
                nullable=True,
                comment="where the activity happened",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.drop_column("channel_id")

    with op.batch_alter_table("leaderboard_totals", schema=None) as batch_op:
        batch_op.drop_index("ix_leaderboard_totals_rank")

    op.drop_table("leaderboard_totals")
    op.drop_table("leaderboard_scores")
