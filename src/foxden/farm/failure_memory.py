"""What the farm remembers of a worker's failures.

- Per task (`worker_task_failures`): a worker that failed `task_failures` frames of a task (3
  by default, setting `worker_task_failures`) is no longer given that task (the claim's query
  leaves it out); other workers still are.
- Across tasks (`workers.failure_streak`): every report of failed frames with none done adds
  one, a frame done sets it back to 0. At `flag_streak` reports in a row (setting
  `worker_failure_streak`; with the per-task limit this spans several tasks) the worker is
  flagged for administrators (the workers page, `foxden workers list`), and, when the setting
  `disable_flagged_workers` says so, disabled (`workers.admin_state`): it gets no more work
  until an administrator enables it again, which clears the flag.
- Retries go to another worker first: see the frame pick in `foxden.farm.candidates`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from foxden.core.states import WorkerMode
from foxden.db.schema import worker_task_failures, workers


@dataclass(frozen=True)
class FailurePolicy:
    """The server's settings for failure memory."""

    task_failures: int = 3  # frames of one task a worker may fail before it is kept off it
    flag_streak: int = 5  # failed reports in a row that flag a worker
    disable_flagged: bool = False  # a flagged worker is disabled too


DEFAULT = FailurePolicy()


def note_failures(
    conn: Connection,
    worker_id: int,
    task_id: int,
    failed: int,
    now: float,
    policy: FailurePolicy = DEFAULT,
    *,
    any_done: bool = False,
) -> bool:
    """Remember that a report of `worker_id` failed `failed` frames of `task_id`: they count
    against the task, and a report with none done (`any_done` false) adds one to the worker's
    streak (the scheduler's contact update resets the streak for a report with a frame done,
    `scheduler._admit`). True when
    this made the worker disabled (the caller releases its other leases after this
    transaction)."""
    if not failed:
        return False
    counted = conn.execute(
        update(worker_task_failures)
        .where(
            (worker_task_failures.c.worker_id == worker_id)
            & (worker_task_failures.c.task_id == task_id)
        )
        .values(failures=worker_task_failures.c.failures + failed, last_at=now)
    ).rowcount
    if not counted:
        conn.execute(
            insert(worker_task_failures).values(
                worker_id=worker_id, task_id=task_id, failures=failed, last_at=now
            )
        )
    if any_done:
        return False
    row = conn.execute(
        update(workers)
        .where(workers.c.id == worker_id)
        .values(failure_streak=workers.c.failure_streak + 1)
        .returning(workers.c.failure_streak, workers.c.flagged, workers.c.admin_state)
    ).one()
    if row.failure_streak < policy.flag_streak or row.flagged:
        return False
    disable = policy.disable_flagged and row.admin_state != WorkerMode.DISABLED.value
    values: dict[str, object] = {"flagged": True}
    if disable:
        values["admin_state"] = WorkerMode.DISABLED.value
    conn.execute(update(workers).where(workers.c.id == worker_id).values(**values))
    return disable


def blocklisted(conn: Connection, worker_id: int, policy: FailurePolicy = DEFAULT) -> list[int]:
    """The tasks `worker_id` is kept off (it failed too many of their frames)."""
    return sorted(
        conn.execute(
            select(worker_task_failures.c.task_id).where(
                (worker_task_failures.c.worker_id == worker_id)
                & (worker_task_failures.c.failures >= policy.task_failures)
            )
        ).scalars()
    )


def clear_flag(conn: Connection, worker_id: int) -> None:
    """An administrator put the worker back to work: its flag and streak start again."""
    conn.execute(
        update(workers).where(workers.c.id == worker_id).values(flagged=False, failure_streak=0)
    )
