"""Persisting the state machine: the only code that writes a frame or task status.

Every change takes the affected frames' rows (locked on PostgreSQL), asks `foxden.core.states`
which may move and where, updates them, and adjusts the task's per-status counters and its
derived status in the same transaction.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Update, bindparam, func, select, text, update

from foxden.core.failures import summarize
from foxden.core.states import (
    FINISHED,
    Event,
    FrameStatus,
    LeaseState,
    TaskStatus,
    allowed,
    derive_task_status,
    target,
)
from foxden.db.hot import Batch, Hot, Pending
from foxden.db.schema import frames, leases, tasks
from foxden.farm import dependencies, events, movies, usage, wakeups

COUNTER = {s: f"n_{s.value}" for s in FrameStatus}
# the same as pairs, walked once per change (iterating an Enum class is slow)
_COUNTERS = tuple(COUNTER.items())
_COUNTED_VALUES = tuple((s.value, name) for s, name in _COUNTERS)


_BUMP_SQL = Hot(
    "UPDATE tasks SET "
    + ", ".join(f"{c} = {c} + :{c}" for c in COUNTER.values())
    + " WHERE id = :task_id RETURNING status, start_time, completed_time, frame_count, "
    + ", ".join(COUNTER.values())
)


def _claim_move() -> tuple[FrameStatus, FrameStatus]:
    """The CLAIM transition (waiting -> running), checked against the state machine once."""
    source, new = FrameStatus.WAITING, target(Event.CLAIM)
    if not allowed(Event.CLAIM, source) or new is not FrameStatus.RUNNING:
        raise AssertionError(f"the state machine no longer claims {source} frames into running")
    return source, new


#: the status of the frames a claim takes, and the status it gives them.
CLAIM_FROM, CLAIM_TO = _claim_move()

# The claim's hot path: one statement for the chunk (the frames were picked and locked in
# CLAIM_FROM by the caller; the status guard makes a stale pick fail loudly, not silently).
_CLAIM_SET = (
    f"UPDATE frames SET status = '{CLAIM_TO.value}', attempts = attempts + 1, "
    "lease_id = :lease_id, worker_id = :worker_id, start_time = :now, end_time = NULL, "
    "progress = 0 WHERE id IN "
)
_CLAIM_GUARD = f" AND status = '{CLAIM_FROM.value}'"
# the ids as one parameter: a JSON list (SQLite), an array (PostgreSQL)
_CLAIM_FRAMES_SQLITE = Hot(_CLAIM_SET + "(SELECT value FROM json_each(:ids))" + _CLAIM_GUARD)
_CLAIM_FRAMES_PG = Hot(_CLAIM_SET + "(SELECT unnest(CAST(:ids AS INTEGER[])))" + _CLAIM_GUARD)


def lock_frames(conn: Connection, where: ColumnElement[bool]) -> list[Any]:
    """The frames selected by `where`, locked against concurrent change on PostgreSQL."""
    query = (
        select(
            frames.c.id,
            frames.c.task_id,
            frames.c.number,
            frames.c.status,
            frames.c.attempts,
            frames.c.lease_id,
            frames.c.start_time,
        )
        .where(where)
        .order_by(frames.c.id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return list(conn.execute(query).all())


def transition(
    conn: Connection,
    task_id: int,
    event: Event,
    where: ColumnElement[bool] | None = None,
    *,
    rows: Sequence[Any] | None = None,
    max_attempts: int = 1,
    retry: bool = True,
    values: Mapping[int, Mapping[str, Any]] | None = None,
    common: Mapping[str, Any] | None = None,
    known: usage.Known | None = None,
    batch: Batch | None = None,
) -> list[int]:
    """Apply `event` to frames of `task_id` (selected by `where`, or `rows` already locked).

    Returns the moved frame numbers. `values` gives extra column values per frame id (all
    frames given values must share the same columns), `common` values for every moved frame.
    `retry` false fails frames at once on FAIL (a deterministic failure, see `target`).
    `known`: the task and worker as the caller read them (`usage.record` reads nothing then).
    `batch`: the caller's `foxden.db.hot.Batch`: the usage rows, the frames' UPDATE and the
    counters are sent in it, and what reads the counters back runs once its results are in.
    """
    if rows is None:
        if batch is not None:
            batch.sync()
        of_task = frames.c.task_id == task_id
        rows = lock_frames(conn, of_task if where is None else of_task & where)
    rows = [r for r in rows if allowed(event, r.status)]
    if not rows:
        return []
    b = batch or Batch(conn, pipelined=False)
    now = time.time()
    usage.record(conn, task_id, event, rows, values, now, known, b)  # the attempts it ends
    groups: dict[FrameStatus, list[Any]] = {}
    deltas: Counter[FrameStatus] = Counter()
    for r in rows:
        attempts = 0 if event is Event.RESTART else r.attempts
        new = target(event, attempts, max_attempts, retry=retry)
        groups.setdefault(new, []).append(r)
        deltas[FrameStatus(r.status)] -= 1
        deltas[new] += 1
    for new, group in groups.items():
        base: dict[str, Any] = {"status": new.value, **(common or {})}
        if new is not FrameStatus.RUNNING:
            base["lease_id"] = None
        if new in (FrameStatus.DONE, FrameStatus.FAILED):
            base["end_time"] = now
        if new is FrameStatus.DONE:
            base["progress"] = 1.0
        if event is Event.RESTART:
            base.update(
                attempts=0,
                progress=0.0,
                error="",
                failure_category=None,
                start_time=None,
                end_time=None,
                render_time=None,
            )
        if event is Event.RELEASE:
            base["attempts"] = frames.c.attempts - 1
        if values:
            extra = sorted({k for r in group for k in values.get(r.id, {})})
            params = [{f"_v_{k}": values[r.id][k] for k in extra} for r in group]
            stmt, fixed = _per_frame_update(base, extra, params)
            for r, one in zip(group, params, strict=True):
                one.update(_id=r.id, **fixed)
            if isinstance(stmt, Hot):
                b.send_many(stmt, params)
            else:
                b.sync()
                conn.execute(stmt, params)
        else:
            b.sync()
            conn.execute(
                update(frames).where(frames.c.id.in_([r.id for r in group])).values(**base)
            )
    if groups.get(FrameStatus.FAILED):
        b.sync()  # events read through SQLAlchemy
        events.frames_failed(conn, task_id, groups[FrameStatus.FAILED], values, common)
    send_counts(conn, b, task_id, deltas)
    if groups.get(FrameStatus.WAITING):  # back in the queue: wake claims waiting for work
        wakeups.on_commit(conn, len(groups[FrameStatus.WAITING]))
    return [r.number for r in rows]


_PER_FRAME: dict[tuple[tuple[str, ...], tuple[str, ...]], Hot] = {}
_PLAIN = (int, float, str, bool, type(None))  # what a `Hot` statement's driver takes as it is


def _per_frame_update(
    base: Mapping[str, Any], extra: Sequence[str], params: Sequence[Mapping[str, Any]]
) -> tuple[Hot | Update, dict[str, Any]]:
    """The UPDATE of `transition` with values per frame (`params`: each frame's), and the
    parameters its `base` values take: a `Hot` statement made once per shape of columns (a
    report's hot path) when every value is a plain one; an expression in `base` (a release's
    attempts) or a value of another type makes a SQLAlchemy statement of its own."""
    plain = all(type(v) in _PLAIN for v in base.values()) and all(
        type(v) in _PLAIN for one in params for v in one.values()
    )
    if not plain:
        stmt = (
            update(frames)
            .where(frames.c.id == bindparam("_id"))
            .values(
                **{
                    k: v if isinstance(v, ColumnElement) else bindparam(f"_b_{k}")
                    for k, v in base.items()
                },
                **{k: bindparam(f"_v_{k}") for k in extra},
            )
        )
        return stmt, {f"_b_{k}": v for k, v in base.items() if not isinstance(v, ColumnElement)}
    key = (tuple(sorted(base)), tuple(extra))
    known = _PER_FRAME.get(key)
    if known is None:
        sets = [f"{k} = :_b_{k}" for k in key[0]] + [f"{k} = :_v_{k}" for k in extra]
        known = Hot(f"UPDATE frames SET {', '.join(sets)} WHERE id = :_id")
        if len(_PER_FRAME) < 64:  # a few shapes: done, failed, each with or without a log
            _PER_FRAME[key] = known
    return known, {f"_b_{k}": v for k, v in base.items()}


_NEW_LEASE_COLUMNS = "leases (worker_id, task_id, state, reason, created_at, expires_at)"
_NEW_LEASE_VALUES = f":worker_id, :task_id, '{LeaseState.ACTIVE.value}', '', :now, :expires"
_NEW_LEASE_SQLITE = Hot(
    f"INSERT INTO {_NEW_LEASE_COLUMNS} VALUES ({_NEW_LEASE_VALUES}) RETURNING id"
)
# PostgreSQL: the lease and its chunk in one statement (one round trip); the frames' foreign
# key to the new lease is checked at the end of the statement, when the lease row is there
_NEW_LEASE_CLAIMING_PG = Hot(
    f"WITH lease AS (INSERT INTO {_NEW_LEASE_COLUMNS} VALUES ({_NEW_LEASE_VALUES}) "
    "RETURNING id), moved AS ("
    + _CLAIM_FRAMES_PG.sql.replace(":lease_id", "(SELECT id FROM lease)")
    + " RETURNING 1) SELECT (SELECT id FROM lease) AS id, (SELECT COUNT(*) FROM moved) AS moved"
)
#: a task's per-status counter columns, for a SELECT list
COUNTS = ", ".join(COUNTER[s] for s in FrameStatus)
_ROW_OF_COUNTS = f"status, start_time, completed_time, frame_count, {COUNTS}"


def claim_frames(
    conn: Connection,
    task_id: int,
    frame_ids: Sequence[int],
    lease_id: int,
    worker_id: int,
    now: float,
) -> None:
    """Apply CLAIM to frames of `task_id` already picked (and locked) in CLAIM_FROM.

    The fast path of `transition()` for the scheduler: one UPDATE for the whole chunk, the
    attempt counted, then the task's counters moved.
    """
    ids = list(frame_ids)
    postgres = conn.dialect.name == "postgresql"
    stmt = _CLAIM_FRAMES_PG if postgres else _CLAIM_FRAMES_SQLITE
    given = ids if postgres else json.dumps(ids)
    moved = stmt.run(conn, {"lease_id": lease_id, "worker_id": worker_id, "now": now, "ids": given})
    _claimed(conn, task_id, moved, len(ids))


def claim_under_new_lease(
    conn: Connection,
    task_id: int,
    frame_ids: Sequence[int],
    worker_id: int,
    now: float,
    expires: float,
) -> int:
    """`claim_frames` under a new lease of `worker_id` that expires at `expires`; returns the
    lease's id. On PostgreSQL the lease's INSERT and the chunk's UPDATE are one statement."""
    ids = list(frame_ids)
    params = {"worker_id": worker_id, "task_id": task_id, "now": now, "expires": expires}
    if conn.dialect.name != "postgresql":
        lease_id = int(_NEW_LEASE_SQLITE.rows(conn, params)[0].id)
        claim_frames(conn, task_id, ids, lease_id, worker_id, now)
        return lease_id
    row = _NEW_LEASE_CLAIMING_PG.rows(conn, {**params, "ids": ids})[0]
    _claimed(conn, task_id, int(row.moved), len(ids))
    return int(row.id)


_CLAIM_NEXT: dict[str, Hot] = {}


def claim_next(
    conn: Connection,
    pick: str,
    params: Mapping[str, Any],
    worker_id: int,
    now: float,
    expires: float,
) -> tuple[int, list[int]] | None:
    """PostgreSQL: the next chunk of task `params["task_id"]` under a new lease of
    `worker_id`, in one statement: the frames `pick` selects (a `SELECT id, number FROM
    frames ... FOR UPDATE SKIP LOCKED` of waiting frames in claim order, with `params`), a new
    lease when it picked any, the frames moved under it (CLAIM) and the task's counters. The
    lease's id and the frame numbers in pick order, or None when it picked nothing.

    The caller holds the task's row (`lock_task`): the farm's lock order, task then lease then
    frames, is kept (the lease row is new)."""
    sent = send_claim_next(Batch(conn, pipelined=False), pick, params, worker_id, now, expires)
    return took_next(conn, int(params["task_id"]), sent)


def send_claim_next(
    batch: Batch,
    pick: str,
    params: Mapping[str, Any],
    worker_id: int,
    now: float,
    expires: float,
) -> Pending:
    """`claim_next`'s statement sent in `batch`; `took_next` reads what it took."""
    hot = _CLAIM_NEXT.get(pick)
    if hot is None:
        hot = _CLAIM_NEXT[pick] = Hot(_claim_next_sql(pick))
    return batch.send(hot, {**params, "worker_id": worker_id, "now": now, "expires": expires})


def took_next(conn: Connection, task_id: int, sent: Pending) -> tuple[int, list[int]] | None:
    """What `send_claim_next` took (as `claim_next`), the task's derived status stored."""
    got = sent.rows()
    if not got:
        return None
    row = got[0]
    if int(row.moved) != len(got):
        raise AssertionError(
            f"claimed {row.moved} of {len(got)} frames: some were not {CLAIM_FROM}"
        )
    _settle(conn, task_id, {CLAIM_FROM: -len(got), CLAIM_TO: len(got)}, row)
    return int(row.lease_id), [int(r.number) for r in got]


def _claim_next_sql(pick: str) -> str:
    """`claim_next`'s statement around the frame pick `pick`."""
    select_picked = "SELECT id, number FROM frames "
    if not pick.startswith(select_picked):
        raise AssertionError(f"claim_next takes a pick that starts {select_picked!r}")
    picked = "SELECT id, number, seq FROM frames " + pick[len(select_picked) :]
    n = "(SELECT COUNT(*) FROM picked)"
    moves = f"{COUNTER[CLAIM_FROM]} = {COUNTER[CLAIM_FROM]} - {n}, {COUNTER[CLAIM_TO]} = {COUNTER[CLAIM_TO]} + {n}"
    return (
        f"WITH picked AS ({picked}), "
        f"lease AS (INSERT INTO {_NEW_LEASE_COLUMNS} SELECT {_NEW_LEASE_VALUES} "
        "WHERE EXISTS (SELECT 1 FROM picked) RETURNING id), "
        "moved AS ("
        + _CLAIM_SET.replace(":lease_id", "(SELECT id FROM lease)")
        + "(SELECT id FROM picked)"
        + _CLAIM_GUARD
        + " RETURNING 1), "
        f"counted AS (UPDATE tasks SET {moves} WHERE id = :task_id "
        f"AND EXISTS (SELECT 1 FROM picked) RETURNING {_ROW_OF_COUNTS}) "
        "SELECT picked.number, lease.id AS lease_id, (SELECT COUNT(*) FROM moved) AS moved, "
        f"{', '.join('counted.' + c.strip() for c in _ROW_OF_COUNTS.split(','))} "
        "FROM picked, lease, counted ORDER BY picked.seq, picked.number"
    )


def _claimed(conn: Connection, task_id: int, moved: int, picked: int) -> None:
    """Check that all `picked` frames of a claim moved, then move the task's counters."""
    if moved != picked:
        raise AssertionError(f"claimed {moved} of {picked} frames: some were not {CLAIM_FROM}")
    bump_counts(conn, task_id, {CLAIM_FROM: -picked, CLAIM_TO: picked})


def bump_counts(conn: Connection, task_id: int, deltas: Mapping[FrameStatus, int]) -> str:
    """Add `deltas` to a task's per-status counters and store its derived status."""
    row = _BUMP_SQL.first(conn, _bump_params(task_id, deltas))
    return _settle(conn, task_id, deltas, row)[0]


def send_counts(
    conn: Connection, batch: Batch, task_id: int, deltas: Mapping[FrameStatus, int]
) -> None:
    """`bump_counts` in `batch`: the counters' UPDATE sent in it, the derived status stored
    once its result is in (`Batch.later`)."""
    pending = batch.send(_BUMP_SQL, _bump_params(task_id, deltas))
    batch.later(lambda: _settle(conn, task_id, deltas, pending.first())[1])


def _bump_params(task_id: int, deltas: Mapping[FrameStatus, int]) -> dict[str, Any]:
    params: dict[str, Any] = {name: int(deltas.get(s, 0)) for s, name in _COUNTERS}
    params["task_id"] = task_id
    return params


def _settle(
    conn: Connection, task_id: int, deltas: Mapping[FrameStatus, int], row: Any
) -> tuple[str, bool]:
    """After the counters of `task_id` moved by `deltas` (`row`: the task's counters and
    status as the UPDATE left them), store its derived status and what goes with it: the
    status, and whether that wrote anything."""
    if row is None:
        raise LookupError(f"task {task_id} is gone")
    status, fix = _fix(row, deltas)
    if deltas.get(FrameStatus.FAILED, 0):
        fix["failure_summary"] = failure_summary(conn, task_id, row.frame_count)
    if fix:
        conn.execute(update(tasks).where(tasks.c.id == task_id).values(**fix))
    if "status" in fix:
        events.task_status(conn, task_id, status.value)  # task_done / task_failed
        # the tasks waiting for it: blocked, or no longer (and woken when it is done)
        dependencies.refresh(conn, task_id, done=status is TaskStatus.DONE)
        if status is TaskStatus.DONE:
            movies.task_done(conn, task_id)  # its movie task gets its frames; a movie is filed
    return status.value, bool(fix)


def _fix(row: Any, deltas: Mapping[FrameStatus, int]) -> tuple[TaskStatus, dict[str, Any]]:
    """The task's derived status from its counters in `row` (moved by `deltas` already), and
    the columns of `row` that must change with it (the failure summary aside)."""
    counts = {value: getattr(row, name) for value, name in _COUNTED_VALUES}
    status = derive_task_status(counts)
    now = time.time()
    fix: dict[str, Any] = {}
    if status.value != row.status:
        fix["status"] = status.value
    if row.start_time is None and deltas.get(FrameStatus.RUNNING, 0) > 0:
        fix["start_time"] = now
    finished = status in FINISHED
    if finished and row.completed_time is None:
        fix["completed_time"] = now
    if not finished and row.completed_time is not None:
        fix["completed_time"] = None
    return status, fix


def settles_quietly(row: Any, deltas: Mapping[FrameStatus, int]) -> bool:
    """Whether moving the counters of a task whose row is `row` (its `status`, `start_time`,
    `completed_time` and counters, read under its lock) by `deltas` writes nothing more: the
    same status, times and failure summary (what `bump_counts` would store)."""
    if deltas.get(FrameStatus.FAILED, 0):
        return False
    moved = {name: getattr(row, name) + int(deltas.get(s, 0)) for s, name in _COUNTERS}
    after = _Counted(row.status, row.start_time, row.completed_time, moved)
    return not _fix(after, deltas)[1]


class _Counted:
    """A task's status, times and counters as `_fix` reads them."""

    def __init__(
        self, status: str, start_time: Any, completed_time: Any, counts: dict[str, int]
    ) -> None:
        self.status = status
        self.start_time = start_time
        self.completed_time = completed_time
        self.__dict__.update(counts)


def failure_summary(conn: Connection, task_id: int, frame_count: int) -> str:
    """The summary of a task's failed frames now ('' when none failed), see
    `foxden.core.failures.summarize`; kept on the task row whenever its failed count moves."""
    rows = conn.execute(
        select(frames.c.failure_category, frames.c.error, func.count().label("n"))
        .where((frames.c.task_id == task_id) & (frames.c.status == FrameStatus.FAILED.value))
        .group_by(frames.c.failure_category, frames.c.error)
        .order_by(func.count().desc())
        .limit(50)
    ).all()
    return summarize(frame_count, [(r.failure_category, r.error, int(r.n)) for r in rows])


_LOCK_TASK = text("SELECT id FROM tasks WHERE id = :task_id FOR UPDATE")


def lock_task(conn: Connection, task_id: int) -> None:
    """Serialise changes to one task's frames and leases (PostgreSQL; SQLite has one writer).

    The farm's one lock order: the task row, then lease rows, then frame rows. Every write
    transaction that touches a task's frames or leases takes its task first, which rules out
    deadlocks between claims, reports, heartbeats, user operations and the reaper. A task this
    transaction holds already (`locked`: a report's claim of the task it reported on) is not
    asked for again.
    """
    if conn.dialect.name == "postgresql" and task_id not in _held(conn):
        conn.execute(_LOCK_TASK, {"task_id": task_id})
        locked(conn, task_id)


_HELD = "foxden_locked_tasks"


def locked(conn: Connection, task_id: int) -> None:
    """Note that the transaction of `conn` holds the row lock of task `task_id` until it ends.

    Not inside a savepoint: rolling one back lets go of the locks taken in it."""
    if conn.in_nested_transaction():
        return
    txn = conn.get_transaction()
    held: tuple[Any, set[int]] | None = conn.info.get(_HELD)
    if held is None or held[0] is not txn:  # the pooled connection's info outlives transactions
        held = conn.info[_HELD] = (txn, set())
    held[1].add(task_id)


def _held(conn: Connection) -> set[int]:
    """The tasks whose row lock the transaction of `conn` holds (`locked`)."""
    held = conn.info.get(_HELD)
    if held is None or held[0] is not conn.get_transaction():
        return set()
    tasks_held: set[int] = held[1]
    return tasks_held


def revoke_idle_leases(conn: Connection, task_id: int, reason: str) -> None:
    """Revoke the task's active leases that no longer hold a running frame."""
    active = (
        conn.execute(
            select(leases.c.id).where(
                (leases.c.task_id == task_id) & (leases.c.state == LeaseState.ACTIVE.value)
            )
        )
        .scalars()
        .all()
    )
    for lease_id in active:
        running = conn.execute(
            select(frames.c.id)
            .where((frames.c.lease_id == lease_id) & (frames.c.status == FrameStatus.RUNNING.value))
            .limit(1)
        ).first()
        if running is None:
            conn.execute(
                update(leases)
                .where(leases.c.id == lease_id)
                .values(state=LeaseState.REVOKED.value, reason=reason)
            )


def numbers_filter(numbers: Iterable[int]) -> ColumnElement[bool]:
    """A frame filter for the given frame numbers."""
    return frames.c.number.in_(sorted(set(numbers)))


def status_filter(statuses: Sequence[FrameStatus]) -> ColumnElement[bool]:
    """A frame filter for frames in the given statuses."""
    return frames.c.status.in_([s.value for s in statuses])
