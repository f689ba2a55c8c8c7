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
    _summarize_failed_tasks()


def _summarize_failed_tasks() -> None:
    """Tasks that have failed frames already get a plain summary: how many failed, and the
    most frequent error's first line (a frame's next failure writes the grouped one)."""
    conn = op.get_bind()
    failed = conn.execute(
        sa.text("SELECT id, frame_count, n_failed FROM tasks WHERE n_failed > 0")
    ).all()
    for task_id, frame_count, n_failed in failed:
        error = conn.execute(
            sa.text(
                "SELECT error FROM frames WHERE task_id = :task_id AND status = 'failed' "
                "GROUP BY error ORDER BY count(*) DESC, error LIMIT 1"
            ),
            {"task_id": task_id},
        ).scalar()
        lines = [x.strip() for x in str(error or "").splitlines() if x.strip()]
        reason = (lines[0] if lines else "no error reported")[:240]
        noun = "frame" if frame_count == 1 else "frames"
        conn.execute(
            sa.text("UPDATE tasks SET failure_summary = :summary WHERE id = :task_id"),
            {"summary": f"{n_failed} of {frame_count} {noun} failed: {reason}", "task_id": task_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("failure_summary")
    with op.batch_alter_table("frames") as batch:
        batch.drop_column("failure_category")
