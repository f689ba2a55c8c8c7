"""the claim's candidate query and the status-filtered task lists and counts use indexes

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_tasks_waiting_software",
        "tasks",
        ["software_key", "status"],
        unique=False,
        sqlite_where=sa.text("n_waiting > 0"),
        postgresql_where=sa.text("n_waiting > 0"),
    )
    op.create_index(
        "ix_tasks_running_account",
        "tasks",
        ["account_id"],
        unique=False,
        sqlite_where=sa.text("n_running > 0"),
        postgresql_where=sa.text("n_running > 0"),
    )
    op.create_index(
        "ix_tasks_account_status", "tasks", ["account_id", "status", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_account_status", table_name="tasks")
    op.drop_index("ix_tasks_running_account", table_name="tasks")
    op.drop_index("ix_tasks_waiting_software", table_name="tasks")
