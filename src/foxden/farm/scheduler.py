"""Leases: claiming work, heartbeats, frame reports, releases and expired-lease recovery."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, text, update

from foxden.core import failures
from foxden.core.states import (
    LIVE_LEASES,
    Event,
    FrameStatus,
    LeaseState,
    WorkerMode,
    WorkerState,
)
from foxden.db import hot
from foxden.db.engine import Database
from foxden.db.hot import Hot
from foxden.db.schema import (
    frames,
    leases,
    task_inputs,
    tasks,
)
from foxden.errors import Forbidden, LeaseLost, Unauthorized
from foxden.farm import (
    candidates,
    chunks,
    failure_memory,
    lifecycle,
    limits,
    proofs,
    usage,
    wakeups,
)
from foxden.farm import logs as frame_log
from foxden.farm.caches import Payload, PayloadCache
from foxden.farm.failure_memory import FailurePolicy
from foxden.paths import tree_path
from foxden.wire.worker import (
    FrameResult,
    HeartbeatOut,
    InputFile,
    LeaseOut,
    OutputFile,
    RejectedFrame,
    ReportOut,
    TaskInfo,
)


@dataclass(frozen=True)
class WorkerInfo:
    """What the scheduler needs to know of a worker."""

    id: int
    software_keys: tuple[str, ...]
    tags: frozenset[str]


# ---- named statements of the hot path (compiled once, reused) ------------------------------

# The candidate query and the frame pick are `foxden.farm.candidates`: the scheduling rules.
# a revoked worker stays revoked; the claim's update also admits the worker (see _admit)
_WORKER_SEEN_WHERE = (
    f"WHERE id = :worker_id AND approved AND status <> '{WorkerState.REVOKED.value}'"
)
_WORKER_SEEN = text("UPDATE workers SET status = :status, last_seen = :now " + _WORKER_SEEN_WHERE)
# a report's: the same, with what its usage rows need of the worker (`usage.Known`) and its
# failure streak (a report with a frame done starts it again: `_RESET_STREAK`)
_WORKER_SEEN_MACHINE = Hot(_WORKER_SEEN.text + " RETURNING cores, slots, gpus, failure_streak")
_RESET_STREAK = Hot("UPDATE workers SET failure_streak = 0 WHERE id = :worker_id")
_WORKER_STANDING = text("SELECT status, approved FROM workers WHERE id = :worker_id")
# an idle claim's check that the worker's row needs no write (see `_seen_lately`), and whether
# the candidate query's rules of the worker's own (active, blocklisted) narrowed what it found
_WORKER_SEEN_AT = text(
    "SELECT status, approved, last_seen, admin_state, EXISTS (SELECT 1 FROM "
    "worker_task_failures AS wtf WHERE wtf.worker_id = workers.id "
    "AND wtf.failures >= :max_failures) AS blocklisted FROM workers WHERE id = :worker_id"
)
#: seconds an idle worker's `last_seen` may lag behind its polls: an idle claim that finds
#: nothing writes it only when older than this, so idle polls are read-only queries
SEEN_EVERY = 5.0
# Lock order on PostgreSQL, everywhere: the task row, then lease rows, then frame rows.
# `limited`: the task takes a limit (its frames ending free room for other tasks: a wake-up)
_LEASE_OF_WORKER_SQL = (
    "SELECT leases.id, leases.task_id, leases.state, leases.reason, tasks.max_attempts, "
    "tasks.account_id, tasks.project_name, tasks.options, (EXISTS (SELECT 1 FROM task_limits WHERE task_limits.task_id = tasks.id) "
    "OR EXISTS (SELECT 1 FROM project_limits "
    "WHERE project_limits.project_id = tasks.project_id)) AS limited, "
    # what a claim of the same task in the report's batch needs (`_Guess`)
    "tasks.output_folder, "
    "tasks.chunk_size, tasks.target_chunk_seconds, tasks.status, tasks.start_time, "
    f"tasks.completed_time, {lifecycle.COUNTS} "
    "FROM leases JOIN tasks ON tasks.id = leases.task_id "
    "WHERE leases.id = :lease_id AND leases.worker_id = :worker_id"
)
_LEASE_OF_WORKER_SQLITE = Hot(_LEASE_OF_WORKER_SQL)
_LEASE_OF_WORKER_PG = Hot(_LEASE_OF_WORKER_SQL + " FOR UPDATE OF leases")
_EXTEND_LEASE = text("UPDATE leases SET expires_at = :expires WHERE id = :lease_id")
_END_LEASE = Hot("UPDATE leases SET state = :state WHERE id = :lease_id")
_RUNNING_OF_LEASE = (
    "SELECT id, task_id, number, status, attempts, lease_id, start_time FROM frames "
    f"WHERE lease_id = :lease_id AND status = '{FrameStatus.RUNNING.value}' ORDER BY id"
)
_RUNNING_OF_LEASE_SQLITE = Hot(_RUNNING_OF_LEASE)
_RUNNING_OF_LEASE_PG = Hot(_RUNNING_OF_LEASE + " FOR UPDATE")

# a report's guess at its claim (`_Guess`), undone when the candidates choose otherwise
_SAVEPOINT = Hot("SAVEPOINT foxden_guess")
_UNDO_GUESS = Hot("ROLLBACK TO SAVEPOINT foxden_guess")

_LIVE = sorted(state.value for state in LIVE_LEASES)
LEASE_EXPIRED = "the worker stopped answering (lease expired)"


def claim(
    db: Database,
    worker: WorkerInfo,
    lease_seconds: float,
    max_frames: int | None = None,
    *,
    heartbeat_seconds: float,
    now: float | None = None,
    payloads: PayloadCache | None = None,
    policy: FailurePolicy = failure_memory.DEFAULT,
) -> LeaseOut | None:
    """Give `worker` a chunk of frames under a new lease, or None when there is no work for it
    (`claim_many` for one slot)."""
    found = claim_many(
        db,
        worker,
        lease_seconds,
        max_frames,
        slots=1,
        heartbeat_seconds=heartbeat_seconds,
        now=now,
        payloads=payloads,
        policy=policy,
    )
    return found[0] if found else None


def claim_many(
    db: Database,
    worker: WorkerInfo,
    lease_seconds: float,
    max_frames: int | None = None,
    *,
    slots: int = 1,
    heartbeat_seconds: float,
    now: float | None = None,
    payloads: PayloadCache | None = None,
    policy: FailurePolicy = failure_memory.DEFAULT,
    busy: bool = False,
    looked: Looked | None = None,
) -> list[LeaseOut]:
    """Give `worker` up to `slots` chunks of frames, each under its own lease ([] when there is
    no work for it), in one write transaction.

    This is the core of the scheduler: the best eligible task by the rules of
    `foxden.farm.candidates` (band, then the account furthest below its share, then the
    account's own priority and age; dependencies, limits and failure memory decide what is
    eligible) whose required tags the worker carries gives its waiting frames in claim order
    (`frames.seq`), up to the task's chunk size and the room its limits leave. Frames whose last
    attempt failed on this worker are left to others unless nothing else is eligible. Each
    further slot is served the same way, the accounts' loads counting the frames just taken
    (so one claim for several slots shares them out as several claims would).

    An idle claim (nothing eligible, the worker idle and seen within SEEN_EVERY) is a read-only
    query. `busy` (a worker that just reported, so not idle) skips that read: the candidates
    are read in the write transaction. Otherwise one write transaction, which reuses the
    read's candidates: each pick is
    checked again under the write's locks (the frames still waiting, the limits' room counted
    again), so a candidate that changed meanwhile just gives nothing. `BEGIN IMMEDIATE` on
    SQLite; on PostgreSQL, frames other workers are claiming are skipped (`SKIP LOCKED`) and a
    limited task's limits are counted under their locks.
    """
    if not worker.software_keys or slots < 1:
        return []
    now = time.time() if now is None else now
    params = _claim_params(worker, policy)
    eligible: list[_Candidate] = []
    if looked is not None:  # `look` read them already
        eligible = looked.eligible
    elif not busy:
        found = look(db, worker, policy, now)
        if not found.due:
            return []
        eligible = found.eligible
    with db.write(durable=False) as conn:
        if busy:
            eligible = _eligible(conn, worker, params)
        terms = _Terms(lease_seconds, heartbeat_seconds, max_frames, payloads)
        out = _claim_in(conn, eligible, worker.id, slots, now, terms)
        _admit(conn, worker.id, WorkerState.BUSY if out else WorkerState.IDLE, now)
    return out


@dataclass(frozen=True)
class Looked:
    """What an idle claim's read found: the candidates it may take."""

    eligible: list[_Candidate]
    #: whether the claim goes on in a write transaction: candidates to take, or the worker's
    #: row to write (`last_seen` due, or its standing to check); else it is answered "no work"
    due: bool = True
    #: nothing eligible, and not for a rule of the worker's own (it is active, and blocklisted
    #: on no task): nothing for any worker with the same software and tags (`wakeups.IdleMemo`)
    for_anyone: bool = False


def look(
    db: Database,
    worker: WorkerInfo,
    policy: FailurePolicy = failure_memory.DEFAULT,
    now: float | None = None,
) -> Looked:
    """The read-only first step of a claim that is not `busy` (`claim_many`): the candidates,
    and whether the claim needs its write transaction (not when nothing is eligible and the
    worker's row needs no write: the claim is answered with no work). One read transaction, no
    write lock: a server runs many at once."""
    if not worker.software_keys:
        return Looked([], due=False)
    now = time.time() if now is None else now
    params = _claim_params(worker, policy)
    with db.read() as conn:  # an idle poll: a read-only query, no write transaction
        eligible = _eligible(conn, worker, params)
        if eligible:
            return Looked(eligible)
        row = conn.execute(
            _WORKER_SEEN_AT, {"worker_id": worker.id, "max_failures": policy.task_failures}
        ).first()
    anyone = row is not None and row.admin_state == WorkerMode.ACTIVE.value and not row.blocklisted
    return Looked([], due=not _seen_lately(row, now), for_anyone=anyone)


@dataclass(frozen=True)
class _Terms:
    """What a claim's leases are given: their length, the heartbeat, the worker's cap on a
    chunk, and the cache of task payloads."""

    lease_seconds: float
    heartbeat_seconds: float
    max_frames: int | None
    payloads: PayloadCache | None


def _claim_params(worker: WorkerInfo, policy: FailurePolicy) -> dict[str, Any]:
    """The candidate query's parameters for `worker`."""
    return {
        "keys": list(worker.software_keys),
        "worker_id": worker.id,
        "max_failures": policy.task_failures,
    }


def _claim_in(
    conn: Connection,
    eligible: list[_Candidate],
    worker_id: int,
    slots: int,
    now: float,
    terms: _Terms,
) -> list[LeaseOut]:
    """Up to `slots` leases from the `eligible` candidates, in the caller's write transaction
    (the worker's row is the caller's to write)."""
    out: list[LeaseOut] = []
    while len(out) < slots and eligible:
        got = _claim_one(conn, eligible, worker_id, terms.max_frames, now, terms.lease_seconds)
        if got is None:
            break
        cand, lease_id, numbers = got
        out.append(_lease_payload(conn, cand, terms, lease_id, numbers))
    return out


def _eligible(conn: Connection, worker: WorkerInfo, params: dict[str, Any]) -> list[_Candidate]:
    """The candidate query's tasks whose required tags the worker carries, best first."""
    query, values = _candidate_query(params)
    return _tagged(query.rows(conn, values), worker)


def _candidate_query(params: dict[str, Any]) -> tuple[Hot, dict[str, Any]]:
    """The candidate query for a worker's `_claim_params`, and its parameters."""
    keys: list[str] = params["keys"]
    return candidates.candidate_tasks(len(keys)), {
        "worker_id": params["worker_id"],
        "max_failures": params["max_failures"],
        **{f"key_{i}": key for i, key in enumerate(keys)},
    }


def _tagged(found: list[Any], worker: WorkerInfo) -> list[_Candidate]:
    """The candidates of `found` whose required tags the worker carries."""
    return [_Candidate(c) for c in found if _tags(c.options) <= worker.tags]


class _Candidate:
    """A task of the read's candidate query, with its account's load as this claim moves it."""

    __slots__ = ("id", "load", "row")

    def __init__(self, row: Any) -> None:
        self.row = row
        self.id = int(row.id)
        self.load = float(row.load)

    def rank(self) -> tuple[Any, ...]:
        """The candidate query's order (`candidates.CANDIDATE_TASKS`)."""
        r = self.row
        return (-r.band, self.load, -r.share, r.account_id, -r.priority, self.id)


def _claim_one(
    conn: Connection,
    eligible: list[_Candidate],
    worker_id: int,
    max_frames: int | None,
    now: float,
    lease_seconds: float,
) -> tuple[_Candidate, int, list[int]] | None:
    """Take one chunk of the best candidate that still gives frames under a new lease: its
    candidate, the lease and the frame numbers (None when none gives any). A candidate that
    gives nothing is dropped from `eligible`; the accounts' loads count the frames taken."""
    eligible.sort(key=_Candidate.rank)
    for avoid in (True, False):
        for cand in list(eligible):
            got = _take(conn, cand.row, worker_id, avoid, max_frames, now, now + lease_seconds)
            if got is None:
                if not avoid:
                    eligible.remove(cand)
                continue
            lease_id, numbers = got
            _count_load(eligible, cand, len(numbers))
            return cand, lease_id, numbers
    return None


def _count_load(eligible: list[_Candidate], cand: _Candidate, taken: int) -> None:
    """The accounts' loads as a claim of `taken` frames of `cand` moves them."""
    share = float(cand.row.share) or 1.0
    for other in eligible:
        if other.row.account_id == cand.row.account_id:
            other.load += taken / share


def _seen_lately(row: Any, now: float) -> bool:
    """Whether an idle claim may leave the worker's row (`_WORKER_SEEN_AT`) as it is: approved,
    already idle and seen less than SEEN_EVERY seconds ago. Otherwise the claim writes
    (`_admit`), which also refuses a revoked worker or one awaiting approval."""
    return (
        row is not None
        and bool(row.approved)
        and row.status == WorkerState.IDLE.value
        and abs(now - float(row.last_seen)) < SEEN_EVERY
    )


def _tags(options: Any) -> set[str]:
    """The tags a task requires of its workers (`options.tags`)."""
    parsed = options if isinstance(options, dict) else json.loads(options or "{}")
    return set(parsed.get("tags") or [])


def _take(
    conn: Connection,
    cand: Any,
    worker_id: int,
    avoid: bool,
    max_frames: int | None,
    now: float,
    expires: float,
) -> tuple[int, list[int]] | None:
    """The candidate's waiting frames this claim takes, under a new lease that expires at
    `expires`: the lease's id and the frame numbers, or None to try the next one.

    A limited task's room is counted again in the write transaction (the read's may be
    stale): on SQLite before the pick (the claim holds the write lock); on PostgreSQL after it,
    under the limits' row locks, in a savepoint: when its limits leave no room, rolling it back
    lets go of the task's and the limits' rows. A task without limits on PostgreSQL is one
    statement (`lifecycle.claim_next`: the pick, the lease, the frames and the counters).
    """
    limited = cand.room is not None
    postgres = conn.dialect.name == "postgresql"
    savepoint = conn.begin_nested() if limited and postgres else None
    lifecycle.lock_task(conn, cand.id)
    size = chunks.claim_size(conn, cand.id, cand.chunk_size, max_frames, cand.target_chunk_seconds)
    if limited and postgres:
        size = min(size, int(cand.room))  # counted again under the limits' locks below
    if limited and not postgres:
        room = limits.locked_room(conn, cand.id)
        if room is not None:
            size = min(size, room)
        if size <= 0:
            return None
    pick = candidates.WAITING_FRAMES_PG if postgres else candidates.WAITING_FRAMES_SQLITE
    params = {"task_id": cand.id, "size": size, "avoid": avoid, "worker_id": worker_id}
    if postgres and not limited:
        return lifecycle.claim_next(conn, pick.sql, params, worker_id, now, expires)
    picked = pick.rows(conn, params)
    if picked and savepoint is not None:
        room = limits.locked_room(conn, cand.id)
        if room is not None:
            picked = picked[: max(room, 0)]
    if savepoint is not None:
        if picked:
            savepoint.commit()
        else:
            savepoint.rollback()
    if not picked:
        return None
    lease_id = lifecycle.claim_under_new_lease(
        conn, cand.id, [p.id for p in picked], worker_id, now, expires
    )
    return lease_id, [p.number for p in picked]


def _lease_payload(
    conn: Connection, cand: _Candidate, terms: _Terms, lease_id: int, numbers: list[int]
) -> LeaseOut:
    """The claim's reply: the lease, its frames, the task (cached) and its inputs, with what
    changes after submission as the candidate query read it (sandbox rights, time limits;
    `candidates.CANDIDATE_TASKS`)."""
    row = cand.row
    task, inputs = _task_payload(conn, cand.id, row.submit_time, terms.payloads)
    return {
        "lease_id": lease_id,
        "lease_seconds": terms.lease_seconds,
        "heartbeat_seconds": terms.heartbeat_seconds,
        "frames": numbers,
        "task": {  # the cached payload stays as it is; the project gone: no rights
            **task,
            "allow_network": bool(row.allow_network),
            "allow_scripts": bool(row.allow_scripts),
        },
        "inputs": inputs,
        "frame_timeout_s": row.frame_timeout_s,
        "progress_timeout_s": row.progress_timeout_s,
    }


def _seen_busy(conn: Connection, worker_id: int, now: float) -> None:
    """Note a busy worker's contact, refusing one revoked (401) whatever a token cache says."""
    _admit(conn, worker_id, WorkerState.BUSY, now)


def _admit(conn: Connection, worker_id: int, status: WorkerState, now: float) -> None:
    """Note the worker's contact, refusing one revoked (401) or awaiting approval (403).

    Part of the claim's transaction, after the task row (the lock order): a revocation that
    commits first makes the claim roll back; one that comes later finds the new lease.
    """
    seen = conn.execute(_WORKER_SEEN, {"status": status.value, "now": now, "worker_id": worker_id})
    if seen.rowcount:
        return
    row = conn.execute(_WORKER_STANDING, {"worker_id": worker_id}).first()
    if row is None or row.status == WorkerState.REVOKED:
        raise Unauthorized("this worker was revoked: it may join again only with the join key")
    raise Forbidden(
        "this worker waits for an administrator's approval (workers page, or "
        "`foxden workers approve ID`): it gets no work until then"
    )


def _json_list(value: Any) -> list[Any]:
    """A JSON list column read by a text statement (its text on SQLite)."""
    parsed = json.loads(value or "[]") if isinstance(value, str) else value
    return list(parsed or [])


def _task_payload(
    conn: Connection, task_id: int, submit_time: float, payloads: PayloadCache | None
) -> Payload:
    """What a worker needs to know of a task (immutable after submission, so cached); the
    project's sandbox rights change, so the claim fills them in (false here)."""
    cached = None if payloads is None else payloads.get(task_id, submit_time)
    if cached is not None:
        return cached
    task = conn.execute(select(tasks).where(tasks.c.id == task_id)).mappings().one()
    rows = conn.execute(
        select(task_inputs.c.path, task_inputs.c.hash, task_inputs.c.size).where(
            task_inputs.c.task_id == task_id
        )
    ).all()
    info: TaskInfo = {
        "id": task["id"],
        "job_type": task["job_type"],
        "cg_soft_name": task["cg_soft_name"],
        "plugin_name": task["plugin_name"],
        "scene_path": task["scene_path"],
        "render_layer": task["render_layer"],
        "camera": task["camera"],
        "options": task["options"],
        "output_folder": task["output_folder"],
        "allow_network": False,
        "allow_scripts": False,
    }
    inputs: list[InputFile] = [{"path": i.path, "hash": i.hash, "size": i.size} for i in rows]
    payload = (info, inputs)
    if payloads is not None:
        payloads.put(task_id, submit_time, payload)
    return payload


# the lease's task row, locked (PostgreSQL): the first lock of the farm's lock order, in one trip
_LOCK_TASK_OF_LEASE = Hot(
    "SELECT tasks.id FROM leases JOIN tasks ON tasks.id = leases.task_id "
    "WHERE leases.id = :lease_id FOR UPDATE OF tasks"
)


def _active_lease(conn: Connection, lease_id: int, worker_id: int) -> Any:
    """The worker's lease, locked after its task (the farm's lock order: task, lease, frames;
    SQLite's write transaction holds the one write lock, so it locks nothing)."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        task = _LOCK_TASK_OF_LEASE.first(conn, {"lease_id": lease_id})
        if task is not None:
            lifecycle.locked(conn, int(task.id))
    query = _LEASE_OF_WORKER_PG if postgres else _LEASE_OF_WORKER_SQLITE
    row = query.first(conn, {"lease_id": lease_id, "worker_id": worker_id})
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
    *,
    now: float | None = None,
) -> HeartbeatOut:
    """Extend a lease and record progress and log lines; tells the worker to stop when it must."""
    now = time.time() if now is None else now
    with db.write(durable=False) as conn:
        lease = _active_lease(conn, lease_id, worker_id)
        _seen_busy(conn, worker_id, now)
        if lease.state == LeaseState.REVOKED:
            return {"action": "stop", "reason": lease.reason or "the task was stopped"}
        if lease.state != LeaseState.ACTIVE:
            raise LeaseLost(f"lease {lease_id} is {lease.state}: its frames went back to the queue")
        conn.execute(_EXTEND_LEASE, {"expires": now + lease_seconds, "lease_id": lease_id})
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
            frame_log.append(conn, r.id, r.attempts, text, now)


def report(
    db: Database,
    worker_id: int,
    lease_id: int,
    results: list[FrameResult],
    *,
    now: float | None = None,
    policy: FailurePolicy = failure_memory.DEFAULT,
) -> ReportOut:
    """Record frames done (with outputs) or failed (with the error) under a lease.

    All or nothing: an output or thumbnail that is not a blob this worker uploaded for this
    lease (at the size reported) refuses the whole report with 422 naming the frame, and
    nothing of it is applied. Frames not running under the lease are listed in `rejected`.
    """
    now = time.time() if now is None else now
    with db.write(durable=False) as conn:
        reply, disabled, _, _ = _report_in(conn, worker_id, lease_id, results, now, policy)
    if disabled:  # flagged and disabled by the setting: its other frames go to other workers
        release(db, worker_id)
    return reply


def report_and_claim(
    db: Database,
    worker: WorkerInfo,
    lease_id: int,
    results: list[FrameResult],
    *,
    lease_seconds: float,
    heartbeat_seconds: float,
    max_frames: int | None = None,
    slots: int = 1,
    payloads: PayloadCache | None = None,
    policy: FailurePolicy = failure_memory.DEFAULT,
    now: float | None = None,
) -> ReportOut:
    """`report`, and the claim of up to `slots` next leases (`ReportIn.claim`, the reply's
    `leases`) in the report's own write transaction: one BEGIN and COMMIT per frame.

    The claim sees the report applied (its frames ended, the room they free under limits, a
    task it finished), reads its candidates under the write's locks (`claim_many`'s `busy`),
    and leaves the worker's row as the report wrote it (busy, seen now) unless it finds no work
    (idle). A refused report (422, lease lost) claims nothing; a report that gets the worker
    disabled (failure memory) claims nothing and releases its leases after the commit.
    """
    now = time.time() if now is None else now
    out: list[LeaseOut] = []
    claims = bool(worker.software_keys) and slots >= 1
    params = _claim_params(worker, policy)
    terms = _Terms(lease_seconds, heartbeat_seconds, max_frames, payloads)
    with db.write(durable=False) as conn:
        ahead = _Ahead(params, terms) if claims else None
        reply, disabled, found, guess = _report_in(
            conn, worker.id, lease_id, results, now, policy, ahead
        )
        if not disabled and claims:
            eligible = _eligible(conn, worker, params) if found is None else _tagged(found, worker)
            if guess is not None:
                out = guess.settle(conn, eligible, now, terms)
            out += _claim_in(conn, eligible, worker.id, slots - len(out), now, terms)
        if not out:
            _admit(conn, worker.id, WorkerState.IDLE, now)
    if disabled:
        release(db, worker.id)
    reply["leases"] = out
    return reply


def _report_in(
    conn: Connection,
    worker_id: int,
    lease_id: int,
    results: list[FrameResult],
    now: float,
    policy: FailurePolicy,
    ahead: _Ahead | None = None,
) -> tuple[ReportOut, bool, list[Any] | None, _Guess | None]:
    """`report` in the caller's write transaction: its reply, whether failure memory disabled
    the worker (the caller then releases its leases once committed), and, for a report that
    carries a claim (`ahead`), the candidate query's rows as the report left the farm when
    they could be read with its writes (else None: read them now), and its guess at the
    claim (`_Guess`, else None).

    Two batches of statements (`foxden.db.hot.Batch`: one round trip each on PostgreSQL):
    the reads and locks (the task, the lease, its running frames: the farm's lock order) with
    the worker's contact, then the writes (the lease ended, the frames, their usage and the
    task's counters) with the claim's candidate query and the guess. A report with failed
    frames runs its writes one by one (failure memory and events read what they write).
    """
    postgres = conn.dialect.name == "postgresql"
    with hot.batch(conn) as first:
        task = first.send(_LOCK_TASK_OF_LEASE, {"lease_id": lease_id}) if postgres else None
        query = _LEASE_OF_WORKER_PG if postgres else _LEASE_OF_WORKER_SQLITE
        of_lease = first.send(query, {"lease_id": lease_id, "worker_id": worker_id})
        pick = _RUNNING_OF_LEASE_PG if postgres else _RUNNING_OF_LEASE_SQLITE
        running_rows = first.send(pick, {"lease_id": lease_id})
        seen = first.send(
            _WORKER_SEEN_MACHINE,
            {"status": WorkerState.BUSY.value, "now": now, "worker_id": worker_id},
        )
    held = None if task is None else task.first()
    if held is not None:
        lifecycle.locked(conn, int(held.id))
    lease = of_lease.first()
    if lease is None:
        raise LeaseLost(f"lease {lease_id} is gone (its task was deleted or it never was yours)")
    if lease.state not in LIVE_LEASES:
        raise LeaseLost(f"lease {lease_id} is {lease.state}: its frames went back to the queue")
    locked = running_rows.rows()
    running = {r.number: r for r in locked}
    verdicts = _Verdicts()
    for res in results:
        _judge(conn, lease, running.get(res.frame), res, now, verdicts)
    for frame_id, attempt, line in verdicts.logs:
        frame_log.append(conn, frame_id, attempt, line, now)
    machine: Any = seen.first()
    if machine is None:
        _admit(conn, worker_id, WorkerState.BUSY, now)  # refuses it: revoked or not approved
    known = usage.Known(
        account_id=lease.account_id,
        project_name=lease.project_name,
        options=lease.options,
        worker_id=worker_id,
        cores=int(machine.cores),
        slots=int(machine.slots),
        gpus=len(_json_list(machine.gpus)),
    )
    found = None
    guess = None
    with hot.batch(conn, pipelined=not verdicts.failed) as then:
        for frame_id, items in verdicts.outputs:
            _file_outputs(then, lease, frame_id, items, now)
        if len(verdicts.accepted) == len(running) and lease.state == LeaseState.ACTIVE:
            then.send(_END_LEASE, {"state": LeaseState.DONE.value, "lease_id": lease_id})
        if verdicts.done and machine.failure_streak:  # failure memory: a frame done
            then.send(_RESET_STREAK, {"worker_id": worker_id})
        _apply_verdicts(conn, lease, locked, verdicts, known, then)
        if ahead is not None and then.pipelined:
            query, values = _candidate_query(ahead.params)
            found = then.send(query, values)
            guess = _Guess.send(conn, then, lease, len(verdicts.done), worker_id, now, ahead)
    ended = len(verdicts.done) + len(verdicts.failed)
    if ended and lease.limited:  # room under its limits: claims waiting for work may use it
        wakeups.on_commit(conn, ended)
    disabled = failure_memory.note_failures(
        conn,
        worker_id,
        lease.task_id,
        len(verdicts.failed),
        now,
        policy,
        any_done=bool(verdicts.done),
    )
    stale = found is None or then.late_writes  # a task's status moved after the query ran
    if guess is not None and stale:  # `settles_quietly` said the counters would not move it
        raise AssertionError(
            "the report's guess at its claim ran before a status it did not foresee"
        )
    reply: ReportOut = {"accepted": verdicts.accepted, "rejected": verdicts.rejected}
    return reply, disabled, None if stale or found is None else found.rows(), guess


@dataclass(frozen=True)
class _Ahead:
    """The claim a report carries: the worker's `_claim_params` and the leases' terms."""

    params: dict[str, Any]
    terms: _Terms


class _Guess:
    """A report's guess at its claim, sent in the batch of its writes (PostgreSQL): the next
    chunk of the task it reported on, as `_claim_one` takes it when that task is the best
    candidate, so the usual case costs no round trip of its own while the task is held.

    The guess follows the candidate query in the batch, behind a savepoint, and is what the
    claim itself would do at that point of the transaction: the same frame pick and chunk
    size, after the same writes. It is made only when it cannot differ: the task takes no
    limit, its chunk size needs no reading (no target duration), and the report moves no
    task status, time or summary (`lifecycle.settles_quietly`, from the task's row read under
    its lock). `settle` keeps it when the candidates put that task first, else rolls back to
    the savepoint; the claim then goes on as without it.
    """

    __slots__ = ("sent", "task_id")

    def __init__(self, task_id: int, sent: hot.Pending) -> None:
        self.task_id = task_id
        self.sent = sent

    @classmethod
    def send(
        cls,
        conn: Connection,
        batch: hot.Batch,
        lease: Any,
        done: int,
        worker_id: int,
        now: float,
        ahead: _Ahead,
    ) -> _Guess | None:
        """The guess sent in `batch` (after the candidate query), or None when none is made."""
        cap = lease.chunk_size
        if ahead.terms.max_frames is not None:
            cap = min(cap, ahead.terms.max_frames)
        quiet = lifecycle.settles_quietly(
            lease, {FrameStatus.RUNNING: -done, FrameStatus.DONE: done}
        )
        if lease.limited or (lease.target_chunk_seconds is not None and cap > 1) or not quiet:
            return None
        size = chunks.claim_size(conn, lease.task_id, cap, None, None)
        params = {"task_id": lease.task_id, "size": size, "avoid": True, "worker_id": worker_id}
        batch.send(_SAVEPOINT, {})
        expires = now + ahead.terms.lease_seconds
        pick = candidates.WAITING_FRAMES_PG.sql
        return cls(
            lease.task_id, lifecycle.send_claim_next(batch, pick, params, worker_id, now, expires)
        )

    def settle(
        self, conn: Connection, eligible: list[_Candidate], now: float, terms: _Terms
    ) -> list[LeaseOut]:
        """The guessed lease when the candidates put its task first (as `_claim_one` would
        take it), else [] with the guess undone."""
        eligible.sort(key=_Candidate.rank)
        best = eligible[0] if eligible else None
        if best is None or best.id != self.task_id or best.row.room is not None:
            self.undo(conn)
            return []
        got = lifecycle.took_next(conn, self.task_id, self.sent)
        if got is None:  # nothing left to it but what this worker failed: `_claim_one`'s way
            return []
        lease_id, numbers = got
        _count_load(eligible, best, len(numbers))
        return [_lease_payload(conn, best, terms, lease_id, numbers)]

    def undo(self, conn: Connection) -> None:
        """Roll the guess back (when it took anything)."""
        if self.sent.rows():
            _UNDO_GUESS.run(conn, {})


@dataclass
class _Verdicts:
    """A report's results, sorted out frame by frame before anything is applied."""

    accepted: list[int] = field(default_factory=list)
    rejected: list[RejectedFrame] = field(default_factory=list)
    done: dict[int, dict[str, float]] = field(default_factory=dict)  # frame id -> its values
    failed: dict[int, dict[str, str]] = field(default_factory=dict)  # error, failure_category
    logs: list[tuple[int, int, str]] = field(default_factory=list)  # frame id, attempt, text
    outputs: list[tuple[int, list[OutputFile]]] = field(default_factory=list)  # frame id, files


def _judge(
    conn: Connection,
    lease: Any,
    frame: Any,
    res: FrameResult,
    now: float,
    verdicts: _Verdicts,
) -> None:
    """Sort out one result: rejected (its frame does not run under the lease), done (its
    outputs checked and filed) or failed."""
    if frame is None:
        verdicts.rejected.append(
            {"frame": res.frame, "reason": "frame is not running under this lease"}
        )
        return
    if res.log:
        verdicts.logs.append((frame.id, frame.attempts, res.log))
    if res.status == "done":
        render_time = res.render_time
        if render_time is None:
            render_time = now - (frame.start_time or now)
        verdicts.done[frame.id] = {"render_time": float(render_time)}
        if res.outputs:
            proofs.check_outputs(conn, lease.id, res.frame, res.outputs)
            verdicts.outputs.append((frame.id, res.outputs))  # filed with the report's writes
    else:
        error = frame_log.bound(res.error or "the worker reported a failure", frame_log.ERROR_BYTES)
        category = failures.classify(error, res.log)
        verdicts.failed[frame.id] = {"error": error, "failure_category": category.value}
    verdicts.accepted.append(res.frame)


def _apply_verdicts(
    conn: Connection,
    lease: Any,
    locked: Any,
    verdicts: _Verdicts,
    known: usage.Known,
    batch: hot.Batch,
) -> None:
    """Finish the frames reported done and fail those reported failed (the state machine's
    FINISH and FAIL events): a transient failure is retried while attempts are left, a
    deterministic one (`foxden.core.failures.retried`) fails its frame at once."""
    if verdicts.done:
        lifecycle.transition(
            conn,
            lease.task_id,
            Event.FINISH,
            rows=[r for r in locked if r.id in verdicts.done],
            values=verdicts.done,
            common={"error": "", "failure_category": None},
            known=known,
            batch=batch,
        )
    for retry in (True, False):
        ids = {
            frame_id
            for frame_id, failed in verdicts.failed.items()
            if failures.retried(failed["failure_category"]) is retry
        }
        if ids:
            lifecycle.transition(
                conn,
                lease.task_id,
                Event.FAIL,
                rows=[r for r in locked if r.id in ids],
                max_attempts=lease.max_attempts,
                retry=retry,
                values={i: verdicts.failed[i] for i in ids},
                known=known,
                batch=batch,
            )


# a frame's outputs: one row per path of the task's output folder (the last report's), and the
# blobs they name made the account's
_DROP_OUTPUT = Hot("DELETE FROM outputs WHERE task_id = :task_id AND path = :path")
_ADD_OUTPUT = Hot(
    "INSERT INTO outputs (task_id, frame_id, path, hash, size, thumb_hash, created_at) "
    "VALUES (:task_id, :frame_id, :path, :hash, :size, :thumb_hash, :now)"
)
_OWN_BLOB = Hot(
    "INSERT INTO account_blobs (account_id, hash) VALUES (:account_id, :hash) "
    "ON CONFLICT (account_id, hash) DO NOTHING"
)


def _file_outputs(
    batch: hot.Batch, lease: Any, frame_id: int, items: list[OutputFile], now: float
) -> None:
    """Send the statements that file a frame's outputs (checked already) in `batch`."""
    for item in items:
        digest = item.hash  # uploaded for this lease: proofs.check_outputs
        name = tree_path(item.name).lstrip("/")
        path = f"{lease.output_folder}/{name}"
        batch.send(_DROP_OUTPUT, {"task_id": lease.task_id, "path": path})
        batch.send(
            _ADD_OUTPUT,
            {
                "task_id": lease.task_id,
                "frame_id": frame_id,
                "path": path,
                "hash": digest,
                "size": item.size,
                "thumb_hash": item.thumbnail,
                "now": now,
            },
        )
        for h in filter(None, (digest, item.thumbnail)):
            batch.send(_OWN_BLOB, {"account_id": lease.account_id, "hash": h})


def release(db: Database, worker_id: int, lease_id: int | None = None) -> int:
    """Give back a worker's running frames (all its leases if `lease_id` is None), no attempt spent."""
    with db.write() as conn:
        query = select(leases.c.id, leases.c.task_id).where(
            (leases.c.worker_id == worker_id) & leases.c.state.in_(_LIVE)
        )
        if lease_id is not None:
            query = query.where(leases.c.id == lease_id)
        count = 0
        for lease in conn.execute(query.order_by(leases.c.task_id, leases.c.id)).all():
            lifecycle.lock_task(conn, lease.task_id)
            if _lease_state(conn, lease.id) not in LIVE_LEASES:
                continue
            moved = lifecycle.transition(
                conn, lease.task_id, Event.RELEASE, frames.c.lease_id == lease.id
            )
            count += len(moved)
            conn.execute(
                update(leases)
                .where(leases.c.id == lease.id)
                .values(state=LeaseState.RELEASED.value)
            )
    return count


def reap_expired(db: Database, now: float | None = None) -> int:
    """Put the frames of expired leases back in the queue (or fail them after too many tries)."""
    now = time.time() if now is None else now
    moved = 0
    with db.write() as conn:
        expired = conn.execute(
            select(leases.c.id, leases.c.task_id, tasks.c.max_attempts)
            .join(tasks, tasks.c.id == leases.c.task_id)
            .where((leases.c.state == LeaseState.ACTIVE.value) & (leases.c.expires_at < now))
            .order_by(leases.c.task_id, leases.c.id)
        ).all()
        for lease in expired:
            lifecycle.lock_task(conn, lease.task_id)
            row = conn.execute(
                _lock_lease(
                    conn, select(leases.c.state, leases.c.expires_at).where(leases.c.id == lease.id)
                )
            ).first()
            if row is None or row.state != LeaseState.ACTIVE or row.expires_at >= now:
                continue  # reported, extended or stopped meanwhile
            moved += len(
                lifecycle.transition(
                    conn,
                    lease.task_id,
                    Event.EXPIRE,
                    frames.c.lease_id == lease.id,
                    max_attempts=lease.max_attempts,
                    common={
                        "error": LEASE_EXPIRED,
                        "failure_category": failures.classify(LEASE_EXPIRED),
                    },
                )
            )
            conn.execute(
                update(leases).where(leases.c.id == lease.id).values(state=LeaseState.EXPIRED.value)
            )
    return moved


def _lock_lease(conn: Connection, query: Any) -> Any:
    return query.with_for_update() if conn.dialect.name == "postgresql" else query


def _lease_state(conn: Connection, lease_id: int) -> str | None:
    state: str | None = conn.execute(
        _lock_lease(conn, select(leases.c.state).where(leases.c.id == lease_id))
    ).scalar()
    return state
