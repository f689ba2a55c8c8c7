"""scheduling policy: fair share, bands, timeouts, failure memory, dependencies, limits, frame
order, adaptive chunks, webhooks, usage

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (SQLite has it): a batch copy of a parent table would cascade-delete its
    # children's rows on SQLite
    op.add_column(
        "accounts", sa.Column("share", sa.Float(), nullable=False, server_default=sa.text("1"))
    )
    op.add_column("projects", sa.Column("frame_timeout_s", sa.Integer(), nullable=True))
    op.add_column("projects", sa.Column("progress_timeout_s", sa.Integer(), nullable=True))
    op.add_column("tasks", sa.Column("progress_timeout_s", sa.Integer(), nullable=True))
    op.add_column(
        "tasks", sa.Column("band", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )
    op.add_column(
        "tasks",
        sa.Column("blocked_reason", sa.String(length=512), nullable=False, server_default=""),
    )
    op.add_column("tasks", sa.Column("target_chunk_seconds", sa.Float(), nullable=True))
    op.add_column("frames", sa.Column("seq", sa.Integer(), nullable=True))
    op.add_column(
        "workers",
        sa.Column("failure_streak", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column(
        "workers", sa.Column("flagged", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "worker_task_failures",
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_worker_task_failures_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["workers.id"],
            name=op.f("fk_worker_task_failures_worker_id_workers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("worker_id", "task_id", name=op.f("pk_worker_task_failures")),
    )
    op.create_table(
        "task_dependencies",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("depends_on", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["depends_on"],
            ["tasks.id"],
            name=op.f("fk_task_dependencies_depends_on_tasks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_task_dependencies_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "depends_on", name=op.f("pk_task_dependencies")),
    )
    op.create_index(
        "ix_task_dependencies_depends_on", "task_dependencies", ["depends_on"], unique=False
    )
    op.create_table(
        "limits",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("max_running", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_limits")),
    )
    op.create_table(
        "task_limits",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"], ["limits.name"], name=op.f("fk_task_limits_name_limits"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_task_limits_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "name", name=op.f("pk_task_limits")),
    )
    op.create_index("ix_task_limits_name", "task_limits", ["name"], unique=False)
    op.create_table(
        "project_limits",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["limits.name"],
            name=op.f("fk_project_limits_name_limits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_limits_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "name", name=op.f("pk_project_limits")),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_box", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_webhooks_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_webhooks_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index(op.f("ix_webhooks_account_id"), "webhooks", ["account_id"], unique=False)
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.Column("last_error", sa.String(length=512), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_state_next", "webhook_deliveries", ["state", "next_at"], unique=False
    )
    op.create_index(
        "ix_webhook_deliveries_webhook_id", "webhook_deliveries", ["webhook_id"], unique=False
    )
    op.create_table(
        "usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("project_name", sa.String(length=128), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("frame_number", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=True),
        sa.Column("core_seconds", sa.Float(), nullable=False),
        sa.Column("gpu_seconds", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage")),
    )
    op.create_index("ix_usage_account_ended", "usage", ["account_id", "ended_at"], unique=False)
    op.create_index("ix_usage_task", "usage", ["task_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_usage_task", table_name="usage")
    op.drop_index("ix_usage_account_ended", table_name="usage")
    op.drop_table("usage")
    op.drop_index("ix_webhook_deliveries_webhook_id", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_state_next", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_webhooks_account_id"), table_name="webhooks")
    op.drop_table("webhooks")
    op.drop_table("project_limits")
    op.drop_index("ix_task_limits_name", table_name="task_limits")
    op.drop_table("task_limits")
    op.drop_table("limits")
    op.drop_index("ix_task_dependencies_depends_on", table_name="task_dependencies")
    op.drop_table("task_dependencies")
    op.drop_table("worker_task_failures")
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("flagged")
        batch.drop_column("failure_streak")
    with op.batch_alter_table("frames") as batch:
        batch.drop_column("seq")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("target_chunk_seconds")
        batch.drop_column("blocked_reason")
        batch.drop_column("band")
        batch.drop_column("progress_timeout_s")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("progress_timeout_s")
        batch.drop_column("frame_timeout_s")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("share")
