"""Leases: claiming work, heartbeats, frame reports, releases and expired-lease recovery."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from foxden.core.states import Event, FrameStatus
from foxden.db.engine import Database, new_id
from foxden.db.schema import (
    account_blobs,
    blobs,
    frame_logs,
    frames,
    leases,
    outputs,
    task_inputs,
    tasks,
    workers,
)
from foxden.errors import BadRequest, LeaseLost
from foxden.farm import lifecycle
from foxden.paths import tree_path


@dataclass(frozen=True)
class WorkerInfo:
    """What the scheduler needs to know of a worker."""

    id: int
    software_keys: tuple[str, ...]
    tags: frozenset[str]


def claim(
    db: Database, worker: WorkerInfo, lease_seconds: float, max_frames: int | None = None
) -> dict[str, Any] | None:
    """Give `worker` a chunk of frames under a new lease, or None when there is no work for it.

    This is the core of the scheduler: the highest-priority oldest task that is queued or
    rendering, whose software the worker has and whose required tags it carries, gives its
    lowest waiting frames, up to the task's chunk size. One transaction: `BEGIN IMMEDIATE` on
    SQLite; on PostgreSQL, frames other workers are claiming are skipped (`SKIP LOCKED`).
    """
    if not worker.software_keys:
        return None
    now = time.time()
    with db.write() as conn:
        candidates = conn.execute(
            select(tasks.c.id, tasks.c.chunk_size, tasks.c.options)
            .where(
                tasks.c.status.in_(("queued", "rendering"))
                & (tasks.c.n_waiting > 0)
                & tasks.c.software_key.in_(worker.software_keys)
            )
            .order_by(tasks.c.priority.desc(), tasks.c.id)
            .limit(20)
        ).all()
        for cand in candidates:
            required = set((cand.options or {}).get("tags") or [])
            if not required <= worker.tags:
                continue
            size = cand.chunk_size if max_frames is None else min(cand.chunk_size, max_frames)
            query = (
                select(frames.c.id, frames.c.number)
                .where((frames.c.task_id == cand.id) & (frames.c.status == "waiting"))
                .order_by(frames.c.number)
                .limit(size)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            picked = conn.execute(query).all()
            if not picked:
                continue
            lease_id = new_id(
                conn.execute(
                    insert(leases).values(
                        worker_id=worker.id,
                        task_id=cand.id,
                        state="active",
                        reason="",
                        created_at=now,
                        expires_at=now + lease_seconds,
                    )
                )
            )
            ids = [p.id for p in picked]
            conn.execute(
                update(frames)
                .where(frames.c.id.in_(ids))
                .values(
                    status="running",
                    attempts=frames.c.attempts + 1,
                    lease_id=lease_id,
                    worker_id=worker.id,
                    start_time=now,
                    end_time=None,
                    progress=0.0,
                )
            )
            lifecycle.bump_counts(
                conn, cand.id, {FrameStatus.WAITING: -len(ids), FrameStatus.RUNNING: len(ids)}
            )
            conn.execute(
                update(workers)
                .where(workers.c.id == worker.id)
                .values(status="busy", last_seen=now)
            )
            return _lease_payload(
                conn, lease_id, cand.id, [p.number for p in picked], lease_seconds
            )
        conn.execute(
            update(workers).where(workers.c.id == worker.id).values(status="idle", last_seen=now)
        )
    return None


def _lease_payload(
    conn: Connection, lease_id: int, task_id: int, numbers: list[int], lease_seconds: float
) -> dict[str, Any]:
    task = conn.execute(select(tasks).where(tasks.c.id == task_id)).mappings().one()
    inputs = conn.execute(
        select(task_inputs.c.path, task_inputs.c.hash, task_inputs.c.size).where(
            task_inputs.c.task_id == task_id
        )
    ).all()
    return {
        "lease_id": lease_id,
        "lease_seconds": lease_seconds,
        "frames": numbers,
        "task": {
            "id": task["id"],
            "job_type": task["job_type"],
            "cg_soft_name": task["cg_soft_name"],
            "plugin_name": task["plugin_name"],
            "scene_path": task["scene_path"],
            "render_layer": task["render_layer"],
            "camera": task["camera"],
            "options": task["options"],
            "output_folder": task["output_folder"],
        },
        "inputs": [{"path": i.path, "hash": i.hash, "size": i.size} for i in inputs],
    }


def _active_lease(conn: Connection, lease_id: int, worker_id: int) -> Any:
    row = conn.execute(
        select(
            leases.c.id,
            leases.c.task_id,
            leases.c.state,
            leases.c.reason,
            tasks.c.max_attempts,
            tasks.c.account_id,
        )
        .join(tasks, tasks.c.id == leases.c.task_id)
        .where((leases.c.id == lease_id) & (leases.c.worker_id == worker_id))
    ).first()
    if row is None:
        raise LeaseLost(f"lease {lease_id} is gone (its task was deleted or it never was yours)")
    return row


def heartbeat(
    db: Database,
    worker_id: int,
    lease_id: int,
    lease_seconds: float,
    progress: dict[int, float],
    logs: dict[int, str],
) -> dict[str, Any]:
    """Extend a lease and record progress and log lines; tells the worker to stop when it must."""
    now = time.time()
    with db.write() as conn:
        lease = _active_lease(conn, lease_id, worker_id)
        conn.execute(update(workers).where(workers.c.id == worker_id).values(last_seen=now))
        if lease.state == "revoked":
            return {"action": "stop", "reason": lease.reason or "the task was stopped"}
        if lease.state != "active":
            raise LeaseLost(f"lease {lease_id} is {lease.state}: its frames went back to the queue")
        conn.execute(
            update(leases).where(leases.c.id == lease_id).values(expires_at=now + lease_seconds)
        )
        _record(conn, lease_id, progress, logs, now)
    return {"action": "continue", "lease_seconds": lease_seconds}


def _record(
    conn: Connection, lease_id: int, progress: dict[int, float], logs: dict[int, str], now: float
) -> None:
    if not progress and not logs:
        return
    numbers = set(progress) | set(logs)
    rows = conn.execute(
        select(frames.c.id, frames.c.number, frames.c.attempts).where(
            (frames.c.lease_id == lease_id) & frames.c.number.in_(numbers)
        )
    ).all()
    for r in rows:
        if r.number in progress:
            value = min(max(float(progress[r.number]), 0.0), 1.0)
            conn.execute(update(frames).where(frames.c.id == r.id).values(progress=value))
        text = logs.get(r.number)
        if text:
            conn.execute(
                insert(frame_logs).values(
                    frame_id=r.id, attempt=r.attempts, text=text, created_at=now
                )
            )


def report(
    db: Database, worker_id: int, lease_id: int, results: list[dict[str, Any]]
) -> dict[str, Any]:
    """Record frames done (with outputs) or failed (with the error) under a lease."""
    now = time.time()
    accepted: list[int] = []
    rejected: list[dict[str, Any]] = []
    with db.write() as conn:
        lease = _active_lease(conn, lease_id, worker_id)
        if lease.state not in ("active", "revoked"):
            raise LeaseLost(f"lease {lease_id} is {lease.state}: its frames went back to the queue")
        running = {
            r.number: r
            for r in conn.execute(
                select(frames.c.id, frames.c.number, frames.c.start_time, frames.c.attempts).where(
                    (frames.c.lease_id == lease_id) & (frames.c.status == "running")
                )
            ).all()
        }
        done_vals: dict[int, dict[str, Any]] = {}
        fail_vals: dict[int, dict[str, Any]] = {}
        for res in results:
            number = int(res["frame"])
            frame = running.get(number)
            if frame is None:
                rejected.append(
                    {"frame": number, "reason": "frame is not running under this lease"}
                )
                continue
            if res.get("log"):
                conn.execute(
                    insert(frame_logs).values(
                        frame_id=frame.id,
                        attempt=frame.attempts,
                        text=str(res["log"]),
                        created_at=now,
                    )
                )
            if res["status"] == "done":
                render_time = res.get("render_time")
                if render_time is None:
                    render_time = now - (frame.start_time or now)
                done_vals[frame.id] = {"render_time": float(render_time), "error": ""}
                _file_outputs(conn, lease, frame.id, res.get("outputs") or [], now)
            elif res["status"] == "failed":
                fail_vals[frame.id] = {
                    "error": str(res.get("error") or "the worker reported a failure")[:4000]
                }
            else:
                raise BadRequest(
                    f"frame {number}: status must be 'done' or 'failed', not {res['status']!r}"
                )
            accepted.append(number)
        if done_vals:
            lifecycle.transition(
                conn,
                lease.task_id,
                Event.FINISH,
                frames.c.id.in_(list(done_vals)),
                values=done_vals,
            )
        if fail_vals:
            lifecycle.transition(
                conn,
                lease.task_id,
                Event.FAIL,
                frames.c.id.in_(list(fail_vals)),
                max_attempts=lease.max_attempts,
                values=fail_vals,
            )
        if len(accepted) == len(running) and lease.state == "active":
            conn.execute(update(leases).where(leases.c.id == lease_id).values(state="done"))
        conn.execute(update(workers).where(workers.c.id == worker_id).values(last_seen=now))
    return {"accepted": accepted, "rejected": rejected}


def _file_outputs(
    conn: Connection, lease: Any, frame_id: int, items: list[dict[str, Any]], now: float
) -> None:
    task = conn.execute(select(tasks.c.output_folder).where(tasks.c.id == lease.task_id)).one()
    for item in items:
        digest = str(item["hash"])
        if conn.execute(select(blobs.c.hash).where(blobs.c.hash == digest)).first() is None:
            raise BadRequest(f"output {item.get('name')!r}: blob {digest} was not uploaded first")
        name = tree_path(str(item["name"])).lstrip("/")
        path = f"{task.output_folder}/{name}"
        thumb = item.get("thumbnail")
        conn.execute(
            delete(outputs).where((outputs.c.task_id == lease.task_id) & (outputs.c.path == path))
        )
        conn.execute(
            insert(outputs).values(
                task_id=lease.task_id,
                frame_id=frame_id,
                path=path,
                hash=digest,
                size=int(item["size"]),
                thumb_hash=thumb,
                created_at=now,
            )
        )
        for h in filter(None, (digest, thumb)):
            owned = conn.execute(
                select(account_blobs.c.hash).where(
                    (account_blobs.c.account_id == lease.account_id) & (account_blobs.c.hash == h)
                )
            ).first()
            if owned is None:
                conn.execute(insert(account_blobs).values(account_id=lease.account_id, hash=h))


def release(db: Database, worker_id: int, lease_id: int | None = None) -> int:
    """Give back a worker's running frames (all its leases if `lease_id` is None), no attempt spent."""
    with db.write() as conn:
        query = select(leases.c.id, leases.c.task_id).where(
            (leases.c.worker_id == worker_id) & leases.c.state.in_(("active", "revoked"))
        )
        if lease_id is not None:
            query = query.where(leases.c.id == lease_id)
        count = 0
        for lease in conn.execute(query).all():
            count += len(
                lifecycle.transition(
                    conn, lease.task_id, Event.RELEASE, frames.c.lease_id == lease.id
                )
            )
            conn.execute(update(leases).where(leases.c.id == lease.id).values(state="released"))
    return count


def reap_expired(db: Database, now: float | None = None) -> int:
    """Put the frames of expired leases back in the queue (or fail them after too many tries)."""
    now = time.time() if now is None else now
    moved = 0
    with db.write() as conn:
        query = (
            select(leases.c.id, leases.c.task_id, tasks.c.max_attempts)
            .join(tasks, tasks.c.id == leases.c.task_id)
            .where((leases.c.state == "active") & (leases.c.expires_at < now))
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=leases, skip_locked=True)
        for lease in conn.execute(query).all():
            moved += len(
                lifecycle.transition(
                    conn,
                    lease.task_id,
                    Event.EXPIRE,
                    frames.c.lease_id == lease.id,
                    max_attempts=lease.max_attempts,
                    common={"error": "the worker stopped answering (lease expired)"},
                )
            )
            conn.execute(update(leases).where(leases.c.id == lease.id).values(state="expired"))
    return moved
