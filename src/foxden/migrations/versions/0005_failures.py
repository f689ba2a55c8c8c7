"""failures that explain themselves: a frame's failure category, a task's failure summary

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("frames") as batch:
        batch.add_column(sa.Column("failure_category", sa.String(length=32), nullable=True))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("failure_summary", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("failure_summary")
    with op.batch_alter_table("frames") as batch:
        batch.drop_column("failure_category")
