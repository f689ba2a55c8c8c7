"""Task dependencies: a task waits until every task it depends on is done.

`depends_on` at submit names tasks of the same account (404 for any other). The claim's
query leaves out a task with a dependency that is not done (`foxden.farm.candidates`). When a
dependency fails or is aborted, its dependents wait *blocked*: `tasks.blocked_reason` says
which and why, until the dependency is restarted (the reason clears) and done (they run).
The reason is kept by `refresh`, which `foxden.farm.lifecycle` calls whenever a task's status
changes. Dependencies can only name tasks that exist, so they never form a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, text, update

from foxden.core.states import TaskStatus
from foxden.db.schema import task_dependencies, tasks
from foxden.errors import BadRequest, NotFound
from foxden.farm import wakeups

MAX_DEPENDENCIES = 100
#: statuses of a dependency that block its dependents (they would wait forever)
BLOCKING = (TaskStatus.FAILED.value, TaskStatus.ABORTED.value)
# the waiting frames of tasks `:ids` whose every dependency is done (a dependency just done)
_UNBLOCKED_FRAMES = text(
    "SELECT COALESCE(SUM(t.n_waiting), 0) FROM tasks AS t WHERE t.id IN :ids AND t.n_waiting > 0 "
    "AND NOT EXISTS (SELECT 1 FROM task_dependencies AS dep "
    "JOIN tasks AS needed ON needed.id = dep.depends_on "
    f"WHERE dep.task_id = t.id AND needed.status <> '{TaskStatus.DONE.value}')"
).bindparams(bindparam("ids", expanding=True))


def checked(conn: Connection, account_id: int, ids: Sequence[Any]) -> list[int]:
    """The dependencies of a new task: ids of the account's own tasks (404 for any other)."""
    wanted: list[int] = []
    for raw in ids:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise BadRequest(f"depends_on lists task ids, not {raw!r}")
        try:
            wanted.append(int(raw))
        except ValueError:
            raise BadRequest(f"depends_on lists task ids, not {raw!r}") from None
    wanted = sorted(set(wanted))
    if len(wanted) > MAX_DEPENDENCIES:
        raise BadRequest(f"a task may depend on at most {MAX_DEPENDENCIES} tasks")
    if not wanted:
        return []
    found = set(
        conn.execute(
            select(tasks.c.id).where(
                tasks.c.id.in_(wanted)
                & (tasks.c.account_id == account_id)
                & (tasks.c.status != TaskStatus.DRAFT.value)
            )
        ).scalars()
    )
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(
            f"depends_on: no task {', '.join(map(str, missing))} in your account "
            "(a task can depend only on your own tasks)"
        )
    return wanted


def record(conn: Connection, task_id: int, depends_on: Sequence[int]) -> None:
    """Store a new task's dependencies and its blocked reason, if one is blocked already."""
    if not depends_on:
        return
    conn.execute(
        insert(task_dependencies), [{"task_id": task_id, "depends_on": d} for d in depends_on]
    )
    update_reasons(conn, [task_id])


def refresh(conn: Connection, task_id: int, *, done: bool = False) -> None:
    """The status of `task_id` changed: set again the blocked reason of the tasks that wait
    for it (one indexed query when none does). `done`: it is done now, so claims waiting for
    work are woken for the frames of the dependents it was the last to hold back."""
    waiting = list(
        conn.execute(
            select(task_dependencies.c.task_id).where(task_dependencies.c.depends_on == task_id)
        ).scalars()
    )
    if waiting:
        update_reasons(conn, waiting)
    if waiting and done:
        frames = int(conn.execute(_UNBLOCKED_FRAMES, {"ids": waiting}).scalar() or 0)
        if frames:
            wakeups.on_commit(conn, frames)


def reason(rows: Sequence[Any]) -> str:
    """Why a task is blocked, from its dependencies' (id, status) rows ('' when it is not)."""
    bad = [r for r in rows if r.status in BLOCKING]
    if not bad:
        return ""
    named = ", ".join(f"task {r.id} {r.status}" for r in bad[:5])
    more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
    return (
        f"blocked: a task it depends on did not finish ({named}{more}); restart that task "
        "and this one runs once it is done, or abort this one"
    )


def update_reasons(conn: Connection, task_ids: Sequence[int]) -> None:
    """Set again the blocked reason of `task_ids` from their dependencies' statuses now."""
    if not task_ids:
        return
    rows = conn.execute(
        select(task_dependencies.c.task_id, tasks.c.id, tasks.c.status)
        .join(tasks, tasks.c.id == task_dependencies.c.depends_on)
        .where(task_dependencies.c.task_id.in_(list(task_ids)))
        .order_by(task_dependencies.c.task_id, tasks.c.id)
    ).all()
    by_task: dict[int, list[Any]] = {t: [] for t in task_ids}
    for r in rows:
        by_task[r.task_id].append(r)
    current = dict(
        conn.execute(
            select(tasks.c.id, tasks.c.blocked_reason).where(tasks.c.id.in_(list(task_ids)))
        ).all()
    )
    for dependent, deps in by_task.items():
        text = reason(deps)[:512]
        if current.get(dependent, text) != text:
            conn.execute(update(tasks).where(tasks.c.id == dependent).values(blocked_reason=text))


def depends_on(conn: Connection, task_id: int) -> list[tuple[int, str]]:
    """The tasks `task_id` depends on, as (id, status), in id order."""
    rows = conn.execute(
        select(tasks.c.id, tasks.c.status)
        .join(task_dependencies, task_dependencies.c.depends_on == tasks.c.id)
        .where(task_dependencies.c.task_id == task_id)
        .order_by(tasks.c.id)
    ).all()
    return [(int(r.id), str(r.status)) for r in rows]


def dependents(conn: Connection, task_id: int) -> list[int]:
    """The tasks that wait for `task_id`."""
    return sorted(
        conn.execute(
            select(task_dependencies.c.task_id).where(task_dependencies.c.depends_on == task_id)
        ).scalars()
    )
