"""The state machine: transitions, attempts, derived task status, vendor names, task operations."""

from __future__ import annotations

import pytest

from foxden.core.states import (
    Event,
    FrameStatus,
    TaskOp,
    TaskStatus,
    allowed,
    check_task_op,
    derive_task_status,
    statuses_for_filter,
    target,
    vendor_task_status,
)
from foxden.errors import Conflict

F = FrameStatus


def test_failure_retries_until_attempts_are_spent() -> None:
    assert target(Event.FAIL, attempts=1, max_attempts=3) is F.WAITING
    assert target(Event.FAIL, attempts=3, max_attempts=3) is F.FAILED
    assert target(Event.EXPIRE, attempts=2, max_attempts=3) is F.WAITING
    assert target(Event.EXPIRE, attempts=3, max_attempts=3) is F.FAILED


@pytest.mark.parametrize(
    ("event", "status", "ok"),
    [
        (Event.CLAIM, F.WAITING, True),
        (Event.CLAIM, F.STOPPED, False),
        (Event.FINISH, F.WAITING, False),
        (Event.STOP, F.DONE, False),
        (Event.RESUME, F.STOPPED, True),
        (Event.ABORT, F.DONE, False),
        (Event.RESTART, F.DONE, True),
    ],
)
def test_allowed(event: Event, status: FrameStatus, ok: bool) -> None:
    assert allowed(event, status) is ok


@pytest.mark.parametrize(
    ("counts", "status"),
    [
        ({"waiting": 5}, TaskStatus.QUEUED),
        ({"waiting": 4, "running": 1}, TaskStatus.RENDERING),
        ({"waiting": 4, "done": 1}, TaskStatus.RENDERING),
        ({"stopped": 3, "done": 2}, TaskStatus.STOPPED),
        ({"done": 5}, TaskStatus.DONE),
        ({"done": 4, "failed": 1}, TaskStatus.FAILED),
        ({"done": 4, "aborted": 1}, TaskStatus.ABORTED),
    ],
)
def test_task_status_is_derived_from_frames(counts: dict[str, int], status: TaskStatus) -> None:
    assert derive_task_status(counts) is status


def test_vendor_names() -> None:
    assert vendor_task_status("queued", {}) == "Start"
    assert vendor_task_status("done", {}) == "System_Done"
    assert vendor_task_status("failed", {"done": 0}) == "Failed"
    assert vendor_task_status("failed", {"done": 3}) == "SubFailed"
    assert statuses_for_filter("System_Done") == {TaskStatus.DONE}
    assert statuses_for_filter("Start") == {TaskStatus.QUEUED, TaskStatus.RENDERING}
    assert statuses_for_filter("User_Stop") == {TaskStatus.STOPPED}
    with pytest.raises(ValueError, match="unknown task status 'Bogus'"):
        statuses_for_filter("Bogus")


def test_vendor_rules_for_operations() -> None:
    check_task_op(TaskOp.STOP, TaskStatus.RENDERING)
    check_task_op(TaskOp.DELETE, TaskStatus.STOPPED)
    check_task_op(TaskOp.RESTART, TaskStatus.DONE)
    with pytest.raises(Conflict, match="stop it first"):
        check_task_op(TaskOp.DELETE, TaskStatus.RENDERING)
    with pytest.raises(Conflict, match="only a queued or rendering task can be stopped"):
        check_task_op(TaskOp.STOP, TaskStatus.DONE)
    with pytest.raises(Conflict, match="only a stopped task can be resumed"):
        check_task_op(TaskOp.RESUME, TaskStatus.QUEUED)
