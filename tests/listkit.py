"""A fast path to a farm of many tasks for the list tests: task rows and their frames written
with SQL (what a submit writes, without the scene checks), with done frames that have times."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import insert, select

from foxden.db.engine import Database
from foxden.db.schema import accounts, frames, projects, tasks, workers
from foxden.farm.projects import create_project

#: the statuses the filled tasks take in turn
STATUSES = ("done", "failed", "rendering", "queued", "stopped", "aborted", "done")


def account_id(db: Database, name: str) -> int:
    """The id of the account called `name`."""
    with db.read() as conn:
        return int(conn.execute(select(accounts.c.id).where(accounts.c.name == name)).scalar_one())


def fill(
    db: Database, account: int, count: int, frames_each: int = 4, project: str = "p"
) -> list[int]:
    """`count` tasks of `account` (in project `project`, made when missing), `frames_each`
    frames each, statuses in turn from `STATUSES`; half the frames of a started task are done
    on a worker of 8 cores and 2 slots. Returns their ids in submission order."""
    now = time.time()
    with db.read() as conn:
        project_id = conn.execute(
            select(projects.c.id).where(
                (projects.c.account_id == account) & (projects.c.name == project)
            )
        ).scalar()
    if project_id is None:
        project_id = create_project(db, account, project).project_id
    with db.write() as conn:
        worker_id = conn.execute(
            insert(workers).values(
                name="filler",
                token_hash=uuid.uuid4().hex,
                software=[],
                software_keys=[],
                cores=8,
                slots=2,
                registered_at=now,
                last_seen=now,
                gpus=[],
                tags=[],
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        ids: list[int] = []
        for i in range(count):
            status = STATUSES[i % len(STATUSES)]
            done = 0 if status == "queued" else frames_each // 2
            rest = frames_each - done
            left = {
                "n_waiting": rest if status in ("queued", "rendering") else 0,
                "n_failed": rest if status == "failed" else 0,
                "n_stopped": rest if status == "stopped" else 0,
                "n_aborted": rest if status == "aborted" else 0,
                "n_done": done + (rest if status == "done" else 0),
            }
            row: dict[str, Any] = {
                "account_id": account,
                "project_id": project_id,
                "project_name": project,
                "cg_soft_name": "blender 4.2",
                "plugin_name": "",
                "job_type": "blender",
                "software_key": "blender-4.2",
                "scene_path": f"/v/p/shot{i}.blend",
                "frames_spec": f"1-{frames_each}",
                "artist": f"artist{i % 3}",
                "options": {"n": i},
                "warnings": [],
                "output_folder": f"shot{i}",
                "status": status,
                "frame_count": frames_each,
                "n_running": 0,
                "submit_time": now - count + i,
                "start_time": None if status == "queued" else now - count + i,
                "completed_time": now if status in ("done", "failed", "aborted") else None,
                "failure_summary": f"{rest} of {frames_each} frames failed: boom"
                if status == "failed"
                else "",
                **left,
            }
            inserted = conn.execute(insert(tasks).values(**row)).inserted_primary_key
            task_id = int(inserted[0])  # type: ignore[index]
            ids.append(task_id)
            n_done = left["n_done"]
            frame_status = {"queued": "waiting", "rendering": "waiting", "done": "done"}
            conn.execute(
                insert(frames),
                [
                    {
                        "task_id": task_id,
                        "number": n,
                        "status": "done" if n <= n_done else frame_status.get(status, status),
                        "attempts": 1 if n <= n_done else 0,
                        "worker_id": worker_id if n <= n_done else None,
                        "progress": 1.0 if n <= n_done else 0.0,
                        "start_time": now - 100 + n if n <= n_done else None,
                        "end_time": now - 90 + n if n <= n_done else None,
                        "render_time": 9.0 if n <= n_done else None,
                        "error": "boom" if status == "failed" and n > n_done else "",
                    }
                    for n in range(1, frames_each + 1)
                ],
            )
    return ids
