"""Migrations build exactly the declared schema on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, insert, select

from foxden.db.engine import Database
from foxden.db.migrate import upgrade
from foxden.db.schema import metadata, tasks


def test_migrations_match_the_declared_schema(db_url: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db)
        upgrade(db)  # idempotent
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        db.dispose()


def test_migration_0005_summarizes_tasks_that_failed_before_it(db_url: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db, "0004")  # a farm from before failures were summarized
        with db.write() as conn:
            old = MetaData()
            old_tasks = Table("tasks", old, autoload_with=conn)
            old_frames = Table("frames", old, autoload_with=conn)
            old_accounts = Table("accounts", old, autoload_with=conn)  # as it was at 0004
            account = conn.execute(
                insert(old_accounts).values(
                    name="a",
                    key_hash="k",
                    is_admin=False,
                    disabled=False,
                    email="",
                    created_at=0.0,
                    trusted=False,
                )
            ).inserted_primary_key[0]
            common = {
                "account_id": account,
                "project_name": "p",
                "cg_soft_name": "blender 3.4",
                "plugin_name": "",
                "job_type": "blender",
                "software_key": "blender 3.4",
                "scene_path": "/v/a.blend",
                "frames_spec": "1-4",
                "render_layer": "",
                "camera": "",
                "artist": "",
                "options": {},
                "warnings": [],
                "priority": 0,
                "chunk_size": 1,
                "max_attempts": 3,
                "output_folder": "",
                "status": "failed",
                "frame_count": 4,
                "submit_time": 0.0,
                **{f"n_{s}": 0 for s in ("waiting", "running", "stopped", "aborted")},
            }
            failed = conn.execute(insert(old_tasks).values(**common, n_failed=3, n_done=1))
            fine = conn.execute(insert(old_tasks).values(**common, n_failed=0, n_done=4))
            task_id = failed.inserted_primary_key[0]
            crash = "Blender exited with signal 11 (SIGSEGV): Blender crashed\nmore"
            for number, status, error in [
                (1, "failed", crash),
                (2, "failed", crash),
                (3, "failed", "Blender exited with status 1: camera 'X' not found"),
                (4, "done", ""),
            ]:
                conn.execute(
                    insert(old_frames).values(
                        task_id=task_id,
                        number=number,
                        status=status,
                        error=error,
                        attempts=1,
                        progress=0.0,
                    )
                )
        upgrade(db)
        with db.read() as conn:
            summaries = dict(conn.execute(select(tasks.c.id, tasks.c.failure_summary)).all())
        crashed = "Blender exited with signal 11 (SIGSEGV): Blender crashed"
        assert summaries == {
            task_id: f"3 of 4 frames failed: {crashed}",
            fine.inserted_primary_key[0]: "",
        }
    finally:
        db.dispose()


def test_upgrading_a_first_release_farm_keeps_every_row(db_url: str) -> None:
    """A farm made by the first release (0001) keeps its accounts, projects, tasks, frames and
    workers through every migration (on SQLite a batch copy of a parent table once deleted its
    children through ON DELETE CASCADE), and foreign keys are enforced again afterwards."""
    import pytest
    from sqlalchemy import func
    from sqlalchemy.exc import IntegrityError

    db = Database(db_url)
    names = ("accounts", "projects", "tasks", "frames", "workers", "files", "blobs")
    try:
        upgrade(db, "0001")
        with db.write() as conn:
            old = MetaData()
            t = {name: Table(name, old, autoload_with=conn) for name in names}
            conn.execute(
                insert(t["accounts"]).values(
                    id=1,
                    name="a",
                    key_hash="k",
                    is_admin=False,
                    disabled=False,
                    email="",
                    created_at=0.0,
                )
            )
            conn.execute(
                insert(t["projects"]).values(
                    id=1,
                    account_id=1,
                    name="p",
                    path="",
                    remark="",
                    render_os="linux",
                    created_at=0.0,
                )
            )
            conn.execute(insert(t["blobs"]).values(hash="h" * 64, size=1, created_at=0.0))
            conn.execute(
                insert(t["files"]).values(
                    account_id=1,
                    path="/a.blend",
                    hash="h" * 64,
                    size=1,
                    mtime=0.0,
                    updated_at=0.0,
                )
            )
            conn.execute(
                insert(t["tasks"]).values(
                    id=1,
                    account_id=1,
                    project_id=1,
                    project_name="p",
                    cg_soft_name="blender 3.4",
                    plugin_name="",
                    job_type="blender",
                    software_key="blender 3.4",
                    scene_path="/a.blend",
                    frames_spec="1",
                    render_layer="",
                    camera="",
                    artist="",
                    options={},
                    warnings=[],
                    priority=0,
                    chunk_size=1,
                    max_attempts=3,
                    output_folder="1_a",
                    status="queued",
                    frame_count=1,
                    n_waiting=1,
                    n_running=0,
                    n_done=0,
                    n_failed=0,
                    n_stopped=0,
                    n_aborted=0,
                    submit_time=0.0,
                )
            )
            conn.execute(
                insert(t["frames"]).values(
                    task_id=1, number=1, status="waiting", attempts=0, progress=0.0, error=""
                )
            )
            conn.execute(
                insert(t["workers"]).values(
                    name="w",
                    token_hash="t",
                    software=[],
                    software_keys=[],
                    cores=1,
                    memory_mb=0,
                    gpus=[],
                    tags=[],
                    slots=1,
                    status="idle",
                    registered_at=0.0,
                    last_seen=0.0,
                )
            )
        upgrade(db)
        with db.read() as conn:
            now = MetaData()
            counts = {
                name: conn.execute(
                    select(func.count()).select_from(Table(name, now, autoload_with=conn))
                ).scalar_one()
                for name in names
            }
        assert counts == dict.fromkeys(names, 1)
        with pytest.raises(IntegrityError), db.write() as conn:  # foreign keys on again
            conn.execute(
                insert(Table("frames", MetaData(), autoload_with=conn)).values(
                    task_id=999, number=1, status="waiting", attempts=0, progress=0.0, error=""
                )
            )
    finally:
        db.dispose()
