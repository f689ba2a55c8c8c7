"""outputs are found by their frame (a page of frames' outputs, deleting frames); an account's
tasks newest first without a sort (ix_tasks_account_order replaces ix_tasks_account_id)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outputs_frame_id", "outputs", ["frame_id"], unique=False)
    op.create_index("ix_tasks_account_order", "tasks", ["account_id", "id"], unique=False)
    op.drop_index("ix_tasks_account_id", table_name="tasks")


def downgrade() -> None:
    op.create_index("ix_tasks_account_id", "tasks", ["account_id"], unique=False)
    op.drop_index("ix_tasks_account_order", table_name="tasks")
    op.drop_index("ix_outputs_frame_id", table_name="outputs")
