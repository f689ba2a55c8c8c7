"""outputs are found by their frame (a page of frames' outputs, deleting frames); tasks by
account through ix_tasks_account_status alone (ix_tasks_account_id was its prefix)

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
    op.drop_index("ix_tasks_account_id", table_name="tasks")


def downgrade() -> None:
    op.create_index("ix_tasks_account_id", "tasks", ["account_id"], unique=False)
    op.drop_index("ix_outputs_frame_id", table_name="outputs")
