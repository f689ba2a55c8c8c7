"""Projects: list, create (with software the workers offer), edit, plugin configs, delete."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response
from starlette.datastructures import FormData

from foxden.errors import FoxdenError
from foxden.farm import projects, workers
from foxden.web.auth import PageAccount, web_state
from foxden.web.page import CheckedForm, PageRoute, field
from foxden.web.tallies import ProjectTally, project_tallies
from foxden.web.templating import redirect, render
from foxden.wire.api import PluginConfigChange, PluginConfigIn, ProjectChange

router = APIRouter(route_class=PageRoute, include_in_schema=False)
RENDER_OS = ("linux", "windows", "macos")


def _url(name: str) -> str:
    return "/projects/" + quote(name, safe="")


def _tasks_url(name: str) -> str:
    return "/tasks?" + urlencode({"project_name": name})


def _config(form: FormData, *, default: bool = True) -> PluginConfigIn | None:
    soft = field(form, "cg_soft_name")
    if not soft:
        return None
    return PluginConfigIn(
        cg_soft_name=soft, plugin_name=field(form, "plugin_name"), is_default=default
    )


def _list_page(
    request: Request,
    account: PageAccount,
    *,
    status: int = 200,
    error: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    farm = web_state(request).farm
    return render(
        request,
        "projects.html",
        account=account,
        status=status,
        error=error,
        title="Projects",
        projects=projects.list_projects(farm.db, account.id),
        tallies=project_tallies(farm.db, account.id),
        no_tasks=ProjectTally(),
        tasks_url=_tasks_url,
        offer=workers.software_on_offer(farm.db),
        render_os=RENDER_OS,
        values=values or {},
    )


@router.get("/projects")
def project_list(request: Request, account: PageAccount) -> Response:
    """Your projects, and a form to make one."""
    return _list_page(request, account)


@router.post("/projects")
def create(request: Request, account: PageAccount, form: CheckedForm) -> Response:
    """Create a project with an optional first plugin config (which becomes its default)."""
    values = {
        k: field(form, k)
        for k in (
            "project_name",
            "project_path",
            "remark",
            "render_os",
            "cg_soft_name",
            "plugin_name",
        )
    }
    config = _config(form)
    try:
        made = projects.create_project(
            web_state(request).farm.db,
            account.id,
            values["project_name"],
            values["project_path"],
            values["remark"],
            values["render_os"] or "linux",
            [config] if config else [],
        )
    except FoxdenError as exc:
        return _list_page(
            request, account, status=exc.status_code, error=exc.message, values=values
        )
    return redirect(request, _url(made.project_name), f"Project {made.project_name} created.")


@router.get("/projects/{name}")
def project_page(name: str, request: Request, account: PageAccount) -> Response:
    """One project: its settings and plugin configs."""
    farm = web_state(request).farm
    project = projects.list_projects(farm.db, account.id, name)[0]
    return render(
        request,
        "project.html",
        account=account,
        title=f"Project {name}",
        project=project,
        tally=project_tallies(farm.db, account.id).get(name, ProjectTally()),
        tasks_url=_tasks_url(name),
        offer=workers.software_on_offer(farm.db),
        render_os=RENDER_OS,
        url=_url(name),
    )


@router.post("/projects/{name}")
def edit(name: str, request: Request, account: PageAccount, form: CheckedForm) -> Response:
    """Change a project's name, path, remark or render OS."""
    changes = ProjectChange(
        project_name=field(form, "project_name"),
        project_path=field(form, "project_path"),
        remark=field(form, "remark"),
        render_os=field(form, "render_os") or "linux",
    )
    try:
        made = projects.modify_project(web_state(request).farm.db, account.id, name, changes)
    except FoxdenError as exc:
        return redirect(request, _url(name), error=exc.message)
    return redirect(request, _url(made.project_name), "Project saved.")


@router.post("/projects/{name}/delete")
def delete(name: str, request: Request, account: PageAccount, _form: CheckedForm) -> Response:
    """Delete a project (tasks already submitted keep their settings)."""
    projects.delete_project(web_state(request).farm.db, account.id, name)
    return redirect(request, "/projects", f"Project {name} deleted.")


@router.post("/projects/{name}/configs")
def add_config(name: str, request: Request, account: PageAccount, form: CheckedForm) -> Response:
    """Add software (and a plugin) to a project."""
    config = _config(form, default=field(form, "is_default") == "on")
    if config is None:
        return redirect(request, _url(name), error="Choose the software first.")
    try:
        projects.add_config(web_state(request).farm.db, account.id, name, config)
    except FoxdenError as exc:
        return redirect(request, _url(name), error=exc.message)
    return redirect(request, _url(name), f"Added {config.cg_soft_name}.")


@router.post("/projects/{name}/configs/{config_id}/default")
def make_default(
    name: str, config_id: int, request: Request, account: PageAccount, _form: CheckedForm
) -> Response:
    """Make a plugin config the one tasks use unless they name another."""
    projects.modify_config(
        web_state(request).farm.db, account.id, name, config_id, PluginConfigChange(is_default=True)
    )
    return redirect(request, _url(name), "Default config changed.")


@router.post("/projects/{name}/configs/{config_id}/delete")
def remove_config(
    name: str, config_id: int, request: Request, account: PageAccount, _form: CheckedForm
) -> Response:
    """Remove a plugin config."""
    projects.delete_config(web_state(request).farm.db, account.id, name, config_id)
    return redirect(request, _url(name), "Config removed.")
