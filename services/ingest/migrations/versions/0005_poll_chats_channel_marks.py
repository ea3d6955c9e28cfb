"""Telegram poll chats and Discord channel marks (gap fill after a lost session).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
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
        "telegram_polls",
        sa.Column("poll_id", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("poll_id", "chat_id", name=op.f("pk_telegram_polls")),
    )
    op.create_table(
        "discord_channel_marks",
        sa.Column("binding_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("last_message_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("binding_id", "channel_id", name=op.f("pk_discord_channel_marks")),
    )


def downgrade() -> None:
    op.drop_table("discord_channel_marks")
    op.drop_table("telegram_polls")
