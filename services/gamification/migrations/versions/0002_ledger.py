"""The points ledger, rulesets, member totals and the state of content (deleted, removed).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 01:15:08.140472
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
        "communities",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column(
            "first_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id", "community_id", name=op.f("pk_communities")),
    )
    op.create_table(
        "content_refs",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column(
            "ref", sa.String(length=64), nullable=False, comment="sha256 of the content reference"
        ),
        sa.Column("source_event_id", sa.String(length=64), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "community_id", "ref", name=op.f("pk_content_refs")),
    )
    with op.batch_alter_table("content_refs", schema=None) as batch_op:
        batch_op.create_index("ix_content_refs_source", ["source_event_id"], unique=False)

    op.create_table(
        "ledger",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column(
            "event_id",
            sa.String(length=64),
            nullable=False,
            comment="the event that made this entry",
        ),
        sa.Column(
            "source_event_id",
            sa.String(length=64),
            nullable=False,
            comment="the activity that earned",
        ),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False, comment="award, revoke, regrant"),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("giver_member_id", sa.String(length=64), nullable=True),
        sa.Column("earned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger")),
        sa.UniqueConstraint(
            "event_id",
            "source_event_id",
            "rule_id",
            "rule_version",
            name=op.f("uq_ledger_event_id"),
        ),
    )
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_member",
            ["tenant_id", "community_id", "member_id", "earned_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_ledger_period", ["tenant_id", "community_id", "earned_at"], unique=False
        )
        batch_op.create_index("ix_ledger_source", ["source_event_id"], unique=False)

    op.create_table(
        "member_totals",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "community_id", "member_id", name=op.f("pk_member_totals")
        ),
    )
    with op.batch_alter_table("member_totals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_member_totals_rank",
            ["tenant_id", "community_id", "points", "member_id"],
            unique=False,
        )

    op.create_table(
        "moderated",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("source_event_id", sa.String(length=64), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "source_event_id", name=op.f("pk_moderated")),
    )
    op.create_table(
        "rulesets",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id", "community_id", "version", name=op.f("pk_rulesets")),
    )


def downgrade() -> None:
    op.drop_table("rulesets")
    op.drop_table("moderated")
    with op.batch_alter_table("member_totals", schema=None) as batch_op:
        batch_op.drop_index("ix_member_totals_rank")

    op.drop_table("member_totals")
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_source")
        batch_op.drop_index("ix_ledger_period")
        batch_op.drop_index("ix_ledger_member")

    op.drop_table("ledger")
    with op.batch_alter_table("content_refs", schema=None) as batch_op:
        batch_op.drop_index("ix_content_refs_source")

    op.drop_table("content_refs")
    op.drop_table("communities")
