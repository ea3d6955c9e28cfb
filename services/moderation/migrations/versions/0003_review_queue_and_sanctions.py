"""The review queue, strikes, sanctions and the append-only audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "review_items",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("decision_id", _ID, nullable=False),
        sa.Column("subject_event_id", sa.String(length=64), nullable=False),
        sa.Column("auto_verdict", sa.String(length=16), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=256), nullable=True),
        sa.Column("message_id", sa.String(length=256), nullable=True),
        sa.Column("platform_user_id", sa.String(length=256), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("final_verdict", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("overturned", sa.Boolean(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        sa.UniqueConstraint("tenant_id", "decision_id", name="uq_review_items_decision"),
    )
    op.create_index(
        "ix_review_items_queue",
        "review_items",
        ["tenant_id", "status", "community_id", "id"],
        unique=False,
    )
    op.create_table(
        "strikes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("subject_event_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("given_by", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strikes")),
        sa.UniqueConstraint("tenant_id", "subject_event_id", name="uq_strikes_subject"),
    )
    op.create_index(
        "ix_strikes_author",
        "strikes",
        ["tenant_id", "community_id", "author", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "sanctions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("platform_user_id", sa.String(length=256), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("strikes", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.String(length=64), nullable=False),
        sa.Column("subject_event_id", sa.String(length=64), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanctions")),
        sa.UniqueConstraint("tenant_id", "subject_event_id", name="uq_sanctions_subject"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("decision_id", _ID, nullable=True),
        sa.Column("subject_event_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        "ix_audit_log_community", "audit_log", ["tenant_id", "community_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_audit_log_community", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("sanctions")
    op.drop_index("ix_strikes_author", table_name="strikes")
    op.drop_table("strikes")
    op.drop_index("ix_review_items_queue", table_name="review_items")
    op.drop_table("review_items")
