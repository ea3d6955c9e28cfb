"""Sanction results, appeals, member reports, the recent-message window, conflict alerts;
where a decided message is (platform, message id, author's platform id).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _result_columns() -> list[sa.Column]:
    return [
        sa.Column("result", sa.String(length=32), nullable=True),
        sa.Column("result_detail", sa.String(length=500), nullable=True),
        sa.Column("result_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    op.add_column("decisions", sa.Column("platform", sa.String(length=32), nullable=True))
    op.add_column("decisions", sa.Column("message_id", sa.String(length=256), nullable=True))
    op.add_column("decisions", sa.Column("platform_user_id", sa.String(length=256), nullable=True))
    op.add_column("sanctions", sa.Column("platform", sa.String(length=32), nullable=True))
    op.add_column("sanctions", sa.Column("channel_id", sa.String(length=256), nullable=True))
    for column in _result_columns():
        op.add_column("sanctions", column)
    op.create_index("ix_sanctions_action", "sanctions", ["action_id"], unique=False)
    op.create_table(
        "appeals",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("sanction_id", _ID, nullable=False),
        sa.Column("statement", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _created_at(),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("action_id", sa.String(length=64), nullable=True),
        *_result_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
        sa.UniqueConstraint("tenant_id", "sanction_id", name="uq_appeals_sanction"),
    )
    op.create_index("ix_appeals_action", "appeals", ["action_id"], unique=False)
    op.create_table(
        "reports",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("subject_event_id", sa.String(length=64), nullable=False),
        sa.Column("reporter", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint(
            "tenant_id", "subject_event_id", "reporter", name="uq_reports_reporter"
        ),
    )
    op.create_table(
        "recent_messages",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("subject_event_id", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("scope", sa.String(length=600), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
        sa.Column("author_ids", sa.JSON(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("channel_id", sa.String(length=256), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("toxicity", sa.Float(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recent_messages")),
        sa.UniqueConstraint("tenant_id", "subject_event_id", name="uq_recent_messages_subject"),
    )
    op.create_index(
        "ix_recent_messages_community",
        "recent_messages",
        ["tenant_id", "community_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_recent_messages_scope",
        "recent_messages",
        ["tenant_id", "community_id", "scope", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "conflict_alerts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=700), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflict_alerts")),
        sa.UniqueConstraint(
            "tenant_id",
            "community_id",
            "kind",
            "scope",
            "bucket",
            name="uq_conflict_alerts_bucket",
        ),
    )


def downgrade() -> None:
    op.drop_table("conflict_alerts")
    op.drop_index("ix_recent_messages_scope", table_name="recent_messages")
    op.drop_index("ix_recent_messages_community", table_name="recent_messages")
    op.drop_table("recent_messages")
    op.drop_table("reports")
    op.drop_index("ix_appeals_action", table_name="appeals")
    op.drop_table("appeals")
    op.drop_index("ix_sanctions_action", table_name="sanctions")
    for name in ("result_at", "result_detail", "result", "channel_id", "platform"):
        op.drop_column("sanctions", name)
    for name in ("platform_user_id", "message_id", "platform"):
        op.drop_column("decisions", name)
