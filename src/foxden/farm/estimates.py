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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from foxden.core.states import ACTIVE, FrameStatus, TaskStatus
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


def estimate(status: str, counts: Mapping[str, int], frame_count: int, m: Measure) -> Estimate:
    """The ETA and core-hours of a task in `status` with frame `counts`, from its `Measure`."""
    mean = m.frame_seconds
    if mean is None:
        return Estimate()
    core_hours = m.core_seconds / m.done * frame_count / 3600.0
    eta: float | None = None
    if TaskStatus(status) in ACTIVE and m.running_claims > 0:
        running = counts.get(FrameStatus.RUNNING.value, 0)
        left = counts.get(FrameStatus.WAITING.value, 0) + running - m.running_progress
        eta = max(0.0, mean * left / m.running_claims)
    return Estimate(eta_seconds=eta, core_hours=core_hours)


def measures(conn: Connection, task_ids: Sequence[int]) -> dict[int, Measure]:
    """The `Measure` of each task among `task_ids` (two queries; tasks with no frame done or
    running are left out)."""
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
    per_claim = (
        select(
            frames.c.task_id,
            frames.c.worker_id,
            func.count().label("n"),
            (func.max(frames.c.end_time) - frames.c.start_time).label("wall"),
            func.coalesce(func.sum(frames.c.render_time), 0.0).label("measured"),
            func.count(frames.c.render_time).label("n_measured"),
        )
        .where(done)
        .group_by(frames.c.task_id, frames.c.worker_id, frames.c.start_time)
        .subquery()
    )
    claim_rows = conn.execute(
        select(per_claim, workers.c.cores, workers.c.slots).outerjoin(
            workers, workers.c.id == per_claim.c.worker_id
        )
    ).all()
    claims: dict[int, list[Claim]] = {}
    for r in claim_rows:
        n, wall = int(r.n), max(0.0, float(r.wall))
        measured = float(r.measured) + (n - int(r.n_measured)) * wall / n
        claims.setdefault(r.task_id, []).append(
            Claim(n, wall, core_seconds(measured, r.cores, r.slots))
        )
    running_rows = conn.execute(
        select(
            frames.c.task_id,
            func.count(frames.c.lease_id.distinct()).label("claims"),
            func.coalesce(func.sum(frames.c.progress), 0.0).label("progress"),
        )
        .where((frames.c.status == FrameStatus.RUNNING.value) & frames.c.task_id.in_(ids))
        .group_by(frames.c.task_id)
    ).all()
    running = {r.task_id: (int(r.claims), float(r.progress)) for r in running_rows}
    return {
        task_id: measure(claims.get(task_id, []), *running.get(task_id, (0, 0.0)))
        for task_id in ids
        if task_id in claims or task_id in running
    }


def of_rows(conn: Connection, rows: Sequence[Any]) -> dict[int, Estimate]:
    """The `Estimate` of each task row (rows of `tasks`: status, frame counters, frame_count)."""
    found = measures(conn, [r.id for r in rows])
    return {
        r.id: estimate(
            r.status,
            {s.value: getattr(r, f"n_{s.value}") for s in FrameStatus},
            r.frame_count,
            found.get(r.id, Measure()),
        )
        for r in rows
    }
