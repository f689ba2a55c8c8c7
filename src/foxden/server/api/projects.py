"""Projects and plugin configs."""

from __future__ import annotations

from fastapi import APIRouter, Response

from foxden.farm import projects
from foxden.server.api.deps import AccountDep, FarmDep
from foxden.server.api.models import PluginConfigChange, PluginConfigIn, ProjectChange, ProjectIn
from foxden.wire.api import ProjectOut

router = APIRouter(prefix="/api/projects", tags=["projects"])


@router.get("")
def list_projects(farm: FarmDep, account: AccountDep) -> list[ProjectOut]:
    """The account's projects."""
    return [ProjectOut.model_validate(p) for p in projects.list_projects(farm.db, account.id)]


@router.post("", status_code=201)
def create_project(body: ProjectIn, farm: FarmDep, account: AccountDep) -> ProjectOut:
    """Create a project, optionally with plugin configs."""
    return ProjectOut.model_validate(
        projects.create_project(
            farm.db,
            account.id,
            body.project_name,
            body.project_path,
            body.remark,
            body.render_os,
            [c.model_dump() for c in body.plugins],
        )
    )


@router.get("/{name}")
def get_project(name: str, farm: FarmDep, account: AccountDep) -> ProjectOut:
    """One project by name."""
    return ProjectOut.model_validate(projects.list_projects(farm.db, account.id, name)[0])


@router.patch("/{name}")
def modify_project(
    name: str, body: ProjectChange, farm: FarmDep, account: AccountDep
) -> ProjectOut:
    """Rename a project or change its path, remark or render OS."""
    mapping = {
        "project_name": "name",
        "project_path": "path",
        "remark": "remark",
        "render_os": "render_os",
    }
    changes = {mapping[k]: v for k, v in body.model_dump(exclude_none=True).items()}
    return ProjectOut.model_validate(projects.modify_project(farm.db, account.id, name, changes))


@router.delete("/{name}", status_code=204)
def delete_project(name: str, farm: FarmDep, account: AccountDep) -> Response:
    """Delete a project and its plugin configs."""
    projects.delete_project(farm.db, account.id, name)
    return Response(status_code=204)


@router.post("/{name}/configs", status_code=201)
def add_config(name: str, body: PluginConfigIn, farm: FarmDep, account: AccountDep) -> ProjectOut:
    """Add a plugin config (software from GET /api/software)."""
    return ProjectOut.model_validate(
        projects.add_config(farm.db, account.id, name, body.model_dump())
    )


@router.patch("/{name}/configs/{config_id}")
def modify_config(
    name: str, config_id: int, body: PluginConfigChange, farm: FarmDep, account: AccountDep
) -> ProjectOut:
    """Change a plugin config or make it the default."""
    return ProjectOut.model_validate(
        projects.modify_config(
            farm.db, account.id, name, config_id, body.model_dump(exclude_none=True)
        )
    )


@router.delete("/{name}/configs/{config_id}")
def delete_config(name: str, config_id: int, farm: FarmDep, account: AccountDep) -> ProjectOut:
    """Remove a plugin config."""
    return ProjectOut.model_validate(projects.delete_config(farm.db, account.id, name, config_id))
