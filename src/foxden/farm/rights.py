"""What an administrator grants: trusted accounts (privileged job types) and project sandbox rights.

A privileged job type (`command`) runs any program the account names on the render nodes, so
only an account an administrator trusts may create, change or submit with it; administrators
themselves always may (they can trust themselves anyway). The check reads the account row every
time, so `untrust` takes effect at once; it also stops the account's command tasks in the queue.
A project's sandbox rights (network, the scene's own scripts) are set by administrators only and
travel with every lease of its tasks (`scheduler.claim`). The checks themselves, which projects,
tasks and the scheduler make, are in `farm/privileges.py`.
"""

from __future__ import annotations

from sqlalchemy import select, update

from foxden.core.states import TaskOp, TaskStatus
from foxden.db.engine import Database
from foxden.db.schema import accounts, projects, tasks
from foxden.errors import Conflict, NotFound
from foxden.farm import wakeups
from foxden.farm.accounts import account_record
from foxden.farm.privileges import PRIVILEGED_JOB_TYPES, project_rights
from foxden.farm.tasks import operate
from foxden.wire.api import ProjectRightsOut, TrustOut

#: the statuses of a task that would still render: untrusting stops them
_PENDING = (TaskStatus.QUEUED.value, TaskStatus.RENDERING.value)


def set_trusted(db: Database, name: str, trusted: bool) -> TrustOut:
    """Trust or untrust an account by name; untrusting stops its queued and rendering
    command tasks (they could be resumed only by a trusted account). Returns its record with
    `stopped_tasks`, the ids of the tasks stopped."""
    with db.write() as conn:
        res = conn.execute(update(accounts).where(accounts.c.name == name).values(trusted=trusted))
        if res.rowcount == 0:
            raise NotFound(f"no account named {name!r}")
        if trusted:  # its queued command tasks may be claimed now
            wakeups.on_commit(conn, None)
        row = conn.execute(select(accounts).where(accounts.c.name == name)).mappings().one()
        pending = (
            []
            if trusted
            else list(
                conn.execute(
                    select(tasks.c.id).where(
                        (tasks.c.account_id == row["id"])
                        & tasks.c.job_type.in_(sorted(PRIVILEGED_JOB_TYPES))
                        & tasks.c.status.in_(_PENDING)
                    )
                ).scalars()
            )
        )
    stopped = _stop_all(db, int(row["id"]), pending)
    return TrustOut(**account_record(row).model_dump(), stopped_tasks=stopped)


def _stop_all(db: Database, account_id: int, task_ids: list[int]) -> list[int]:
    stopped = []
    for task_id in task_ids:
        try:
            operate(db, account_id, task_id, TaskOp.STOP)
        except (Conflict, NotFound):
            continue  # finished or deleted meanwhile
        stopped.append(task_id)
    return stopped


def set_project_rights(
    db: Database,
    account_name: str,
    project_name: str,
    *,
    allow_network: bool | None = None,
    allow_scripts: bool | None = None,
) -> ProjectRightsOut:
    """Set the sandbox rights of an account's project (administrators only, checked by the
    caller); None leaves a right as it is. Returns the account, the project and its rights."""
    values = {
        k: v
        for k, v in (("allow_network", allow_network), ("allow_scripts", allow_scripts))
        if v is not None
    }
    with db.write() as conn:
        account_id = conn.execute(
            select(accounts.c.id).where(accounts.c.name == account_name)
        ).scalar()
        if account_id is None:
            raise NotFound(f"no account named {account_name!r}")
        where = (projects.c.account_id == account_id) & (projects.c.name == project_name)
        if values:
            conn.execute(update(projects).where(where).values(**values))
        row = conn.execute(
            select(projects.c.allow_network, projects.c.allow_scripts).where(where)
        ).first()
        if row is None:
            raise NotFound(f"account {account_name!r} has no project named {project_name!r}")
    return ProjectRightsOut(account=account_name, project_name=project_name, **project_rights(row))
