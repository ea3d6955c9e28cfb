"""Where each identity was seen: the community scope of members.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_communities",
        sa.Column(
            "identity_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint(
            "identity_id", "community_id", name=op.f("pk_identity_communities")
        ),
    )
    op.create_index(
        "ix_identity_communities_community",
        "identity_communities",
        ["tenant_id", "community_id"],
        unique=False,
    )
    # What was received before this revision: an identity counts as seen in the
    # communities where its member acted on its platform.
    op.execute(
        """
        INSERT INTO identity_communities (identity_id, community_id, tenant_id)
        SELECT DISTINCT i.id, r.community_id, r.tenant_id
        FROM received_events r
        JOIN identities i
          ON i.tenant_id = r.tenant_id AND i.member_id = r.member_id
         AND i.platform = r.platform
        """
    )


def downgrade() -> None:
    op.drop_index("ix_identity_communities_community", table_name="identity_communities")
    op.drop_table("identity_communities")
