"""What an administrator grants: trusted accounts (privileged job types) and project sandbox rights.

A privileged job type (`command`) runs any program the account names on the render nodes, so
only an account an administrator trusts may create, change or submit with it; administrators
themselves always may (they can trust themselves anyway). The check reads the account row every
time, so `untrust` takes effect at once; it also stops the account's command tasks in the queue.
A project's sandbox rights (network, the scene's own scripts) are set by administrators only and
travel with every lease of its tasks (`scheduler.claim`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from foxden.core.software import split_soft_name
from foxden.db.engine import Database
from foxden.db.schema import accounts, projects, tasks
from foxden.errors import BadRequest, Forbidden, NotFound
from foxden.farm.accounts import account_record

PRIVILEGED_JOB_TYPES = frozenset({"command"})


def is_privileged(cg_soft_name: str) -> bool:
    """Whether software of this name is a privileged job type ('command 1' is)."""
    try:
        job_type, _version = split_soft_name(cg_soft_name)
    except BadRequest:
        return False  # not a software name at all: the caller's own check says so
    return job_type in PRIVILEGED_JOB_TYPES


def refusal(job_type: str, account_name: str) -> Forbidden:
    """The 403 an untrusted account gets for a privileged job type."""
    return Forbidden(
        f"the {job_type} job type runs any program on the render nodes: only accounts an "
        f"administrator trusts may use it (foxden account trust {account_name})"
    )


def require_allowed(
    conn: Connection, account_id: int, cg_soft_name: str, *, lock: bool = False
) -> None:
    """Raise 403 unless the account may use this software (privileged needs trust or admin).

    `lock` holds the account row (FOR SHARE on PostgreSQL) until the transaction ends, so an
    `untrust` committing meanwhile waits for it and then sees what it wrote.
    """
    if not is_privileged(cg_soft_name):
        return
    query = select(accounts.c.name, accounts.c.trusted, accounts.c.is_admin).where(
        accounts.c.id == account_id
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"no account {account_id}")
    if not (row.trusted or row.is_admin):
        raise refusal(split_soft_name(cg_soft_name)[0], row.name)


def set_trusted(db: Database, name: str, trusted: bool) -> dict[str, Any]:
    """Trust or untrust an account by name; untrusting stops its queued and rendering
    command tasks (they could be resumed only by a trusted account). Returns its record with
    `stopped_tasks`, the ids of the tasks stopped."""
    with db.write() as conn:
        res = conn.execute(update(accounts).where(accounts.c.name == name).values(trusted=trusted))
        if res.rowcount == 0:
            raise NotFound(f"no account named {name!r}")
        row = conn.execute(select(accounts).where(accounts.c.name == name)).mappings().one()
        pending = (
            []
            if trusted
            else list(
                conn.execute(
                    select(tasks.c.id).where(
                        (tasks.c.account_id == row["id"])
                        & tasks.c.job_type.in_(sorted(PRIVILEGED_JOB_TYPES))
                        & tasks.c.status.in_(("queued", "rendering"))
                    )
                ).scalars()
            )
        )
    stopped = _stop_all(db, int(row["id"]), pending)
    return {**account_record(dict(row)), "stopped_tasks": stopped}


def _stop_all(db: Database, account_id: int, task_ids: list[int]) -> list[int]:
    from foxden.core.states import TaskOp
    from foxden.errors import Conflict
    from foxden.farm.tasks import operate  # tasks imports this module

    stopped = []
    for task_id in task_ids:
        try:
            operate(db, account_id, task_id, TaskOp.STOP)
        except (Conflict, NotFound):
            continue  # finished or deleted meanwhile
        stopped.append(task_id)
    return stopped


def project_rights(row: Any) -> dict[str, bool]:
    """A project row's sandbox rights."""
    return {"allow_network": bool(row.allow_network), "allow_scripts": bool(row.allow_scripts)}


def set_project_rights(
    db: Database,
    account_name: str,
    project_name: str,
    *,
    allow_network: bool | None = None,
    allow_scripts: bool | None = None,
) -> dict[str, Any]:
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
    return {"account": account_name, "project_name": project_name, **project_rights(row)}
