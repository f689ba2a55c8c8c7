"""Who may use what, as projects, tasks and the scheduler check it: the privileged job types
(`command` runs any program on the render nodes: trusted accounts and administrators only) and a
project's sandbox rights as a lease carries them. Administrators grant both (`farm/rights.py`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from foxden.core.software import split_soft_name
from foxden.db.schema import accounts
from foxden.errors import BadRequest, Forbidden, NotFound

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


def project_rights(row: Any) -> dict[str, bool]:
    """A project row's sandbox rights."""
    return {"allow_network": bool(row.allow_network), "allow_scripts": bool(row.allow_scripts)}
