"""the vendor's current SDK: signing credentials, replay nonces, task configs, render envs

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("task_timeout_s", sa.Integer(), nullable=True))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("frame_timeout_s", sa.Integer(), nullable=True))
    op.create_table(
        "sdk_keys",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("access_id", sa.String(length=64), nullable=False),
        sa.Column("secret_box", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_sdk_keys_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_sdk_keys")),
        sa.UniqueConstraint("access_id", name=op.f("uq_sdk_keys_access_id")),
    )
    op.create_table(
        "sdk_nonces",
        sa.Column("access_id", sa.String(length=64), nullable=False),
        sa.Column("stamp", sa.BigInteger(), nullable=False),
        sa.Column("nonce", sa.String(length=16), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("access_id", "stamp", "nonce", name=op.f("pk_sdk_nonces")),
    )
    op.create_index(op.f("ix_sdk_nonces_seen_at"), "sdk_nonces", ["seen_at"], unique=False)
    op.create_table(
        "task_configs",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_task_configs_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "name", name=op.f("pk_task_configs")),
    )
    op.create_table(
        "render_envs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("edit_name", sa.String(length=128), nullable=False),
        sa.Column("cg_id", sa.Integer(), nullable=False),
        sa.Column("cg_name", sa.String(length=64), nullable=False),
        sa.Column("cg_version", sa.String(length=64), nullable=False),
        sa.Column("render_layer_type", sa.Integer(), nullable=False),
        sa.Column("render_system", sa.Integer(), nullable=False),
        sa.Column("plugin_ids", sa.JSON(), nullable=False),
        sa.Column("project_path", sa.String(length=1024), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_render_envs_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_render_envs")),
        sa.UniqueConstraint(
            "account_id", "edit_name", name=op.f("uq_render_envs_account_id_edit_name")
        ),
    )


def downgrade() -> None:
    op.drop_table("render_envs")
    op.drop_table("task_configs")
    op.drop_index(op.f("ix_sdk_nonces_seen_at"), table_name="sdk_nonces")
    op.drop_table("sdk_nonces")
    op.drop_table("sdk_keys")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("frame_timeout_s")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("task_timeout_s")
