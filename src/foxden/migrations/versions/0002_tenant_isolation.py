"""tenant isolation: trusted accounts, project sandbox rights, worker trust, lease blobs, sessions

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("trusted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("projects") as batch:
        batch.add_column(
            sa.Column("allow_network", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("allow_scripts", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("workers") as batch:
        batch.add_column(
            sa.Column("sandboxed", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("approved", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_table(
        "lease_blobs",
        sa.Column("lease_id", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lease_id"],
            ["leases.id"],
            name=op.f("fk_lease_blobs_lease_id_leases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lease_id", "hash", name=op.f("pk_lease_blobs")),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_web_sessions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    op.create_index(
        op.f("ix_web_sessions_account_id"), "web_sessions", ["account_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_web_sessions_account_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("lease_blobs")
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("approved")
        batch.drop_column("sandboxed")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("allow_scripts")
        batch.drop_column("allow_network")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("trusted")
