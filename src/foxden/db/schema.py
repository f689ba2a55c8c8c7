"""The farm's tables (SQLAlchemy Core). Alembic migrations in `foxden/migrations` create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("email", String(255), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("login_at", Float),
    # may use privileged job types (`command`): an admin's decision, `foxden account trust`
    Column("trusted", Boolean, nullable=False, default=False, server_default=false()),
    # the vendor SDK's user setting `taskOverTimeSec` (None: the farm's default)
    Column("task_timeout_s", Integer),
    # fair share: the account's weight among accounts competing for render slots (admins set it)
    Column("share", Float, nullable=False, default=1.0, server_default=text("1")),
)

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("path", String(1024), nullable=False, default=""),
    Column("remark", Text, nullable=False, default=""),
    Column("render_os", String(32), nullable=False, default="linux"),
    Column("created_at", Float, nullable=False),
    # set by admins only: the sandbox may reach the network / the scene's scripts may run
    Column("allow_network", Boolean, nullable=False, default=False, server_default=false()),
    Column("allow_scripts", Boolean, nullable=False, default=False, server_default=false()),
    # defaults of the project's tasks: render time per frame / time without progress (seconds)
    Column("frame_timeout_s", Integer),
    Column("progress_timeout_s", Integer),
    UniqueConstraint("account_id", "name"),
)

plugin_configs = Table(
    "plugin_configs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("cg_soft_name", String(128), nullable=False),
    Column("plugin_name", String(512), nullable=False, default=""),
    Column("is_default", Boolean, nullable=False, default=False),
)

blobs = Table(
    "blobs",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
)

account_blobs = Table(
    "account_blobs",
    metadata,
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("hash", ForeignKey("blobs.hash"), primary_key=True),
)

files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("hash", ForeignKey("blobs.hash"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime", Float, nullable=False, default=0.0),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("account_id", "path"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True),
    # an account's tasks: ix_tasks_account_order (newest first) and ix_tasks_account_status (0009)
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", ForeignKey("projects.id", ondelete="SET NULL")),
    Column("project_name", String(128), nullable=False),
    Column("cg_soft_name", String(128), nullable=False),
    Column("plugin_name", String(512), nullable=False, default=""),
    Column("job_type", String(32), nullable=False),
    Column("software_key", String(64), nullable=False),
    Column("scene_path", String(1024), nullable=False),
    Column("frames_spec", Text, nullable=False),
    Column("render_layer", String(128), nullable=False, default=""),
    Column("camera", String(128), nullable=False, default=""),
    Column("artist", String(128), nullable=False, default=""),
    Column("options", JSON, nullable=False, default=dict),
    Column("warnings", JSON, nullable=False, default=list),
    Column("priority", Integer, nullable=False, default=0),
    Column("chunk_size", Integer, nullable=False, default=1),
    Column("max_attempts", Integer, nullable=False, default=3),
    Column("output_folder", String(256), nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("frame_count", Integer, nullable=False),
    Column("n_waiting", Integer, nullable=False, default=0),
    Column("n_running", Integer, nullable=False, default=0),
    Column("n_done", Integer, nullable=False, default=0),
    Column("n_failed", Integer, nullable=False, default=0),
    Column("n_stopped", Integer, nullable=False, default=0),
    Column("n_aborted", Integer, nullable=False, default=0),
    Column("submit_time", Float, nullable=False),
    Column("start_time", Float),
    Column("completed_time", Float),
    # the vendor SDK's per-task timeout (setTaskOverTimeStop), seconds; None: none set
    Column("frame_timeout_s", Integer),
    # seconds without a new progress or log line before the renderer is killed; None: none
    Column("progress_timeout_s", Integer),
    # farm-wide priority band, set by admins only: a higher band is served before fair share
    Column("band", Integer, nullable=False, default=0, server_default=text("0")),
    # why the task waits (a dependency failed or was aborted); "" when it is not blocked
    Column("blocked_reason", String(512), nullable=False, default="", server_default=""),
    # adaptive chunks: the target seconds of one chunk (None: chunk_size as given)
    Column("target_chunk_seconds", Float),
    # "2 of 24 frames failed: ..." (foxden.core.failures.summarize), kept with the counters
    Column("failure_summary", Text, nullable=False, default="", server_default=""),
    # the claim's candidates: tasks with frames waiting, by software (migration 0008)
    Index(
        "ix_tasks_waiting_software",
        "software_key",
        "status",
        sqlite_where=text("n_waiting > 0"),
        postgresql_where=text("n_waiting > 0"),
    ),
    # the running frames per account (fair share) and per limit: tasks with frames running
    Index(
        "ix_tasks_running_account",
        "account_id",
        sqlite_where=text("n_running > 0"),
        postgresql_where=text("n_running > 0"),
    ),
    # an account's tasks filtered by status: lists and counts
    Index("ix_tasks_account_status", "account_id", "status", "id"),
    # an account's tasks in id order: a page of the default list without a sort (0009)
    Index("ix_tasks_account_order", "account_id", "id"),
)

task_inputs = Table(
    "task_inputs",
    metadata,
    Column("task_id", ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("hash", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Index("ix_task_inputs_hash_task", "hash", "task_id"),
)

workers = Table(
    "workers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("software", JSON, nullable=False, default=list),
    Column("software_keys", JSON, nullable=False, default=list),
    Column("cores", Integer, nullable=False, default=1),
    Column("memory_mb", Integer, nullable=False, default=0),
    Column("gpus", JSON, nullable=False, default=list),
    Column("tags", JSON, nullable=False, default=list),
    Column("slots", Integer, nullable=False, default=1),
    Column("status", String(16), nullable=False, default="idle"),
    Column("registered_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    # the worker renders inside its sandbox (false: started with --no-sandbox)
    Column("sandboxed", Boolean, nullable=False, default=True, server_default=true()),
    # false while an admin has not approved it (server started with --approve-workers)
    Column("approved", Boolean, nullable=False, default=True, server_default=true()),
    # what an admin wants of it: active, draining (no new work) or disabled (`WorkerMode`)
    Column("admin_state", String(16), nullable=False, default="active", server_default="active"),
    # frames failed in a row, across tasks (reset by a frame done); flagged for admins at a limit
    Column("failure_streak", Integer, nullable=False, default=0, server_default=text("0")),
    Column("flagged", Boolean, nullable=False, default=False, server_default=false()),
)

leases = Table(
    "leases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("worker_id", ForeignKey("workers.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("task_id", ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("state", String(16), nullable=False),
    Column("reason", String(256), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_leases_state_expires", "state", "expires_at"),
)

lease_blobs = Table(
    "lease_blobs",
    metadata,
    Column("lease_id", ForeignKey("leases.id", ondelete="CASCADE"), primary_key=True),
    Column("hash", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
)  # blobs a worker uploaded for a lease: the only ones its frame reports may name

frames = Table(
    "frames",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("task_id", ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_id", Integer),
    Column("worker_id", Integer),
    Column("progress", Float, nullable=False, default=0.0),
    Column("start_time", Float),
    Column("end_time", Float),
    Column("render_time", Float),
    Column("error", Text, nullable=False, default=""),
    # the category of the error (foxden.core.failures.Category); None: not classified yet
    Column("failure_category", String(32)),
    # the order frames are claimed in (first, last, middle first when asked); None: by number
    Column("seq", Integer),
    UniqueConstraint("task_id", "number"),
    Index(
        "ix_frames_waiting",
        "task_id",
        "number",
        sqlite_where=text("status = 'waiting'"),
        postgresql_where=text("status = 'waiting'"),
    ),
    # the claim's pick: a task's waiting frames in claim order (migration 0007)
    Index(
        "ix_frames_waiting_seq",
        "task_id",
        "seq",
        "number",
        sqlite_where=text("status = 'waiting'"),
        postgresql_where=text("status = 'waiting'"),
    ),
    Index("ix_frames_lease", "lease_id"),
)

frame_logs = Table(
    "frame_logs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("frame_id", ForeignKey("frames.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

outputs = Table(
    "outputs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("task_id", ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("frame_id", ForeignKey("frames.id", ondelete="SET NULL"), index=True),  # 0009
    Column("path", String(1024), nullable=False),
    Column("hash", ForeignKey("blobs.hash"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("thumb_hash", String(64)),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("task_id", "path"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the session id in the cookie
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False, server_default=false()),
)

sdk_keys = Table(
    "sdk_keys",
    metadata,
    # one SDK credential per account: the vendor SDK signs with the secret, so the server keeps
    # it encrypted (Fernet, key in the data dir), unlike access keys, which are only hashed
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("access_id", String(64), nullable=False, unique=True),
    Column("secret_box", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
sdk_nonces = Table(
    "sdk_nonces",
    metadata,
    # signed requests seen inside the replay window: (access id, timestamp, nonce) is used once
    Column("access_id", String(64), primary_key=True),
    Column("stamp", BigInteger, primary_key=True),
    Column("nonce", String(16), primary_key=True),
    Column("seen_at", Float, nullable=False, index=True),
)
task_configs = Table(
    "task_configs",
    metadata,
    # the vendor SDK's config files of a task: task.json, upload.json, asset.json, tips.json
    Column("task_id", ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("content", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)
render_envs = Table(
    "render_envs",
    metadata,
    # the vendor SDK's render environments (user plugin configs), per account
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("edit_name", String(128), nullable=False),
    Column("cg_id", Integer, nullable=False),
    Column("cg_name", String(64), nullable=False),
    Column("cg_version", String(64), nullable=False),
    Column("render_layer_type", Integer, nullable=False, default=0),
    Column("render_system", Integer, nullable=False, default=1),
    Column("plugin_ids", JSON, nullable=False, default=list),
    Column("project_path", String(1024), nullable=False, default=""),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("account_id", "edit_name"),
)

worker_task_failures = Table(
    "worker_task_failures",
    metadata,
    # how many frames of a task a worker failed: at the limit it is no longer given the task
    Column("worker_id", ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True),
    Column("task_id", ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_at", Float, nullable=False),
)
task_dependencies = Table(
    "task_dependencies",
    metadata,
    # `task_id` waits until `depends_on` is done
    Column("task_id", ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("depends_on", ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_task_dependencies_depends_on", "depends_on"),
)
limits = Table(
    "limits",
    metadata,
    # a named limit of concurrent frames (a licensed plugin): `foxden limit set arnold 10`
    Column("name", String(64), primary_key=True),
    Column("max_running", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)
task_limits = Table(
    "task_limits",
    metadata,
    Column("task_id", ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("name", ForeignKey("limits.name", ondelete="CASCADE"), primary_key=True),
    Index("ix_task_limits_name", "name"),
)
project_limits = Table(
    "project_limits",
    metadata,
    Column("project_id", ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("name", ForeignKey("limits.name", ondelete="CASCADE"), primary_key=True),
)
webhooks = Table(
    "webhooks",
    metadata,
    # where an account (or one task, when task_id is set) wants its events POSTed
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("task_id", ForeignKey("tasks.id", ondelete="CASCADE")),
    Column("url", String(2048), nullable=False),
    Column("events", JSON, nullable=False, default=list),  # [] = every event
    Column("secret_box", Text, nullable=False),  # the signing secret, encrypted (SecretBox)
    Column("created_at", Float, nullable=False),
)
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("webhook_id", ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", Float, nullable=False),
    Column("last_error", String(512), nullable=False, default=""),
    Column("response_status", Integer),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Index("ix_webhook_deliveries_state_next", "state", "next_at"),
    Index("ix_webhook_deliveries_webhook_id", "webhook_id"),
)
usage = Table(
    "usage",
    metadata,
    # one row per frame attempt that ran: kept when the task is deleted (no foreign keys)
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("project_name", String(128), nullable=False),
    Column("task_id", Integer, nullable=False),
    Column("frame_number", Integer, nullable=False),
    Column("worker_id", Integer),
    Column("core_seconds", Float, nullable=False),
    Column("gpu_seconds", Float, nullable=False, default=0.0),
    Column("ended_at", Float, nullable=False),
    Index("ix_usage_account_ended", "account_id", "ended_at"),
    Index("ix_usage_task", "task_id"),
)
