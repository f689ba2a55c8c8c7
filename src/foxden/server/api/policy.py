"""The scheduling policy: named limits, accounts' shares, tasks' bands (administrators), a
project's limits (its owner or an administrator) and what a task waits for and takes.

A task names its dependencies and limits at submit (`POST /api/tasks`: `depends_on`,
`limits`, `frame_order`); the rules are in docs/architecture.md ("Scheduling").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from foxden.farm import limits, shares
from foxden.farm.accounts import get_account_by_name
from foxden.farm.task_policy import task_policy as policy_of
from foxden.server.api.deps import AccountDep, AdminDep, FarmDep
from foxden.server.api.models import BandIn, LimitIn, ProjectLimitsIn, ShareIn
from foxden.server.api.worker_routes import failure_policy
from foxden.wire.fields import MAX_INT32
from foxden.wire.policy import (
    BandOut,
    LimitOut,
    LimitRemovedOut,
    ProjectLimitsOut,
    ShareOut,
    TaskPolicyOut,
)

router = APIRouter(prefix="/api", tags=["policy"])
TaskId = Annotated[int, Path(ge=1, le=MAX_INT32, description="the task's id")]
LimitName = Annotated[str, Path(max_length=64, description="the limit's name")]


@router.get("/limits")
def list_limits(farm: FarmDep, _account: AccountDep) -> list[LimitOut]:
    """The farm's named limits, with the frames running under each now (any account: these
    are the names a submission may take)."""
    return limits.list_limits(farm.db)


@router.put("/limits/{name}")
def set_limit(name: LimitName, body: LimitIn, farm: FarmDep, _admin: AdminDep) -> LimitOut:
    """Create or change a limit: at most `max_running` frames of the tasks that take it run
    at once (administrators only)."""
    return limits.set_limit(farm.db, name, body.max_running)


@router.delete("/limits/{name}")
def remove_limit(name: LimitName, farm: FarmDep, _admin: AdminDep) -> LimitRemovedOut:
    """Remove a limit; the tasks and projects that took it no longer do (administrators only)."""
    return limits.remove_limit(farm.db, name)


@router.put("/accounts/{name}/share")
def set_share(name: str, body: ShareIn, farm: FarmDep, _admin: AdminDep) -> ShareOut:
    """Set an account's share: its weight among accounts competing for render slots
    (administrators only; 1 by default)."""
    return shares.set_share(farm.db, name, body.share)


@router.get("/accounts/{name}/share")
def get_share(name: str, farm: FarmDep, _admin: AdminDep) -> ShareOut:
    """An account's share (administrators only)."""
    return shares.get_share(farm.db, name)


@router.put("/tasks/{task_id}/band")
def set_band(task_id: TaskId, body: BandIn, farm: FarmDep, _admin: AdminDep) -> BandOut:
    """Set a task's band: a higher band is served first, farm-wide, before accounts' shares
    (administrators only; 0 by default)."""
    return shares.set_band(farm.db, task_id, body.band)


@router.get("/tasks/{task_id}/policy")
def task_policy(task_id: TaskId, farm: FarmDep, account: AccountDep) -> TaskPolicyOut:
    """What your task waits for (its dependencies and their status), the tasks waiting for
    it, why it is blocked, why no worker takes its waiting frames (`waiting_for`: no worker
    offers its software, every one that does failed it too often, an untrusted account's
    command task, a dependency not done, a full limit; '' when only busy workers hold it), the
    limits it takes and its band."""
    return policy_of(farm.db, account.id, task_id, failure_policy(farm))


@router.get("/projects/{name}/limits")
def project_limits(name: str, farm: FarmDep, account: AccountDep) -> ProjectLimitsOut:
    """The limits every task of your project takes."""
    names = limits.project_limit_names(farm.db, account.id, name)
    return ProjectLimitsOut(account=account.name, project_name=name, limits=names)


@router.put("/projects/{name}/limits")
def set_project_limits(
    name: str, body: ProjectLimitsIn, farm: FarmDep, account: AccountDep
) -> ProjectLimitsOut:
    """Set the limits every task of your project takes (replaces them; 400 for a limit
    that does not exist)."""
    return limits.set_project_limits(farm.db, account.id, account.name, name, body.limits)


@router.put("/accounts/{name}/projects/{project}/limits")
def set_account_project_limits(
    name: str, project: str, body: ProjectLimitsIn, farm: FarmDep, _admin: AdminDep
) -> ProjectLimitsOut:
    """Set the limits every task of an account's project takes (administrators only)."""
    owner = get_account_by_name(farm.db, name)
    return limits.set_project_limits(farm.db, owner.id, owner.name, project, body.limits)
