"""Member merges: which ledger lines a merge moved, so an unmerge moves exactly those back.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 03:45:01.897023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_merges",
        sa.Column(
            "merge_id", sa.String(length=64), nullable=False, comment="derived from the merge event"
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("target_member_id", sa.String(length=64), nullable=False),
        sa.Column("source_member_id", sa.String(length=64), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("merge_id", name=op.f("pk_member_merges")),
    )
    with op.batch_alter_table("member_merges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_member_merges_pair",
            ["tenant_id", "target_member_id", "source_member_id"],
            unique=False,
        )

    op.create_table(
        "merged_lines",
        sa.Column("merge_id", sa.String(length=64), nullable=False),
        sa.Column(
            "line_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("merge_id", "line_id", name=op.f("pk_merged_lines")),
    )


def downgrade() -> None:
    op.drop_table("merged_lines")
    with op.batch_alter_table("member_merges", schema=None) as batch_op:
        batch_op.drop_index("ix_member_merges_pair")

    op.drop_table("member_merges")
