"""The one state machine of foxden: frame statuses, every allowed transition, task status.

Frames carry the state; a task's status is derived from how many of its frames are in each
status. Nothing else in foxden decides a status: the persistence layer (`foxden.farm.lifecycle`)
asks `transition()` which frames may move and `derive_task_status()` what the task becomes.

```
            claim              finish
 waiting ---------> running ----------> done
   ^  ^               |  |  \\
   |  +-- retry ------+  |   +-- fail (attempts left: waiting; none left, or a
   |     (fail/expire)   |        deterministic failure: failed)
   |                     +------ lease expired (same rule as fail)
   |                     +------ release (worker signs off: waiting, attempt refunded)
   +-- resume -- stopped <-- stop -- waiting | running
 restart: any status -> waiting (attempts reset)          abort: not done -> aborted
```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from foxden.errors import Conflict


class FrameStatus(StrEnum):
    """Where one frame is."""

    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"
    ABORTED = "aborted"


class TaskStatus(StrEnum):
    """A task's status, derived from its frames (a draft has none yet)."""

    #: reserved by the vendor SDK's createTask and not submitted: no frames, never scheduled,
    #: left out of task lists; submit turns it into a queued task with the same id.
    DRAFT = "draft"
    QUEUED = "queued"
    RENDERING = "rendering"
    STOPPED = "stopped"
    DONE = "done"
    FAILED = "failed"
    ABORTED = "aborted"


class Event(StrEnum):
    """Everything that can happen to a frame."""

    CLAIM = "claim"
    FINISH = "finish"
    FAIL = "fail"
    EXPIRE = "expire"
    RELEASE = "release"
    STOP = "stop"
    RESUME = "resume"
    RESTART = "restart"
    ABORT = "abort"


F = FrameStatus
_ALL = frozenset(F)

#: event -> statuses a frame may be in for the event to apply to it.
SOURCES: Mapping[Event, frozenset[FrameStatus]] = {
    Event.CLAIM: frozenset({F.WAITING}),
    Event.FINISH: frozenset({F.RUNNING}),
    Event.FAIL: frozenset({F.RUNNING}),
    Event.EXPIRE: frozenset({F.RUNNING}),
    Event.RELEASE: frozenset({F.RUNNING}),
    Event.STOP: frozenset({F.WAITING, F.RUNNING}),
    Event.RESUME: frozenset({F.STOPPED}),
    Event.RESTART: _ALL,
    Event.ABORT: frozenset({F.WAITING, F.RUNNING, F.STOPPED, F.FAILED}),
}


def target(
    event: Event, attempts: int = 0, max_attempts: int = 1, *, retry: bool = True
) -> FrameStatus:
    """The status a frame moves to on `event` (after `attempts` tries out of `max_attempts`).

    A failure goes back to waiting while attempts are left, unless `retry` is false: a
    deterministic failure (`foxden.core.failures.retried`) fails the frame at once."""
    if event in (Event.FAIL, Event.EXPIRE):
        return F.WAITING if retry and attempts < max_attempts else F.FAILED
    return {
        Event.CLAIM: F.RUNNING,
        Event.FINISH: F.DONE,
        Event.RELEASE: F.WAITING,
        Event.STOP: F.STOPPED,
        Event.RESUME: F.WAITING,
        Event.RESTART: F.WAITING,
        Event.ABORT: F.ABORTED,
    }[event]


def allowed(event: Event, status: FrameStatus | str) -> bool:
    """Whether a frame in `status` can take `event`."""
    return FrameStatus(status) in SOURCES[event]


def derive_task_status(counts: Mapping[str, int]) -> TaskStatus:
    """A task's status from the number of its frames in each frame status."""

    def n(status: FrameStatus) -> int:
        return int(counts.get(status.value, 0))

    if n(F.RUNNING):
        return TaskStatus.RENDERING
    if n(F.WAITING):
        started = n(F.DONE) + n(F.FAILED) > 0
        return TaskStatus.RENDERING if started else TaskStatus.QUEUED
    if n(F.STOPPED):
        return TaskStatus.STOPPED
    if n(F.ABORTED):
        return TaskStatus.ABORTED
    if n(F.FAILED):
        return TaskStatus.FAILED
    return TaskStatus.DONE


ACTIVE = frozenset({TaskStatus.QUEUED, TaskStatus.RENDERING})
FINISHED = frozenset({TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.ABORTED})
#: statuses in which no frame moves until someone acts (finished, or stopped).
SETTLED = FINISHED | {TaskStatus.STOPPED}


# ---- leases and workers ----------------------------------------------------------------------


class LeaseState(StrEnum):
    """Where a lease (a worker's hold on some frames of one task) is."""

    ACTIVE = "active"  # the worker renders; heartbeats extend it
    DONE = "done"  # every frame reported
    RELEASED = "released"  # the worker gave its frames back (sign-off, revocation)
    EXPIRED = "expired"  # no heartbeat in time: the reaper requeued its frames
    REVOKED = "revoked"  # its task was stopped: the worker hears "stop" at its next heartbeat


#: lease states whose worker may still upload and report (a revoked one: what it finished).
LIVE_LEASES = frozenset({LeaseState.ACTIVE, LeaseState.REVOKED})


class WorkerState(StrEnum):
    """Where a render node is."""

    IDLE = "idle"  # its last claim found no work
    BUSY = "busy"  # it holds a lease
    OFFLINE = "offline"  # signed off, or not seen for a while
    REVOKED = "revoked"  # an administrator took its token away
    GONE = "gone"  # removed for good


class WorkerMode(StrEnum):
    """What an administrator wants of a render node (independent of where it is)."""

    ACTIVE = "active"  # it claims work
    DRAINING = "draining"  # it finishes its leases and claims no new work
    DISABLED = "disabled"  # it claims no work; its leases were released when it was disabled


#: worker states whose token is refused.
LOCKED_OUT = frozenset({WorkerState.REVOKED, WorkerState.GONE})


# ---- task-level operations: which task statuses each user operation accepts ----------------


class TaskOp(StrEnum):
    """Operations a user can apply to a whole task."""

    STOP = "stop"
    RESUME = "resume"
    RESTART = "restart"
    ABORT = "abort"
    DELETE = "delete"


_OP_ALLOWED: Mapping[TaskOp, frozenset[TaskStatus]] = {
    TaskOp.STOP: ACTIVE,
    TaskOp.RESUME: frozenset({TaskStatus.STOPPED}),
    TaskOp.RESTART: frozenset(TaskStatus) - {TaskStatus.DRAFT},
    TaskOp.ABORT: frozenset(TaskStatus) - {TaskStatus.DONE, TaskStatus.ABORTED, TaskStatus.DRAFT},
    TaskOp.DELETE: frozenset(TaskStatus) - ACTIVE,
}

_OP_HINT: Mapping[TaskOp, str] = {
    TaskOp.STOP: "only a queued or rendering task can be stopped",
    TaskOp.RESUME: "only a stopped task can be resumed",
    TaskOp.RESTART: "a draft has no frames yet: submit it first",
    TaskOp.ABORT: "a finished, aborted or draft task cannot be aborted",
    TaskOp.DELETE: "only a task that is not queued or rendering can be deleted: stop it first",
}


def check_task_op(op: TaskOp, status: TaskStatus | str) -> None:
    """Raise Conflict, saying what to do, if `op` is not allowed on a task in `status`."""
    if TaskStatus(status) not in _OP_ALLOWED[op]:
        raise Conflict(f"cannot {op.value} a task that is {status}: {_OP_HINT[op]}")


# ---- the vendor's names, for the compatible API ---------------------------------------------

VENDOR_TASK_STATUS: Mapping[TaskStatus, str] = {
    TaskStatus.DRAFT: "Waiting",
    TaskStatus.QUEUED: "Start",
    TaskStatus.RENDERING: "Start",
    TaskStatus.STOPPED: "Stopped",
    TaskStatus.DONE: "System_Done",
    TaskStatus.FAILED: "Failed",
    TaskStatus.ABORTED: "Abandoned",
}

#: vendor status string -> our task statuses it selects in a filter.
VENDOR_FILTER: Mapping[str, frozenset[TaskStatus]] = {
    "start": frozenset({TaskStatus.QUEUED, TaskStatus.RENDERING}),
    "executing": frozenset({TaskStatus.RENDERING}),
    "waiting": frozenset({TaskStatus.QUEUED}),
    "stopped": frozenset({TaskStatus.STOPPED}),
    "user_stop": frozenset({TaskStatus.STOPPED}),
    "system_done": frozenset({TaskStatus.DONE}),
    "done": frozenset({TaskStatus.DONE}),
    "failed": frozenset({TaskStatus.FAILED}),
    "subfailed": frozenset({TaskStatus.FAILED}),
    "abandoned": frozenset({TaskStatus.ABORTED}),
    "aborted": frozenset({TaskStatus.ABORTED}),
}


def vendor_task_status(status: TaskStatus | str, counts: Mapping[str, int]) -> str:
    """The vendor's name for a task status (`SubFailed` when some frames failed, some not)."""
    ours = TaskStatus(status)
    if ours is TaskStatus.FAILED and counts.get(F.DONE.value, 0):
        return "SubFailed"
    return VENDOR_TASK_STATUS[ours]


def statuses_for_filter(value: str) -> frozenset[TaskStatus]:
    """Our task statuses selected by a filter value (ours or the vendor's, any case)."""
    key = value.strip().lower()
    if key in {s.value for s in TaskStatus}:
        return frozenset({TaskStatus(key)})
    if key in VENDOR_FILTER:
        return VENDOR_FILTER[key]
    known = sorted({s.value for s in TaskStatus} | {"Start", "Stopped", "System_Done", "Failed"})
    raise ValueError(f"unknown task status {value!r}; use one of {', '.join(known)}")


# ---- the vendor's current SDK (rayvision_api): numeric status codes ---------------------------

#: foxden task status -> the SDK's `taskStatus` code. 0 waiting, 5 rendering, 10 stopped,
#: 25 done, 30 done with failed frames, 35 abandoned, 45 failed (see `sdk_task_status`).
SDK_TASK_STATUS: Mapping[TaskStatus, int] = {
    TaskStatus.DRAFT: 0,
    TaskStatus.QUEUED: 0,
    TaskStatus.RENDERING: 5,
    TaskStatus.STOPPED: 10,
    TaskStatus.DONE: 25,
    TaskStatus.FAILED: 45,
    TaskStatus.ABORTED: 35,
}
#: the SDK's codes at which a task is over (rayvision_sync stops downloading then).
SDK_ENDED = frozenset({10, 20, 23, 25, 30, 35, 45})


def sdk_task_status(status: TaskStatus | str, counts: Mapping[str, int]) -> int:
    """The SDK's `taskStatus` code: a failed task some of whose frames rendered is 30."""
    ours = TaskStatus(status)
    if ours is TaskStatus.FAILED and counts.get(F.DONE.value, 0):
        return 30
    return SDK_TASK_STATUS[ours]


#: The vendor's task status codes that foxden never reaches (preprocessing, stopped for arrears,
#: timed out, test frames done, analysing, and 15 and 100 of the list's notes): a filter on them
#: matches no task.
SDK_UNUSED_TASK_CODES = frozenset({8, 15, 20, 23, 40, 50, 100})


def sdk_task_selection(codes: Iterable[int]) -> list[tuple[TaskStatus, bool | None]]:
    """What a filter on the SDK's task status codes selects: (foxden status, whether some
    frames must be done: True for 30, False for 45, None when it does not matter).

    ValueError names a code the SDK does not know."""
    chosen: list[tuple[TaskStatus, bool | None]] = []
    for code in codes:
        if code == 30:
            chosen.append((TaskStatus.FAILED, True))
        elif code == SDK_TASK_STATUS[TaskStatus.FAILED]:
            chosen.append((TaskStatus.FAILED, False))
        elif code in SDK_UNUSED_TASK_CODES:
            continue
        else:
            found = [
                s for s, c in SDK_TASK_STATUS.items() if c == code and s is not TaskStatus.DRAFT
            ]
            if not found:
                known = sorted({*SDK_TASK_STATUS.values(), 30, *SDK_UNUSED_TASK_CODES})
                raise ValueError(
                    f"unknown task status code {code}; the SDK's codes are "
                    + ", ".join(map(str, known))
                )
            chosen.extend((s, None) for s in found)
    return chosen


#: foxden frame status -> the SDK's `frameStatus` code. The vendor documents 1 (waiting) and 4
#: (done, the only status with a thumbnail); 2, 3, 5 and 6 are foxden's, in the same range.
SDK_FRAME_STATUS: Mapping[FrameStatus, int] = {
    FrameStatus.WAITING: 1,
    FrameStatus.RUNNING: 2,
    FrameStatus.STOPPED: 3,
    FrameStatus.DONE: 4,
    FrameStatus.FAILED: 5,
    FrameStatus.ABORTED: 6,
}


def sdk_frame_statuses(codes: Iterable[int]) -> list[FrameStatus]:
    """The frame statuses the SDK's `frameStatus` codes name (ValueError for an unknown one)."""
    by_code = {c: s for s, c in SDK_FRAME_STATUS.items()}
    chosen: list[FrameStatus] = []
    for code in codes:
        if code not in by_code:
            known = ", ".join(f"{c} {s.value}" for s, c in SDK_FRAME_STATUS.items())
            raise ValueError(f"unknown frame status code {code}; use {known}")
        if by_code[code] not in chosen:
            chosen.append(by_code[code])
    return chosen
