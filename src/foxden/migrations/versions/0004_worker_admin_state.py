"""workers.admin_state: administrators drain or disable a worker

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(
            sa.Column("admin_state", sa.String(length=16), nullable=False, server_default="active")
        )


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("admin_state")
