"""Projects and plugin configs."""

from __future__ import annotations

from fastapi import APIRouter, Response

from foxden.farm import projects
from foxden.server.api.deps import AccountDep, FarmDep
from foxden.server.api.models import ProjectIn, TimeLimitsIn
from foxden.wire.api import PluginConfigChange, PluginConfigIn, ProjectChange, ProjectOut

router = APIRouter(prefix="/api/projects", tags=["projects"])


@router.get("")
def list_projects(farm: FarmDep, account: AccountDep) -> list[ProjectOut]:
    """The account's projects."""
    return projects.list_projects(farm.db, account.id)


@router.post("", status_code=201)
def create_project(body: ProjectIn, farm: FarmDep, account: AccountDep) -> ProjectOut:
    """Create a project, optionally with plugin configs."""
    return projects.create_project(
        farm.db,
        account.id,
        body.project_name,
        body.project_path,
        body.remark,
        body.render_os,
        body.plugins,
    )


@router.get("/{name}")
def get_project(name: str, farm: FarmDep, account: AccountDep) -> ProjectOut:
    """One project by name."""
    return projects.list_projects(farm.db, account.id, name)[0]


@router.patch("/{name}")
def modify_project(
    name: str, body: ProjectChange, farm: FarmDep, account: AccountDep
) -> ProjectOut:
    """Rename a project or change its path, remark or render OS."""
    return projects.modify_project(farm.db, account.id, name, body)


@router.put("/{name}/time-limits")
def set_time_limits(
    name: str, body: TimeLimitsIn, farm: FarmDep, account: AccountDep
) -> ProjectOut:
    """Set the default time limits of the project's tasks (null or 0: none): how long one frame
    may render, how long a renderer may go without a progress or log line. A task's own limits
    come first; the frames claimed from now on follow the new defaults."""
    return projects.set_time_limits(
        farm.db, account.id, name, body.frame_timeout_s, body.progress_timeout_s
    )


@router.delete("/{name}", status_code=204)
def delete_project(name: str, farm: FarmDep, account: AccountDep) -> Response:
    """Delete a project and its plugin configs."""
    projects.delete_project(farm.db, account.id, name)
    return Response(status_code=204)


@router.post("/{name}/configs", status_code=201)
def add_config(name: str, body: PluginConfigIn, farm: FarmDep, account: AccountDep) -> ProjectOut:
    """Add a plugin config (software from GET /api/software)."""
    return projects.add_config(farm.db, account.id, name, body)


@router.patch("/{name}/configs/{config_id}")
def modify_config(
    name: str, config_id: int, body: PluginConfigChange, farm: FarmDep, account: AccountDep
) -> ProjectOut:
    """Change a plugin config or make it the default."""
    return projects.modify_config(farm.db, account.id, name, config_id, body)


@router.delete("/{name}/configs/{config_id}")
def delete_config(name: str, config_id: int, farm: FarmDep, account: AccountDep) -> ProjectOut:
    """Remove a plugin config."""
    return projects.delete_config(farm.db, account.id, name, config_id)
