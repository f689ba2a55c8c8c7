"""The SDK's labels, which it also calls projects: foxden's projects of the calling account.

A project made here has no plugin config yet: the software a task renders with comes from its
task.json when it is submitted. Task labels (tags on single tasks) are not something foxden
keeps, so those two calls are refused with 501.
"""

from __future__ import annotations

from typing import Any

from foxden.errors import FoxdenError
from foxden.farm import projects
from foxden.server.rayvision.calls import Call, handles, integer, text


class NotOffered(FoxdenError):
    """foxden does not offer this call."""

    status_code = 501
    code = "not_offered"


def _name(body: dict[str, Any], field: str) -> str:
    return text(body, field, limit=128)


def _project_names(call: Call) -> dict[str, Any]:
    return {
        "projectNameList": [
            {"projectId": p.project_id, "projectName": p.project_name}
            for p in projects.list_projects(call.farm.db, call.account.id)
        ]
    }


@handles("/api/render/project/add")
def add_label(call: Call) -> None:
    """Create a project in the caller's account (`newName`); 409 when it exists."""
    integer(call.body, "status", 1, low=0, high=1)  # the vendor's on/off flag: all are on here
    projects.create_project(call.farm.db, call.account.id, _name(call.body, "newName"))


@handles("/api/render/project/delete")
def delete_label(call: Call) -> None:
    """Delete one of the caller's projects (`delName`); its tasks keep their project name."""
    projects.delete_project(call.farm.db, call.account.id, _name(call.body, "delName"))


@handles("/api/render/project/getList")
def get_label_list(call: Call) -> dict[str, Any]:
    """The caller's projects."""
    return _project_names(call)


@handles("/api/render/project/list")
def list_labels(call: Call) -> dict[str, Any]:
    """The caller's projects. `flag` 1 and 2 add a main account's: foxden accounts have none,
    so every flag gives the caller's own."""
    integer(call.body, "flag", low=0, high=2)
    return _project_names(call)


@handles("/api/render/handle/addTaskLabel", "/api/render/handle/deleteTaskLabel")
def task_labels(call: Call) -> None:
    """Labels on single tasks: refused."""
    raise NotOffered(
        "foxden does not keep labels on single tasks: a task belongs to the project named in "
        "its task.json (project_name); group tasks by project instead"
    )
