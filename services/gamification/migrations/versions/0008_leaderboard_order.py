"""Leaderboards: the board index in board order (points descending, then member id).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 03:50:10.477909
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leaderboard_totals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leaderboard_totals_rank"))
        batch_op.create_index(
            "ix_leaderboard_totals_order",
            [
                "tenant_id",
                "community_id",
                "channel_id",
                "period",
                "bucket",
                sa.literal_column("points DESC"),
                "member_id",
            ],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("leaderboard_totals", schema=None) as batch_op:
        batch_op.drop_index("ix_leaderboard_totals_order")
        batch_op.create_index(
            batch_op.f("ix_leaderboard_totals_rank"),
            ["tenant_id", "community_id", "channel_id", "period", "bucket", "points", "member_id"],
            unique=False,
        )
