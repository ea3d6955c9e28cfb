"""The badges members hold (per tier, with their generation) and manual grants' audit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 03:34:58.656681
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "manual_grants",
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False, comment="the API key's id"),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("grant_id", name=op.f("pk_manual_grants")),
    )
    with op.batch_alter_table("manual_grants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_manual_grants_member", ["tenant_id", "community_id", "member_id"], unique=False
        )

    op.create_table(
        "member_badges",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("badge_id", sa.String(length=64), nullable=False),
        sa.Column(
            "tier",
            sa.String(length=16),
            nullable=False,
            comment="bronze, silver, gold; '' untiered",
        ),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column(
            "awarded_at", sa.DateTime(timezone=True), nullable=False, comment="when it was earned"
        ),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "community_id",
            "member_id",
            "badge_id",
            "tier",
            name=op.f("pk_member_badges"),
        ),
    )


def downgrade() -> None:
    op.drop_table("member_badges")
    with op.batch_alter_table("manual_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_manual_grants_member")

    op.drop_table("manual_grants")
