"""Core members (state and hysteresis counters) and the evaluations made per community.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 03:49:10.255206
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_evaluations",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column(
            "evaluation",
            sa.String(length=32),
            nullable=False,
            comment="a local date, or a request id",
        ),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("core_count", sa.Integer(), nullable=False),
        sa.Column(
            "evaluated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "community_id", "evaluation", name=op.f("pk_core_evaluations")
        ),
    )
    op.create_table(
        "core_members",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("core", sa.Boolean(), nullable=False),
        sa.Column("streak_in", sa.Integer(), nullable=False),
        sa.Column("streak_out", sa.Integer(), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "community_id", "member_id", name=op.f("pk_core_members")
        ),
    )


def downgrade() -> None:
    op.drop_table("core_members")
    op.drop_table("core_evaluations")
