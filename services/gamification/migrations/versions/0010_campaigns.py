"""Campaigns: their spec, the entries recognised while they run, one vote per member per entry.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 04:08:40.834596
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_entries",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column(
            "entry_id", sa.String(length=64), nullable=False, comment="the entry message's event id"
        ),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("platform_user_id", sa.String(length=128), nullable=False),
        sa.Column(
            "message_ref",
            sa.String(length=64),
            nullable=False,
            comment="sha256 of the message reference",
        ),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("jury_rank", sa.Integer(), nullable=True),
        sa.Column(
            "withdrawn", sa.Boolean(), nullable=False, comment="deleted or removed by moderation"
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "campaign_id", "entry_id", name=op.f("pk_campaign_entries")
        ),
    )
    with op.batch_alter_table("campaign_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaign_entries_message", ["tenant_id", "message_ref"], unique=False
        )

    op.create_table(
        "campaign_votes",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column(
            "message_ref",
            sa.String(length=64),
            nullable=False,
            comment="sha256 of the message voted on (a vote may arrive before its entry)",
        ),
        sa.Column("voter_member_id", sa.String(length=64), nullable=False),
        sa.Column("voted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "campaign_id",
            "message_ref",
            "voter_member_id",
            name=op.f("pk_campaign_votes"),
        ),
    )
    op.create_table(
        "campaigns",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False, comment="CampaignSpec as JSON"),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("winners", sa.Text(), nullable=True, comment="the winners as JSON, once closed"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaigns_running", ["tenant_id", "community_id", "ends_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_running")

    op.drop_table("campaigns")
    op.drop_table("campaign_votes")
    with op.batch_alter_table("campaign_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_entries_message")

    op.drop_table("campaign_entries")
