"""Named limits of concurrent frames (a licensed plugin, a shared file server).

`foxden limit set arnold 10`: at most 10 frames of the tasks that take `arnold` (named at
submit, `limits: ["arnold"]`, or by their project) run at once. Claims respect it
atomically: on SQLite the claim holds the one write lock; on PostgreSQL it takes the limits'
rows (`FOR UPDATE`, in name order) after its task row and counts again before it commits
(`locked_room`). The limits a claim holds never make it wait for anything else, so they add no
deadlock to the farm's lock order (task, limits, leases, frames).

A limit raised wakes as many claims held open (long poll, `farm/wakeups.py`) as it makes room
for; a limit removed, from the farm or from a project, wakes them all: its tasks may run as
many frames as there are workers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, delete, func, insert, select, text, update

from foxden.core.states import FINISHED
from foxden.db.engine import Database
from foxden.db.schema import limits, project_limits, projects, task_limits, tasks
from foxden.errors import BadRequest, NotFound
from foxden.farm import wakeups
from foxden.farm.candidates import LIMIT_NAMES, LIMIT_USED
from foxden.wire.policy import LimitOut, LimitRemovedOut, ProjectLimitsOut

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_RUNNING = 1_000_000

_NAMES_OF_TASK = text(
    LIMIT_NAMES.format(
        task=":task_id", project="(SELECT project_id FROM tasks WHERE id = :task_id)"
    )
)
_LOCK = text("SELECT name FROM limits WHERE name IN :names ORDER BY name FOR UPDATE").bindparams(
    bindparam("names", expanding=True)
)
_ROOM = text(
    f"SELECT MIN(limits.max_running - {LIMIT_USED}) FROM limits WHERE limits.name IN :names"
).bindparams(bindparam("names", expanding=True))


def check_name(name: str) -> str:
    """A limit's name, checked (400 for one that is not a short plain word)."""
    if not isinstance(name, str) or not NAME.match(name):
        raise BadRequest(
            f"a limit's name is 1-64 letters, digits, '_', '.' or '-', starting with a letter "
            f"or digit, not {name!r}"
        )
    return name


def locked_room(conn: Connection, task_id: int) -> int | None:
    """Frames the limits of `task_id` still allow, counted under their row locks (PostgreSQL;
    SQLite's claim holds the write lock already); None when the task takes no limit."""
    names = sorted(conn.execute(_NAMES_OF_TASK, {"task_id": task_id}).scalars())
    if not names:
        return None
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK, {"names": names})
    room = conn.execute(_ROOM, {"names": names}).scalar()
    return None if room is None else int(room)


def set_limit(db: Database, name: str, max_running: int) -> LimitOut:
    """Create or change a limit (admins): at most `max_running` frames at once."""
    check_name(name)
    if isinstance(max_running, bool) or not isinstance(max_running, int):
        raise BadRequest(f"a limit's maximum is a whole number, not {max_running!r}")
    if not 0 <= max_running <= MAX_RUNNING:
        raise BadRequest(f"a limit's maximum is between 0 and {MAX_RUNNING}, not {max_running}")
    now = time.time()
    with db.write() as conn:
        before = conn.execute(select(limits.c.max_running).where(limits.c.name == name)).scalar()
        if before is None:  # a new limit: no task takes it yet (`known`), nothing is freed
            conn.execute(insert(limits).values(name=name, max_running=max_running, updated_at=now))
        else:
            conn.execute(
                update(limits)
                .where(limits.c.name == name)
                .values(max_running=max_running, updated_at=now)
            )
            if max_running > before:  # room for this many more frames: wake as many claims
                wakeups.on_commit(conn, max_running - int(before))
    return get_limit(db, name)


def remove_limit(db: Database, name: str) -> LimitRemovedOut:
    """Remove a limit; the tasks and projects that took it no longer do."""
    with db.write() as conn:
        conn.execute(delete(task_limits).where(task_limits.c.name == name))
        conn.execute(delete(project_limits).where(project_limits.c.name == name))
        gone = conn.execute(delete(limits).where(limits.c.name == name)).rowcount
        if gone:
            wakeups.on_commit(conn, None)  # its tasks are no longer held back by it
    if not gone:
        raise NotFound(f"no limit named {name!r} (foxden limit list shows them)")
    return LimitRemovedOut(name=name, removed=True)


def list_limits(db: Database) -> list[LimitOut]:
    """Every limit with the frames running under it now and the unfinished tasks taking it."""
    with db.read() as conn:
        rows = conn.execute(
            text(
                f"SELECT limits.name, limits.max_running, {LIMIT_USED} AS used FROM limits "
                "ORDER BY limits.name"
            )
        ).all()
        counts = _task_counts(conn, [r.name for r in rows])
    return [
        LimitOut(
            name=r.name,
            max_running=r.max_running,
            running=int(r.used),
            tasks=counts.get(r.name, 0),
        )
        for r in rows
    ]


def _task_counts(conn: Connection, names: Sequence[str]) -> dict[str, int]:
    if not names:
        return {}
    unfinished = tasks.c.status.not_in([s.value for s in FINISHED])
    direct = select(task_limits.c.name, task_limits.c.task_id).join(
        tasks, tasks.c.id == task_limits.c.task_id
    )
    by_project = select(project_limits.c.name, tasks.c.id).join(
        tasks, tasks.c.project_id == project_limits.c.project_id
    )
    both = direct.where(unfinished).union(by_project.where(unfinished)).subquery()
    rows = conn.execute(select(both.c.name, func.count()).group_by(both.c.name)).all()
    return {name: int(n) for name, n in rows}


def get_limit(db: Database, name: str) -> LimitOut:
    """One limit (404 when there is none of that name)."""
    for item in list_limits(db):
        if item.name == name:
            return item
    raise NotFound(f"no limit named {name!r}: an admin creates it (foxden limit set NAME MAX)")


def known(conn: Connection, names: Sequence[str]) -> list[str]:
    """`names` checked: each a limit that exists (400 naming those that do not)."""
    wanted = sorted({check_name(n) for n in names})
    if not wanted:
        return []
    have = set(conn.execute(select(limits.c.name).where(limits.c.name.in_(wanted))).scalars())
    missing = [n for n in wanted if n not in have]
    if missing:
        raise BadRequest(
            f"no limit named {', '.join(map(repr, missing))}: an admin creates limits "
            "(foxden limit set NAME MAX); foxden limit list shows those there are"
        )
    return wanted


def take(conn: Connection, task_id: int, names: Sequence[str]) -> None:
    """Make a new task take the limits `names` (checked by `known`)."""
    if names:
        conn.execute(insert(task_limits), [{"task_id": task_id, "name": n} for n in names])


def task_limit_names(conn: Connection, task_id: int) -> list[str]:
    """The limits a task takes, its own and its project's."""
    return sorted(set(conn.execute(_NAMES_OF_TASK, {"task_id": task_id}).scalars()))


def set_project_limits(
    db: Database, account_id: int, account_name: str, project_name: str, names: Sequence[str]
) -> ProjectLimitsOut:
    """The limits every task of a project takes (its owner or an admin sets them; replaces)."""
    with db.write() as conn:
        project = conn.execute(
            select(projects.c.id).where(
                (projects.c.account_id == account_id) & (projects.c.name == project_name)
            )
        ).first()
        if project is None:
            raise NotFound(f"no project named {project_name!r} in account {account_name!r}")
        chosen = known(conn, names)
        before = conn.execute(
            select(project_limits.c.name).where(project_limits.c.project_id == project.id)
        ).scalars()
        if set(before) - set(chosen):  # the project's tasks no longer take some limit
            wakeups.on_commit(conn, None)
        conn.execute(delete(project_limits).where(project_limits.c.project_id == project.id))
        if chosen:
            conn.execute(
                insert(project_limits), [{"project_id": project.id, "name": n} for n in chosen]
            )
    return ProjectLimitsOut(account=account_name, project_name=project_name, limits=chosen)


def project_limit_names(db: Database, account_id: int, project_name: str) -> list[str]:
    """The limits of the account's project `project_name` (404 when it has none such)."""
    with db.read() as conn:
        project = conn.execute(
            select(projects.c.id).where(
                (projects.c.account_id == account_id) & (projects.c.name == project_name)
            )
        ).first()
        if project is None:
            raise NotFound(f"no project named {project_name!r}")
        return sorted(
            conn.execute(
                select(project_limits.c.name).where(project_limits.c.project_id == project.id)
            ).scalars()
        )
