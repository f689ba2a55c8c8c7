"""What a task waits for and takes: its dependencies and their status, the tasks waiting for
it, why it is blocked, why no worker takes its waiting frames (`foxden.farm.waiting`), its
limits (its own and its project's) and its band."""

from __future__ import annotations

from sqlalchemy import select

from foxden.db.engine import Database
from foxden.db.schema import tasks
from foxden.errors import NotFound
from foxden.farm import limits
from foxden.farm.dependencies import dependents, depends_on
from foxden.farm.failure_memory import DEFAULT, FailurePolicy
from foxden.farm.waiting import waiting_for
from foxden.wire.policy import DependencyOut, TaskPolicyOut


def task_policy(
    db: Database, account_id: int, task_id: int, failures: FailurePolicy = DEFAULT
) -> TaskPolicyOut:
    """A task of the account with what it waits for and takes (404 for anyone else's);
    `failures`: the server's failure memory settings (who is kept off the task)."""
    with db.read() as conn:
        row = conn.execute(
            select(tasks.c.blocked_reason, tasks.c.band).where(
                (tasks.c.id == task_id) & (tasks.c.account_id == account_id)
            )
        ).first()
        if row is None:
            raise NotFound(f"no task {task_id} in your account")
        return TaskPolicyOut(
            task_id=task_id,
            depends_on=[DependencyOut(id=i, status=s) for i, s in depends_on(conn, task_id)],
            dependents=dependents(conn, task_id),
            blocked_reason=row.blocked_reason,
            waiting_for=waiting_for(conn, task_id, failures),
            limits=limits.task_limit_names(conn, task_id),
            band=row.band,
        )
