"""What each account used: core-seconds and GPU-seconds per frame attempt, and their sums.

`lifecycle` calls `record` in the transaction that ends an attempt (done, failed, expired,
stopped, aborted; a release refunds the attempt, so it is not counted). The rule:

- the attempt's wall time is the render time the worker reported when the frame is done, else
  the time from the attempt's start (or from the end of the frame before it in the same chunk,
  whichever is later) until now;
- core-seconds = wall time x the worker's cores / its slots (a slot's share of the machine);
- GPU-seconds = wall time x the worker's GPUs / its slots, when the task asked for a GPU
  device (`options.device` set and not "CPU"), else 0.

Rows have no foreign keys: they stay when the task, worker or account is deleted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, func, select

from foxden.core.states import Event, FrameStatus
from foxden.db.engine import Database
from foxden.db.hot import Batch, Hot
from foxden.db.schema import accounts, frames, tasks, workers
from foxden.db.schema import usage as usage_rows
from foxden.errors import BadRequest, NotFound
from foxden.farm.estimates import core_seconds

GroupBy = Literal["account", "project", "task"]

_COLUMNS = (
    "account_id",
    "project_name",
    "task_id",
    "frame_number",
    "worker_id",
    "core_seconds",
    "gpu_seconds",
    "ended_at",
)
# the rows of the attempts a transition ends (one per frame, the driver's executemany)
_INSERT = Hot(
    f"INSERT INTO usage ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)})"
)


@dataclass(frozen=True)
class Known:
    """What a caller read already of the task and of the one worker whose lease ends the
    attempts (a report): `record` then reads nothing."""

    account_id: int
    project_name: str
    options: Any  # the task's options (a dict, or its JSON text)
    worker_id: int | None
    cores: int | None  # None: unknown (a worker since deleted), counted as one core
    slots: int | None
    gpus: int  # how many


def record(
    conn: Connection,
    task_id: int,
    event: Event,
    rows: Sequence[Any],
    values: Mapping[int, Mapping[str, Any]] | None,
    now: float,
    known: Known | None = None,
    batch: Batch | None = None,
) -> None:
    """Record one usage row per attempt of `rows` (frames about to move) that `event` ends;
    `known`: the task and the worker of every row, as the caller read them; `batch`: the
    caller's (the INSERT is sent in it)."""
    if event is Event.RELEASE:
        return
    ended = [r for r in rows if r.status == FrameStatus.RUNNING.value]
    if not ended:
        return
    b = batch or Batch(conn, pipelined=False)
    if known is not None:
        _insert(conn, b, task_id, ended, values, now, lambda _frame_id: known)
        return
    b.sync()  # what follows is read through SQLAlchemy
    # one statement for the task and each frame's worker
    found = conn.execute(
        select(
            frames.c.id,
            frames.c.worker_id,
            workers.c.cores,
            workers.c.slots,
            workers.c.gpus,
            tasks.c.account_id,
            tasks.c.project_name,
            tasks.c.options,
        )
        .join(tasks, tasks.c.id == frames.c.task_id)
        .outerjoin(workers, workers.c.id == frames.c.worker_id)
        .where(frames.c.id.in_([r.id for r in ended]))
    ).all()
    if not found:
        return
    task = found[0]
    read = {
        m.id: Known(
            account_id=task.account_id,
            project_name=task.project_name,
            options=task.options,
            worker_id=m.worker_id,
            cores=m.cores,  # None: a worker since deleted, counted as one core
            slots=m.slots,
            gpus=len(m.gpus or []) if m.cores is not None else 0,
        )
        for m in found
    }
    _insert(conn, b, task_id, ended, values, now, lambda frame_id: read.get(frame_id))


def _insert(
    conn: Connection,
    batch: Batch,
    task_id: int,
    ended: Sequence[Any],
    values: Mapping[int, Mapping[str, Any]] | None,
    now: float,
    known_of: Callable[[int], Known | None],
) -> None:
    """`record`'s rows, one INSERT; `known_of(frame id)`: its task and worker (None: the frame
    is gone, no row). Nothing is read unless a frame's time must be taken from its chunk."""
    given = values or {}
    timed = all(given.get(r.id, {}).get("render_time") is not None for r in ended)
    if not timed:
        batch.sync()  # `_chunk_ends` reads through SQLAlchemy
    chunk_ends = {} if timed else _chunk_ends(conn, ended)
    out = []
    gpu_job: bool | None = None  # the task's, the same for every frame: read once
    for r in ended:
        known = known_of(r.id)
        if known is None:
            continue
        if gpu_job is None:
            gpu_job = _uses_gpu(known.options)
        reported = given.get(r.id, {}).get("render_time")
        if reported is not None:
            wall = float(reported)
        else:
            wall = max(now - max(r.start_time or now, chunk_ends.get(r.lease_id, 0.0)), 0.0)
        slots = max(known.slots or 1, 1)
        out.append(
            {
                "account_id": known.account_id,
                "project_name": known.project_name,
                "task_id": task_id,
                "frame_number": r.number,
                "worker_id": known.worker_id,
                "core_seconds": core_seconds(wall, known.cores, slots),
                "gpu_seconds": wall * known.gpus / slots if gpu_job else 0.0,
                "ended_at": now,
            }
        )
    if out:
        batch.send_many(_INSERT, out)


def _uses_gpu(options: Any) -> bool:
    if isinstance(options, str):
        options = json.loads(options or "{}")
    device = options.get("device") if isinstance(options, dict) else None
    return bool(device) and str(device).upper() != "CPU"


def _chunk_ends(conn: Connection, ended: Sequence[Any]) -> dict[int, float]:
    """The latest end of a frame already finished under each lease (frames of a chunk render
    one after another, so the next one's time starts there)."""
    lease_ids = sorted({r.lease_id for r in ended if r.lease_id is not None})
    if not lease_ids:
        return {}
    moving = [r.id for r in ended]
    rows = conn.execute(
        select(frames.c.lease_id, func.max(frames.c.end_time))
        .where(
            frames.c.lease_id.in_(lease_ids)
            & frames.c.end_time.is_not(None)
            & frames.c.id.not_in(moving)
        )
        .group_by(frames.c.lease_id)
    ).all()
    return {int(lease): float(end) for lease, end in rows if end is not None}


@dataclass(frozen=True)
class UsageLine:
    """One line of a usage report: what one account, project or task used."""

    account: str
    project_name: str
    task_id: int | None
    frames: int  # frame attempts counted
    core_seconds: float
    gpu_seconds: float
    fee: float  # core-hours x the farm's rate


def report(
    db: Database,
    *,
    account_id: int | None,
    since: float | None = None,
    by: GroupBy = "account",
    rate_per_core_hour: float = 0.0,
    limit: int = 1000,
) -> list[UsageLine]:
    """Usage summed per account, project or task (one account's, or every account's when
    `account_id` is None: admins), from `since` (a Unix time) on; largest first."""
    if by not in ("account", "project", "task"):
        raise BadRequest(f"usage can be grouped by account, project or task, not {by!r}")
    keys: list[Any] = [usage_rows.c.account_id]
    if by in ("project", "task"):
        keys.append(usage_rows.c.project_name)
    if by == "task":
        keys.append(usage_rows.c.task_id)
    cores = func.sum(usage_rows.c.core_seconds).label("core_seconds")
    query = (
        select(
            *keys,
            func.count().label("n"),
            cores,
            func.sum(usage_rows.c.gpu_seconds).label("gpu_seconds"),
        )
        .group_by(*keys)
        .order_by(cores.desc(), *keys)
        .limit(limit)
    )
    if account_id is not None:
        query = query.where(usage_rows.c.account_id == account_id)
    if since is not None:
        query = query.where(usage_rows.c.ended_at >= since)
    with db.read() as conn:
        rows = conn.execute(query).all()
        names = dict(conn.execute(select(accounts.c.id, accounts.c.name)).all())
    return [
        UsageLine(
            account=str(names.get(r.account_id, f"#{r.account_id} (deleted)")),
            project_name=r.project_name if by != "account" else "",
            task_id=int(r.task_id) if by == "task" else None,
            frames=int(r.n),
            core_seconds=float(r.core_seconds or 0.0),
            gpu_seconds=float(r.gpu_seconds or 0.0),
            fee=fee(float(r.core_seconds or 0.0), rate_per_core_hour),
        )
        for r in rows
    ]


def task_core_seconds(db: Database, account_id: int, task_ids: Sequence[int]) -> dict[int, float]:
    """Core-seconds each of the account's tasks used so far (tasks without usage: absent)."""
    if not task_ids:
        return {}
    with db.read() as conn:
        rows = conn.execute(
            select(usage_rows.c.task_id, func.sum(usage_rows.c.core_seconds))
            .where(
                (usage_rows.c.account_id == account_id)
                & usage_rows.c.task_id.in_(sorted(set(task_ids)))
            )
            .group_by(usage_rows.c.task_id)
        ).all()
    return {int(t): float(s or 0.0) for t, s in rows}


def fees(
    db: Database, account_id: int, task_ids: Sequence[int], rate_per_core_hour: float
) -> dict[int, float]:
    """What each of the account's tasks cost so far at the farm's rate (no usage: absent)."""
    if rate_per_core_hour <= 0:
        return {}
    used = task_core_seconds(db, account_id, task_ids)
    return {task_id: fee(seconds, rate_per_core_hour) for task_id, seconds in used.items()}


def fee(core_seconds: float, rate_per_core_hour: float) -> float:
    """What `core_seconds` cost at the farm's rate per core-hour (rounded to cents)."""
    return round(core_seconds / 3600.0 * rate_per_core_hour, 2)


def account_id_of(db: Database, name: str) -> int:
    """The id of the account called `name` (404 when there is none)."""
    with db.read() as conn:
        found = conn.execute(select(accounts.c.id).where(accounts.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"no account {name!r}: `foxden account list` shows them")
    return int(found)


def parse_since(value: str | None, now: float | None = None) -> float | None:
    """A --since value: a date (2026-11-01), a date and time (ISO 8601, UTC unless it says),
    or an age such as 7d / 12h; None when not given. 400 for anything else."""
    from datetime import UTC, datetime

    if value is None or not value.strip():
        return None
    text = value.strip()
    now = time.time() if now is None else now
    units = {"d": 86400.0, "h": 3600.0}
    if text[-1:] in units and text[:-1].isdigit():
        return now - int(text[:-1]) * units[text[-1]]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"since {text!r} is not a date: give 2026-11-01, 2026-11-01T12:00 or an age (7d, 12h)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
