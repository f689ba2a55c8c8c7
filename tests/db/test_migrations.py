"""Migrations build exactly the declared schema on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, insert, select

from foxden.db.engine import Database
from foxden.db.migrate import upgrade
from foxden.db.schema import accounts, metadata, tasks


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
            account = conn.execute(
                insert(accounts).values(name="a", key_hash="k", created_at=0.0)
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
