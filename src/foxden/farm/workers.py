"""Render nodes: joining the farm, worker tokens, and what software the farm offers."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, TypedDict

from sqlalchemy import Connection, func, select, update

from foxden.core.software import display_name, offered_keys, software_key
from foxden.core.states import LOCKED_OUT, FrameStatus, LeaseState, WorkerMode, WorkerState
from foxden.db.engine import Database, new_id
from foxden.db.schema import frames, leases, tasks, workers
from foxden.errors import BadRequest, Conflict, NotFound, Unauthorized
from foxden.farm import failure_memory, scheduler, wakeups
from foxden.farm.caches import TokenCache
from foxden.farm.scheduler import WorkerInfo
from foxden.farm.secrets import hash_secret, matches, new_secret
from foxden.wire.api import (
    CurrentWork,
    SoftwareOut,
    WorkerAdminStateOut,
    WorkerApprovedOut,
    WorkerOut,
    WorkerRevokedOut,
)
from foxden.wire.worker import SoftwareEntry, WorkerRegister


class RegisteredWorker(TypedDict):
    """A worker just admitted: its id, its own token (shown once) and whether it may work."""

    worker_id: int
    token: str
    approved: bool


OFFLINE_AFTER = 300.0  # seconds without contact before a worker's software is no longer offered
#: worker states that offer no software, whenever last seen.
_SIGNED_OFF = (WorkerState.OFFLINE.value, WorkerState.REVOKED.value)


def ensure_join_key(data_dir: Path) -> str:
    """The farm's join key, created on first use and kept in `<data_dir>/join_key`."""
    path = data_dir / "join_key"
    if path.exists():
        return path.read_text().strip()
    return rotate_join_key(data_dir)


def rotate_join_key(data_dir: Path) -> str:
    """Write a new join key to `<data_dir>/join_key` (mode 0600, replaced in one step).

    Running servers on this data dir take it at their next registration (`JoinKey`); workers
    already registered keep their own tokens.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    key = new_secret("fdj")
    tmp = data_dir / f".join_key.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    os.replace(tmp, data_dir / "join_key")
    return key


class JoinKey:
    """The join key of a data dir, read again whenever its file changes (rotation)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "join_key"
        self._lock = threading.Lock()
        self._key = ensure_join_key(data_dir)
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int, int]:
        st = self.path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def current(self) -> str:
        """The key now in the file (the last one read, if the file is missing or empty)."""
        try:
            stamp = self._stat()
        except OSError:
            return self._key
        with self._lock:
            if stamp != self._stamp:
                key = self.path.read_text().strip()
                if key:
                    self._key, self._stamp = key, stamp
            return self._key


def register(
    db: Database,
    join_key: str,
    presented: str | None,
    info: WorkerRegister,
    *,
    approved: bool = True,
) -> RegisteredWorker:
    """Admit a worker that shows the join key; returns its id and its own token.

    `approved=False` (the server's approval mode) registers it waiting: it gets no work until
    an administrator approves it.
    """
    if not presented or not matches(presented, hash_secret(join_key)):
        raise Unauthorized(
            "wrong join key: give the key from the server's data directory (join_key)"
        )
    keys: list[str] = []
    for soft in info.software:
        if not soft.name:
            raise BadRequest("each software entry needs a name")
        keys.extend(offered_keys(soft.name, soft.version))
    token = new_secret("fdw")
    now = time.time()
    with db.write() as conn:
        worker_id = new_id(
            conn.execute(
                workers.insert().values(
                    name=(info.name or "worker")[:128],
                    token_hash=hash_secret(token),
                    software=[s.model_dump() for s in info.software],
                    software_keys=sorted(set(keys)),
                    cores=info.cores or 1,
                    memory_mb=info.memory_mb,
                    gpus=info.gpus,
                    tags=info.tags,
                    slots=info.slots or 1,
                    status=WorkerState.IDLE.value,
                    registered_at=now,
                    last_seen=now,
                    sandboxed=info.sandboxed,
                    approved=approved,
                )
            )
        )
    return RegisteredWorker(worker_id=worker_id, token=token, approved=approved)


def authenticate(
    db: Database, token: str | None, tokens: TokenCache[WorkerInfo] | None = None
) -> WorkerInfo:
    """The worker holding `token` (a worker token is good for worker endpoints only).

    With `tokens` (the farm's cache), answers are kept for a few seconds: workers call several
    times a second. A revocation elsewhere is caught by the claim, heartbeat and report
    transactions, which refuse a revoked worker whatever a cache says (`scheduler._admit`).
    """
    if not token:
        raise Unauthorized("missing worker token: register with the join key first")
    digest = hash_secret(token)
    cached = None if tokens is None else tokens.get(digest)
    if cached is not None:
        return cached
    stamp = 0 if tokens is None else tokens.stamp()
    with db.read() as conn:
        row = conn.execute(
            select(
                workers.c.id,
                workers.c.token_hash,
                workers.c.software_keys,
                workers.c.tags,
                workers.c.status,
            ).where(workers.c.token_hash == digest)
        ).first()
    if row is None or not matches(token, row.token_hash) or row.status in LOCKED_OUT:
        raise Unauthorized("unknown worker token: register again with the join key")
    info = WorkerInfo(
        id=row.id, software_keys=tuple(row.software_keys or ()), tags=frozenset(row.tags or ())
    )
    if tokens is not None:
        tokens.put(digest, info.id, info, stamp)
    return info


def revoke(
    db: Database, worker_id: int, tokens: TokenCache[WorkerInfo] | None = None
) -> WorkerRevokedOut:
    """Take a worker's token away for good and put its running frames back in the queue.

    Its token gets 401 at once; it may join again only with the join key (rotate the key first
    to shut the machine out). Its leases are released (no attempt spent), so another worker
    can render their frames at once.
    """
    with db.write() as conn:
        found = conn.execute(
            update(workers)
            .where(workers.c.id == worker_id)
            .values(status=WorkerState.REVOKED.value, token_hash=hash_secret(new_secret("revoked")))
        )
    if not found.rowcount:
        raise NotFound(f"no worker {worker_id}")
    if tokens is not None:
        tokens.forget_worker(worker_id)
    released = scheduler.release(db, worker_id)
    return WorkerRevokedOut(
        worker_id=worker_id, status=WorkerState.REVOKED.value, released=released
    )


def approve(
    db: Database, worker_id: int, tokens: TokenCache[WorkerInfo] | None = None
) -> WorkerApprovedOut:
    """Let a worker that waits for approval take work."""
    with db.write() as conn:
        row = conn.execute(select(workers.c.status).where(workers.c.id == worker_id)).first()
        if row is None:
            raise NotFound(f"no worker {worker_id}")
        if row.status == WorkerState.REVOKED:
            raise Conflict(f"worker {worker_id} was revoked: it must join again")
        conn.execute(update(workers).where(workers.c.id == worker_id).values(approved=True))
        _wake_all(conn)
    if tokens is not None:
        tokens.forget_worker(worker_id)
    return WorkerApprovedOut(worker_id=worker_id, approved=True)


def set_admin_state(db: Database, worker_id: int, mode: WorkerMode) -> WorkerAdminStateOut:
    """Drain, disable or reactivate a worker (what an administrator wants of it).

    Draining: it finishes the frames it holds and claims no new work. Disabling: it claims no
    work, and its running frames go back to the queue at once (no attempt spent); the worker
    hears its lease is gone at its next heartbeat and stops rendering. Active: it claims again.
    The claim reads the state in its own transaction, so the change holds from the next claim.
    """
    with db.write() as conn:
        row = conn.execute(select(workers.c.status).where(workers.c.id == worker_id)).first()
        if row is None:
            raise NotFound(f"no worker {worker_id}")
        if row.status in LOCKED_OUT:
            raise Conflict(f"worker {worker_id} was revoked: it must join again")
        conn.execute(
            update(workers).where(workers.c.id == worker_id).values(admin_state=mode.value)
        )
        if mode is WorkerMode.ACTIVE:  # an administrator looked at it: the flag starts again
            failure_memory.clear_flag(conn, worker_id)
            _wake_all(conn)
    released = scheduler.release(db, worker_id) if mode is WorkerMode.DISABLED else 0
    return WorkerAdminStateOut(worker_id=worker_id, admin_state=mode.value, released=released)


def _wake_all(conn: Connection) -> None:
    """A worker may take work again (approved, enabled, un-drained): wake every claim held
    open once this commits. All of them, not a few: the long-poll signal is farm-wide, not per
    worker, so waking the oldest waiters could pass over the very worker that may work now
    (the others found nothing to do before and find nothing now). That costs one claim query
    per idle worker, once per administrator's action: rare, and what idle polling cost every
    couple of seconds before long polls."""
    wakeups.on_commit(conn, None)


def sign_off(db: Database, worker_id: int) -> None:
    """Mark a worker offline (its running frames are released by the caller)."""
    with db.write() as conn:
        conn.execute(
            update(workers)
            .where(workers.c.id == worker_id)
            .values(status=WorkerState.OFFLINE.value)
        )


def list_workers(db: Database) -> list[WorkerOut]:
    """Every worker with its state, software, current work and last heartbeat."""
    now = time.time()
    with db.read() as conn:
        rows = conn.execute(select(workers).order_by(workers.c.id)).mappings().all()
        work = conn.execute(
            select(leases.c.worker_id, leases.c.task_id, func.count(frames.c.id))
            .join(frames, frames.c.lease_id == leases.c.id)
            .where(leases.c.state == LeaseState.ACTIVE.value)
            .group_by(leases.c.worker_id, leases.c.task_id)
        ).all()
        tally = conn.execute(
            select(frames.c.worker_id, frames.c.status, func.count(frames.c.id))
            .where(frames.c.status.in_([FrameStatus.DONE.value, FrameStatus.FAILED.value]))
            .group_by(frames.c.worker_id, frames.c.status)
        ).all()
    finished = {(w_id, status): int(n) for w_id, status, n in tally}
    current: dict[int, list[CurrentWork]] = {}
    for w_id, task_id, n in work:
        current.setdefault(w_id, []).append(CurrentWork(task_id=task_id, frames=n))
    out = []
    for r in rows:
        status = r["status"]
        if status not in _SIGNED_OFF and now - r["last_seen"] > OFFLINE_AFTER:
            status = WorkerState.OFFLINE.value
        elif status == WorkerState.BUSY and r["id"] not in current:
            status = WorkerState.IDLE.value  # its leases ended since it last called
        out.append(
            WorkerOut(
                id=r["id"],
                name=r["name"],
                status=status,
                software=[SoftwareEntry.model_validate(s) for s in r["software"]],
                cores=r["cores"],
                memory_mb=r["memory_mb"],
                gpus=r["gpus"],
                tags=r["tags"],
                slots=r["slots"],
                registered_at=r["registered_at"],
                last_seen=r["last_seen"],
                current_work=current.get(r["id"], []),
                sandboxed=bool(r["sandboxed"]),
                approved=bool(r["approved"]),
                admin_state=r["admin_state"],
                frames_done=finished.get((r["id"], FrameStatus.DONE.value), 0),
                frames_failed=finished.get((r["id"], FrameStatus.FAILED.value), 0),
                failure_streak=r["failure_streak"],
                flagged=bool(r["flagged"]),
            )
        )
    return out


def _recent(db: Database, column: Any) -> list[Any]:
    """`column` of every worker seen in the last OFFLINE_AFTER seconds and not signed off."""
    cutoff = time.time() - OFFLINE_AFTER
    with db.read() as conn:
        query = select(column).where(
            (workers.c.last_seen >= cutoff)
            & workers.c.status.not_in(_SIGNED_OFF)
            & workers.c.approved
        )
        return list(conn.execute(query).scalars())


def software_on_offer(db: Database) -> list[SoftwareOut]:
    """Software (and plugins) that workers seen recently can run, as plugin-config choices."""
    offer: dict[str, set[str]] = {}
    for software in _recent(db, workers.c.software):
        for soft in software or []:
            name = display_name(str(soft["name"]), str(soft.get("version", "")))
            offer.setdefault(name, set()).update(str(p) for p in soft.get("plugins") or [])
    return [
        SoftwareOut(cg_soft_name=name, plugins=sorted(plugins))
        for name, plugins in sorted(offer.items())
    ]


def software_available(db: Database, cg_soft_name: str) -> bool:
    """Whether some recently seen worker can run `cg_soft_name`."""
    wanted = software_key(cg_soft_name)
    return any(wanted in (keys or []) for keys in _recent(db, workers.c.software_keys))


def queue_depth(db: Database) -> dict[str, int]:
    """Frames waiting and running across the farm (for autoscalers)."""
    with db.read() as conn:
        row = conn.execute(
            select(
                func.coalesce(func.sum(tasks.c.n_waiting), 0),
                func.coalesce(func.sum(tasks.c.n_running), 0),
            )
        ).one()
    return {"waiting": int(row[0]), "running": int(row[1])}
