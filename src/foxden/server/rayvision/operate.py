"""The SDK's operations on tasks and frames: stop, start, abandon, delete, priority, frame
timeout, restart and stop of frames; and clear refusals of what foxden does not have.

Every operation is on the caller's tasks only: another account's task is 404, exactly as a
task that does not exist, and nothing happens. foxden's state machine decides what each
status allows (`foxden.core.states.check_task_op`); a refused operation is 409 with the reason.

Operations on several tasks (`taskIds`) check every task first: when one is not the caller's
(404) or its status refuses the operation (409), the reply names it and no task changes.
Then each task is changed in its own transaction; a task that changed status in between (a
worker finished it meanwhile) is refused alone, after the ones before it were changed.
Repeated ids count once. These calls answer `data` null, as the vendor's do.
"""

from __future__ import annotations

from collections.abc import Callable

from foxden.core.states import FrameStatus, TaskOp, check_task_op, sdk_frame_statuses
from foxden.errors import BadRequest, Conflict, FoxdenError
from foxden.farm import tasks
from foxden.server.rayvision.calls import Call, handles, ids, integer
from foxden.server.rayvision.query import codes, unique
from foxden.server.rayvision.records import LEVELS, priority_of_level


class NotOffered(FoxdenError):
    """foxden does not offer this call."""

    status_code = 501
    code = "not_offered"


def _checked(call: Call, op: TaskOp, name: str = "taskIds") -> list[int]:
    """The task ids of the call once each is the caller's and allows `op` (404 / 409 else)."""
    wanted = unique(ids(call.body, name))
    for task_id in wanted:
        status = tasks.get_task(call.farm.db, call.account.id, task_id).status
        try:
            check_task_op(op, status)
        except Conflict as exc:
            raise Conflict(f"task {task_id}: {exc.message}; no task was changed") from None
    return wanted


def _each(call: Call, op: TaskOp, apply: Callable[[int], object]) -> None:
    for task_id in _checked(call, op):
        apply(task_id)


def _frame_statuses(call: Call) -> list[FrameStatus]:
    """The frame statuses named by the SDK's codes in `status` (400 for an unknown code)."""
    try:
        return sdk_frame_statuses(codes(call.body, "status"))
    except ValueError as exc:
        raise BadRequest(f"status: {exc}") from None


def _frame_ids(call: Call) -> list[int]:
    """The frame row ids of `ids` (the SDK sends `ids`; its schema names `Ids`)."""
    name = "ids" if call.body.get("ids") not in (None, "", []) else "Ids"
    return unique(ids(call.body, name, limit=100_000))


def _select_all(call: Call) -> bool:
    """`selectAll` 1 (every frame, or every frame in `status`) or 0 (the frames of `ids`);
    left out, it is 0 when `ids` are given, else 1."""
    given = call.body.get("ids") not in (None, "", []) or call.body.get("Ids") not in (None, "", [])
    return integer(call.body, "selectAll", 0 if given else 1, high=1) == 1


def _operate(call: Call, op: TaskOp) -> None:
    db, account = call.farm.db, call.account.id
    _each(call, op, lambda task_id: tasks.operate(db, account, task_id, op))


@handles("/api/rendering/task/renderingTask/stopTask")
def stop_task(call: Call) -> None:
    """Stop queued or rendering tasks (running frames stop at their worker's next heartbeat)."""
    _operate(call, TaskOp.STOP)


@handles("/api/rendering/task/renderingTask/startTask")
def start_task(call: Call) -> None:
    """Start stopped tasks again: their stopped frames wait for workers."""
    _operate(call, TaskOp.RESUME)


@handles("/api/render/handle/abandonTask")
def abandon_task(call: Call) -> None:
    """Abandon tasks for good: every frame not done is aborted."""
    _operate(call, TaskOp.ABORT)


@handles("/api/render/handle/deleteTask")
def delete_task(call: Call) -> None:
    """Delete tasks that are not queued or rendering (stop them first), with their outputs'
    records; foxden keeps no recycle bin."""
    db, account = call.farm.db, call.account.id
    _each(call, TaskOp.DELETE, lambda task_id: tasks.delete_task(db, account, task_id))


@handles("/api/rendering/task/renderingTask/updateTaskUserLevel")
def update_task_user_level(call: Call) -> None:
    """Set a task's level, in any status. The SDK's `taskUserLevel` (0 to 100) is foxden's
    priority plus 50 (`records.priority_of_level`): level 50, createTask's default, is
    priority 0; level 60 is priority 10, claimed before it; level 0 is priority -50."""
    task_id = integer(call.body, "taskId", low=1)
    level = integer(call.body, "taskUserLevel", low=LEVELS[0], high=LEVELS[1])
    tasks.set_priority(call.farm.db, call.account.id, task_id, priority_of_level(level))


@handles("/api/render/handle/setTaskOverTimeStop")
def set_task_over_time_stop(call: Call) -> None:
    """Store how long one frame of each task may render (`overTime` seconds; 0 clears it) in
    `tasks.frame_timeout_s`, for all the tasks or none (404 names one not the caller's); shown
    as `overTimeStop`. Frames claimed from then on carry it in their lease: the worker stops a
    frame that renders longer and it fails as timed out (retried while attempts are left)."""
    wanted = unique(ids(call.body, "taskIds"))
    seconds = integer(call.body, "overTime")
    tasks.set_frame_timeout(call.farm.db, call.account.id, wanted, seconds or None)


@handles("/api/render/handle/recommitTasks")
def recommit_tasks(call: Call) -> None:
    """Restart the failed frames of tasks, or the frames in the SDK's frame `status` codes
    (1 waiting, 2 rendering, 3 stopped, 4 done, 5 failed, 6 aborted)."""
    statuses = _frame_statuses(call) or [FrameStatus.FAILED]
    db, account = call.farm.db, call.account.id

    def restart(task_id: int) -> None:
        for status in statuses:
            tasks.operate(db, account, task_id, TaskOp.RESTART, restart=status.value)

    _each(call, TaskOp.RESTART, restart)


@handles("/api/render/handle/recommitTaskFrames")
def recommit_task_frames(call: Call) -> None:
    """Restart frames of one task: with `selectAll` 1 every frame (or those in the frame
    `status` codes), with 0 the frames whose row ids are in `ids` (404 for an id not of the
    task; `status` does not apply then, as with the vendor)."""
    task_id = integer(call.body, "taskId", low=1)
    db, account = call.farm.db, call.account.id
    if not _select_all(call):
        numbers = tasks.frame_numbers(db, account, task_id, _frame_ids(call))
        tasks.operate(db, account, task_id, TaskOp.RESTART, numbers=numbers)
        return
    statuses = _frame_statuses(call)
    if not statuses:
        tasks.operate(db, account, task_id, TaskOp.RESTART, restart="all")
        return
    check_task_op(TaskOp.RESTART, tasks.get_task(db, account, task_id).status)
    for status in statuses:
        tasks.operate(db, account, task_id, TaskOp.RESTART, restart=status.value)


@handles("/api/render/handle/stopTaskFrames")
def stop_task_frames(call: Call) -> None:
    """Stop frames of one queued or rendering task: with `selectAll` 1 the whole task (or its
    frames in the frame `status` codes), with 0 the frames whose row ids are in `ids`. Only
    waiting and rendering frames stop; restart stopped frames with recommitTaskFrames, or start
    the task when all its frames are stopped."""
    task_id = integer(call.body, "taskId", low=1)
    db, account = call.farm.db, call.account.id
    if not _select_all(call):
        numbers = tasks.frame_numbers(db, account, task_id, _frame_ids(call))
        tasks.stop_frames(db, account, task_id, numbers=numbers)
        return
    statuses = _frame_statuses(call)
    if not statuses:
        tasks.operate(db, account, task_id, TaskOp.STOP)
    else:
        tasks.stop_frames(db, account, task_id, statuses=statuses)


@handles("/api/render/handle/fullSpeedRendering")
def full_speed_rendering(call: Call) -> None:
    """Refused: foxden has no speed tiers."""
    raise NotOffered(
        "foxden has no full-speed tier: every task renders on every free worker that has its "
        "software; raise a task's level (updateTaskUserLevel) to have it claimed first"
    )


@handles("/api/render/handle/updateTaskLimit")
def update_task_limit(call: Call) -> None:
    """Refused: foxden has no per-task node limit."""
    raise NotOffered(
        "foxden has no per-task limit on render nodes: a task's frames go to any free worker "
        "with its software; lower its level (updateTaskUserLevel) to leave workers to others"
    )


@handles("/api/render/handle/editTaskHardwareConfig")
def edit_task_hardware_config(call: Call) -> None:
    """Refused: foxden's workers are the farm's own machines, not hardware to choose."""
    raise NotOffered(
        "foxden has no hardware configurations to choose: a task renders on the farm's workers "
        "that offer its software (and tags); ask the farm's administrator for other machines"
    )
