"""Bindings unique per tenant: a platform space is not first-come across tenants.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bindings") as batch:
        batch.drop_constraint("uq_bindings_platform_external_id", type_="unique")
        batch.create_unique_constraint(
            "uq_bindings_tenant_platform_external_id", ["tenant_id", "platform", "external_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("bindings") as batch:
        batch.drop_constraint("uq_bindings_tenant_platform_external_id", type_="unique")
        batch.create_unique_constraint(
            "uq_bindings_platform_external_id", ["platform", "external_id"]
        )
