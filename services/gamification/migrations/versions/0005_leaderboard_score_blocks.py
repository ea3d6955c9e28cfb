"""Leaderboards: distinct scores per block of 512 points, so a dense rank is a short count.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 03:43:29.420678
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leaderboard_score_blocks",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.String(length=10), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False, comment="points // 512"),
        sa.Column("scores", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "community_id",
            "channel_id",
            "period",
            "bucket",
            "block",
            name=op.f("pk_leaderboard_score_blocks"),
        ),
    )


def downgrade() -> None:
    op.drop_table("leaderboard_score_blocks")
