"""Render nodes: joining the farm, worker tokens, and what software the farm offers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from foxden.db.engine import Database, new_id
from foxden.db.schema import frames, leases, tasks, workers
from foxden.errors import BadRequest, Unauthorized
from foxden.farm.scheduler import WorkerInfo
from foxden.farm.secrets import hash_secret, matches, new_secret
from foxden.farm.software import display_name, offered_keys, software_key

OFFLINE_AFTER = 300.0  # seconds without contact before a worker's software is no longer offered


def ensure_join_key(data_dir: Path) -> str:
    """The farm's join key, created on first use and kept in `<data_dir>/join_key`."""
    path = data_dir / "join_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = new_secret("fdj")
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    return key


def register(
    db: Database, join_key: str, presented: str | None, info: dict[str, Any]
) -> dict[str, Any]:
    """Admit a worker that shows the join key; returns its id and its own token."""
    if not presented or not matches(presented, hash_secret(join_key)):
        raise Unauthorized(
            "wrong join key: give the key from the server's data directory (join_key)"
        )
    software = info.get("software") or []
    keys: list[str] = []
    for soft in software:
        if not soft.get("name"):
            raise BadRequest("each software entry needs a name")
        keys.extend(offered_keys(str(soft["name"]), str(soft.get("version", ""))))
    token = new_secret("fdw")
    now = time.time()
    with db.write() as conn:
        worker_id = new_id(
            conn.execute(
                workers.insert().values(
                    name=str(info.get("name") or "worker")[:128],
                    token_hash=hash_secret(token),
                    software=software,
                    software_keys=sorted(set(keys)),
                    cores=int(info.get("cores") or 1),
                    memory_mb=int(info.get("memory_mb") or 0),
                    gpus=list(info.get("gpus") or []),
                    tags=list(info.get("tags") or []),
                    slots=int(info.get("slots") or 1),
                    status="idle",
                    registered_at=now,
                    last_seen=now,
                )
            )
        )
    return {"worker_id": worker_id, "token": token}


_TOKEN_CACHE: dict[str, tuple[float, WorkerInfo]] = {}
_TOKEN_TTL = 30.0


def authenticate(db: Database, token: str | None) -> WorkerInfo:
    """The worker holding `token` (a worker token is good for worker endpoints only).

    Answers are cached for a few seconds: workers call several times a second.
    """
    if not token:
        raise Unauthorized("missing worker token: register with the join key first")
    digest = hash_secret(token)
    cached = _TOKEN_CACHE.get(digest)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
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
    if row is None or not matches(token, row.token_hash) or row.status == "gone":
        raise Unauthorized("unknown worker token: register again with the join key")
    info = WorkerInfo(
        id=row.id, software_keys=tuple(row.software_keys or ()), tags=frozenset(row.tags or ())
    )
    if len(_TOKEN_CACHE) > 10_000:
        _TOKEN_CACHE.clear()
    _TOKEN_CACHE[digest] = (time.monotonic() + _TOKEN_TTL, info)
    return info


def sign_off(db: Database, worker_id: int) -> None:
    """Mark a worker offline (its running frames are released by the caller)."""
    with db.write() as conn:
        conn.execute(update(workers).where(workers.c.id == worker_id).values(status="offline"))


def list_workers(db: Database) -> list[dict[str, Any]]:
    """Every worker with its state, software, current work and last heartbeat."""
    now = time.time()
    with db.read() as conn:
        rows = conn.execute(select(workers).order_by(workers.c.id)).mappings().all()
        work = conn.execute(
            select(leases.c.worker_id, leases.c.task_id, func.count(frames.c.id))
            .join(frames, frames.c.lease_id == leases.c.id)
            .where(leases.c.state == "active")
            .group_by(leases.c.worker_id, leases.c.task_id)
        ).all()
    current: dict[int, list[dict[str, int]]] = {}
    for w_id, task_id, n in work:
        current.setdefault(w_id, []).append({"task_id": task_id, "frames": n})
    out = []
    for r in rows:
        status = r["status"]
        if status != "offline" and now - r["last_seen"] > OFFLINE_AFTER:
            status = "offline"
        out.append(
            {
                "id": r["id"],
                "name": r["name"],
                "status": status,
                "software": r["software"],
                "cores": r["cores"],
                "memory_mb": r["memory_mb"],
                "gpus": r["gpus"],
                "tags": r["tags"],
                "slots": r["slots"],
                "registered_at": r["registered_at"],
                "last_seen": r["last_seen"],
                "current_work": current.get(r["id"], []),
            }
        )
    return out


def _recent(db: Database, column: Any) -> list[Any]:
    """`column` of every worker seen in the last OFFLINE_AFTER seconds and not signed off."""
    cutoff = time.time() - OFFLINE_AFTER
    with db.read() as conn:
        query = select(column).where(
            (workers.c.last_seen >= cutoff) & (workers.c.status != "offline")
        )
        return list(conn.execute(query).scalars())


def software_on_offer(db: Database) -> list[dict[str, Any]]:
    """Software (and plugins) that workers seen recently can run, as plugin-config choices."""
    offer: dict[str, set[str]] = {}
    for software in _recent(db, workers.c.software):
        for soft in software or []:
            name = display_name(str(soft["name"]), str(soft.get("version", "")))
            offer.setdefault(name, set()).update(str(p) for p in soft.get("plugins") or [])
    return [
        {"cg_soft_name": name, "plugins": sorted(plugins)}
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
