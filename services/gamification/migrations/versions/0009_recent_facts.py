"""The last days of scored activity as the rules saw it, for simulating a candidate ruleset.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 04:07:39.671929
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recent_facts",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False, comment="activity or deletion"),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fact", sa.Text(), nullable=False, comment="the Fact as JSON (no member text)"),
        sa.PrimaryKeyConstraint("tenant_id", "event_id", name=op.f("pk_recent_facts")),
    )
    with op.batch_alter_table("recent_facts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recent_facts_community", ["tenant_id", "community_id", "occurred_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("recent_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_recent_facts_community")

    op.drop_table("recent_facts")
