"""How long a task has left and how many core-hours it takes, from its finished frames: the one
rule every client shows (the API's task records, the web, the command line, Fox, the SDK).

Elapsed time is measured per claim: the frames a worker claimed together (one chunk, one start
time) render one after another, so the claim's wall time (its last done frame's end minus its
start, setting up included) is shared by its done frames. A frame's core time is its measured
time (the render time its report gave: the worker's own measure of that frame, else the time
from claim to report; else its share of the claim) times its worker's cores divided by the
worker's slots (`core_seconds`: the rule of usage records, `foxden.farm.usage`).

ETA: the mean elapsed time of the done frames, times the frames left (waiting ones, and what is
not yet rendered of the running ones), divided by the claims rendering side by side now;
None before a frame is done, while no frame renders, and once the task is not queued or
rendering. Core-hours: the done frames' core time, extrapolated to all of the task's frames;
None before a frame is done.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, case, func, select

from foxden.core.states import ACTIVE, FrameStatus
from foxden.db.schema import frames, workers


def core_seconds(wall_seconds: float, cores: int | None, slots: int | None) -> float:
    """Core time of `wall_seconds` in one slot of a worker with `cores` cores and `slots` slots
    (each slot counts for its share of the cores; an unknown worker counts as one core)."""
    return max(0.0, wall_seconds) * max(1, cores or 1) / max(1, slots or 1)


@dataclass(frozen=True)
class Claim:
    """Done frames a worker claimed together: how many, their elapsed time and core time."""

    frames: int
    wall_seconds: float
    core_seconds: float


@dataclass(frozen=True)
class Measure:
    """What a task's frames measured so far."""

    done: int = 0  # done frames with a start and an end
    wall_seconds: float = 0.0  # their elapsed time, per claim
    core_seconds: float = 0.0  # their core time
    running_claims: int = 0  # claims (leases) rendering its frames now
    running_progress: float = 0.0  # the sum of its running frames' progress (0..1 each)

    @property
    def frame_seconds(self) -> float | None:
        """The mean elapsed time of a done frame, None before one is done."""
        return self.wall_seconds / self.done if self.done else None


def measure(
    claims: Iterable[Claim], running_claims: int = 0, running_progress: float = 0.0
) -> Measure:
    """A task's `Measure` from its claims of done frames and what renders now."""
    done = list(claims)
    return Measure(
        done=sum(c.frames for c in done),
        wall_seconds=sum(c.wall_seconds for c in done),
        core_seconds=sum(c.core_seconds for c in done),
        running_claims=running_claims,
        running_progress=running_progress,
    )


@dataclass(frozen=True)
class Estimate:
    """A task's ETA (seconds) and the core-hours of all its frames; None when unknown."""

    eta_seconds: float | None = None
    core_hours: float | None = None


_ACTIVE_VALUES = frozenset(s.value for s in ACTIVE)


def estimate(status: str, counts: Mapping[str, int], frame_count: int, m: Measure) -> Estimate:
    """The ETA and core-hours of a task in `status` with frame `counts`, from its `Measure`."""
    mean = m.frame_seconds
    if mean is None:
        return Estimate()
    core_hours = m.core_seconds / m.done * frame_count / 3600.0
    eta: float | None = None
    if status in _ACTIVE_VALUES and m.running_claims > 0:
        running = counts.get(FrameStatus.RUNNING.value, 0)
        left = counts.get(FrameStatus.WAITING.value, 0) + running - m.running_progress
        eta = max(0.0, mean * left / m.running_claims)
    return Estimate(eta_seconds=eta, core_hours=core_hours)


def measures(conn: Connection, task_ids: Sequence[int]) -> dict[int, Measure]:
    """The `Measure` of each task among `task_ids` (two queries, summed by the database: one row
    a task, however many frames it has; tasks with no frame done or running are left out)."""
    return _measures(conn, task_ids, task_ids)


def _measures(
    conn: Connection, done_ids: Sequence[int], running_ids: Sequence[int]
) -> dict[int, Measure]:
    """`Measure`s from the done frames of `done_ids` and the running frames of `running_ids`."""
    done = _done_sums(conn, done_ids)
    running = _running(conn, running_ids)
    found: dict[int, Measure] = {}
    for task_id in sorted(set(done) | set(running)):
        n, wall, core, _render = done.get(task_id, _NO_SUMS)
        claims, progress = running.get(task_id, (0, 0.0))
        found[task_id] = Measure(n, wall, core, claims, progress)
    return found


def _done_sums(
    conn: Connection, task_ids: Sequence[int]
) -> dict[int, tuple[int, float, float, float]]:
    """(done frames, their elapsed time, their core time, their render time) of each task
    among `task_ids` with a frame done: the claims' sums, added up by the database."""
    ids = sorted(set(task_ids))
    if not ids:
        return {}
    done = (
        (frames.c.status == FrameStatus.DONE.value)
        & frames.c.start_time.is_not(None)
        & frames.c.end_time.is_not(None)
        & frames.c.task_id.in_(ids)
    )
    # one row per claim of done frames: a worker's frames that started together
    span = func.max(frames.c.end_time) - frames.c.start_time
    per_claim = (
        select(
            frames.c.task_id,
            frames.c.worker_id,
            func.count().label("n"),
            case((span > 0, span), else_=0.0).label("wall"),
            func.coalesce(func.sum(frames.c.render_time), 0.0).label("measured"),
            func.count(frames.c.render_time).label("n_measured"),
        )
        .where(done)
        .group_by(frames.c.task_id, frames.c.worker_id, frames.c.start_time)
        .subquery()
    )
    # `core_seconds` of each claim, in SQL: its measured time (unmeasured frames count their
    # share of the claim's wall time) x the worker's cores / its slots
    c = per_claim.c
    measured = c.measured + (c.n - c.n_measured) * c.wall / c.n
    cores = func.coalesce(workers.c.cores, 1)
    slots = func.coalesce(workers.c.slots, 1)
    claim_core = (
        case((measured > 0, measured), else_=0.0)
        * case((cores > 1, cores), else_=1)
        / case((slots > 1, slots), else_=1)
    )
    rows = conn.execute(
        select(
            c.task_id,
            func.sum(c.n).label("n"),
            func.sum(c.wall).label("wall"),
            func.sum(claim_core).label("core"),
            func.sum(c.measured).label("render"),
        )
        .select_from(per_claim.outerjoin(workers, workers.c.id == c.worker_id))
        .group_by(c.task_id)
    ).all()
    return {r.task_id: (int(r.n), float(r.wall), float(r.core), float(r.render)) for r in rows}


def _running(conn: Connection, task_ids: Sequence[int]) -> dict[int, tuple[int, float]]:
    """(claims rendering, the sum of their frames' progress) of each task among `task_ids` with
    a frame running."""
    ids = sorted(set(task_ids))
    if not ids:
        return {}
    rows = conn.execute(
        select(
            frames.c.task_id,
            func.count(frames.c.lease_id.distinct()).label("claims"),
            func.coalesce(func.sum(frames.c.progress), 0.0).label("progress"),
        )
        .where((frames.c.status == FrameStatus.RUNNING.value) & frames.c.task_id.in_(ids))
        .group_by(frames.c.task_id)
    ).all()
    return {r.task_id: (int(r.claims), float(r.progress)) for r in rows}


#: the done-frame sums of tasks, by what their row says of them (`TaskState`): a task's done
#: frames change only with its row (a frame reported done moves its counters, a restart moves
#: them back, a settled task's restart and end move its times too), so a list need not read
#: them again while its row is as it was; bounded, oldest forgotten first. Running frames are
#: read each time (their progress moves without the row). A done frame restarted and done
#: again between two reads leaves the counters as they were: its old times count until the row
#: moves next (the next frame's report) or one task's record is read (`fresh`).
_DONE_SUMS: OrderedDict[TaskState, tuple[int, float, float, float]] = OrderedDict()
_DONE_KEPT = 100_000


class TaskState(NamedTuple):
    """What the estimates read of a task's row."""

    id: int
    status: str
    frame_count: int
    n_waiting: int
    n_running: int
    n_done: int
    n_failed: int
    n_stopped: int
    n_aborted: int
    submit_time: float | None
    start_time: float | None
    completed_time: float | None


def of_rows(conn: Connection, rows: Sequence[Any], *, fresh: bool = False) -> dict[int, Estimate]:
    """The `Estimate` of each task row (rows of `tasks`: id, status, times, frame counters,
    frame_count); `fresh` as `of_states`."""
    return of_states(
        conn,
        [
            TaskState(
                r.id,
                r.status,
                r.frame_count,
                r.n_waiting,
                r.n_running,
                r.n_done,
                r.n_failed,
                r.n_stopped,
                r.n_aborted,
                r.submit_time,
                r.start_time,
                r.completed_time,
            )
            for r in rows
        ],
        fresh=fresh,
    )


def of_states(
    conn: Connection, states: Sequence[TaskState], *, fresh: bool = False
) -> dict[int, Estimate]:
    """The `Estimate` of each task. Only tasks with frames done or running are read; a task's
    done-frame sums are read once while its row stays as it is (`fresh`: read them again, as
    one task's own record does)."""
    done = done_sums(conn, states, fresh=fresh)
    running = _running(conn, [t.id for t in states if t.n_running])
    found: dict[int, Estimate] = {}
    for t in states:
        sums = done.get(t.id)
        moving = running.get(t.id)
        if sums is None and moving is None:
            found[t.id] = _UNKNOWN
            continue
        n, wall, core, _render = sums or _NO_SUMS
        claims, progress = moving or (0, 0.0)
        counts = {"waiting": t.n_waiting, "running": t.n_running}
        found[t.id] = estimate(
            t.status, counts, t.frame_count, Measure(n, wall, core, claims, progress)
        )
    return found


def done_sums(
    conn: Connection, states: Sequence[TaskState], *, fresh: bool = False
) -> dict[int, tuple[int, float, float, float]]:
    """(done frames, their elapsed time, their core time, their render time) of each task
    with a frame done: kept by its row (`_DONE_SUMS`), else read (one query for all of them;
    `fresh`: read them all)."""
    found: dict[int, tuple[int, float, float, float]] = {}
    wanted: list[TaskState] = []
    for t in states:
        if not t.n_done:
            continue
        kept = None if fresh else _DONE_SUMS.get(t)
        if kept is None:
            wanted.append(t)
        else:
            found[t.id] = kept
    if wanted:
        read = _done_sums(conn, [t.id for t in wanted])
        for t in wanted:
            sums = read.get(t.id, _NO_SUMS)
            found[t.id] = _DONE_SUMS[t] = sums
            _DONE_SUMS.move_to_end(t)
        while len(_DONE_SUMS) > _DONE_KEPT:
            _DONE_SUMS.popitem(last=False)
    return found


_NO_SUMS = (0, 0.0, 0.0, 0.0)
_UNKNOWN = Estimate()
