"""`Fox`: the Renderbus / Fox Render Farm Python API, on a foxden farm.

Every call of the vendor's documentation page works as written (see README "Python API"):

    fox = Fox(render_server="farm.example.com", account="alice", access_key="...")
    fox.upload(path_list=["/proj/shot/lgt.blend", "/proj/asset/sourceimages"])
    task_id = fox.submit_task(project_name="api", input_scene_path="/proj/shot/lgt.blend",
                              frames="1-10[1]", render_layer="ball", camera="camera1")
    fox.get_tasks(task_id=task_id, has_frames=1)
    fox.download(task_id=task_id, local_path="/proj/output")

Records have the vendor's shapes (`foxden.vendor_records`); failures raise `foxden.errors.FoxdenError`
subclasses whose message says what to do (the vendor's client returned error codes instead).
`render_server` may be a bare host (foxden's port 8642, plain HTTP), `host:port` or a URL.
Transfers use foxden's own protocol, so the Aspera arguments are accepted and ignored.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

import foxden.vendor_records as vendor_records
from foxden.client.api import Client
from foxden.client.records import Task
from foxden.client.transfer import TransferStats
from foxden.errors import BadRequest, Unauthorized
from foxden.tls import Verify
from foxden.wire.vendor import (
    VendorPlugin,
    VendorProject,
    VendorTask,
    VendorTaskDeleted,
    VendorUser,
)

log = logging.getLogger("foxden.client")
_aspera_noted = False

#: the task_filter keys foxden understands (the vendor's, plus a few of its own).
TASK_FILTER_KEYS = frozenset(
    {
        "task_id",
        "project_name",
        "task_status",
        "cg_soft_name",
        "input_scene_path",
        "camera",
        "render_layer",
        "artist",
        "text",
        "submit_time_from",
        "submit_time_to",
        "completed_time_from",
        "completed_time_to",
        "sort",
        "order",
        "page_size",
        "page_no",
    }
)


def _note_aspera() -> None:
    global _aspera_noted
    if not _aspera_noted:
        _aspera_noted = True
        log.info(
            "foxden transfers files over its own HTTP protocol: "
            "aspera_server and aspera_password are ignored"
        )


def _ids(task_ids: int | str | Iterable[int | str]) -> list[int]:
    items = [task_ids] if isinstance(task_ids, int | str) else list(task_ids)
    if not items:
        raise BadRequest("no task id given: pass a task id or a list of them")
    try:
        return [int(i) for i in items]
    except (TypeError, ValueError):
        raise BadRequest(f"task ids must be whole numbers, not {task_ids!r}") from None


def _paths(path_list: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    if isinstance(path_list, str | os.PathLike):
        return [os.fspath(path_list)]
    paths = [os.fspath(p) for p in path_list]
    if not paths:
        raise BadRequest("path_list is empty: name the files and folders to upload")
    return paths


class Fox:
    """A logged-in session with a foxden farm, shaped like the vendor's `Fox` client."""

    def __init__(
        self,
        render_server: str,
        account: str,
        access_key: str,
        aspera_server: str | None = None,
        aspera_password: str | None = None,
        *,
        progress: bool | None = None,
        timeout: float = 60.0,
        verify: Verify | None = None,
    ) -> None:
        if aspera_server or aspera_password:
            _note_aspera()
        self.account = account
        self.client = Client(
            render_server, access_key, progress=progress, timeout=timeout, verify=verify
        )
        try:
            me = self.client.login()
        except BaseException:
            self.client.close()
            raise
        if account and me.name != account:
            self.client.close()
            raise Unauthorized(
                f"this access key belongs to account {me.name!r}, not {account!r}: "
                "check the account name and key"
            )
        #: the stats of the last upload() or download().
        self.last_transfer: TransferStats | None = None

    def __enter__(self) -> Fox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self.client.close()

    # ---- submitting ------------------------------------------------------------------------

    def upload(
        self,
        path_list: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        skip_same: int = 1,
    ) -> TransferStats:
        """Upload files and folders; files the farm already has unchanged are skipped by default."""
        self.last_transfer = self.client.upload(_paths(path_list), force=not skip_same)
        return self.last_transfer

    def submit_task(
        self, project_name: str, input_scene_path: str, frames: str, **extra: Any
    ) -> int:
        """Submit a task (extra keys: render_layer, camera, artist, priority, ...); returns its id."""
        render_layer = str(extra.pop("render_layer", "") or "")
        camera = str(extra.pop("camera", "") or "")
        task = self.client.submit(
            project_name,
            input_scene_path,
            frames,
            render_layer=render_layer,
            camera=camera,
            **extra,
        )
        return task.id

    def download(
        self, task_id: int, local_path: str | os.PathLike[str], skip_same: int = 1
    ) -> TransferStats:
        """Download a task's outputs into local_path/<task output folder>/; identical files are skipped."""
        self.last_transfer = self.client.download(int(task_id), local_path, force=not skip_same)
        return self.last_transfer

    # ---- queries ---------------------------------------------------------------------------

    def get_users(self) -> list[VendorUser]:
        """The account's user record (a list of one, as the vendor returned it)."""
        return [vendor_records.user(self.client.me())]

    def get_projects(self, project_name: str | None = None) -> list[VendorProject]:
        """All projects, or the one named (NotFound if it does not exist)."""
        if project_name:
            return [vendor_records.project(self.client.project(project_name))]
        return [vendor_records.project(p) for p in self.client.projects()]

    def get_tasks(
        self,
        task_filter: dict[str, Any] | None = None,
        project_name: str | None = None,
        task_id: int | None = None,
        has_frames: int = 0,
    ) -> list[VendorTask]:
        """Tasks matching a filter, of a project, or one task; `has_frames=1` adds `jobs`."""
        filters = dict(task_filter or {})
        unknown = set(filters) - TASK_FILTER_KEYS
        if unknown:
            raise BadRequest(
                f"unknown task_filter key(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(TASK_FILTER_KEYS))}"
            )
        if project_name:
            filters["project_name"] = project_name
        if task_id is not None:
            filters["task_id"] = task_id
        if filters.get("project_name"):
            self.get_projects(str(filters["project_name"]))  # a clear error for an unknown project
        with_frames = bool(int(has_frames or 0))
        if filters.get("task_id") not in (None, "") and len(filters) == 1:
            return [vendor_records.task(self.client.task(filters["task_id"], frames=with_frames))]
        return [vendor_records.task(t) for t in self._tasks(filters, with_frames)]

    def _tasks(self, filters: dict[str, Any], with_frames: bool) -> Iterable[Task]:
        """The page the paging keys name, or (without them) every page."""
        if "page_no" not in filters and "page_size" not in filters:
            return self.client.iter_tasks(with_frames=with_frames, **filters)
        paging = {
            key: value
            for key in ("page_size", "page_no")
            if (value := filters.pop(key, None)) not in (None, "")
        }
        return self.client.tasks(with_frames=with_frames, **paging, **filters).items

    # ---- projects and plugin configs -------------------------------------------------------

    def create_project(
        self,
        project_name: str,
        cg_soft_name: str | None = None,
        plugin_name: str = "",
        project_path: str = "",
        remark: str = "",
        render_os: str = "linux",
    ) -> VendorProject:
        """Create a project (with a default plugin config when cg_soft_name is given)."""
        return vendor_records.project(
            self.client.create_project(
                project_name,
                cg_soft_name,
                plugin_name,
                path=project_path,
                remark=remark,
                render_os=render_os,
            )
        )

    def get_plugins_available(self) -> list[VendorPlugin]:
        """Software and plugins the farm can render with: [{cg_soft_name, plugin_name}]."""
        return [
            VendorPlugin(cg_soft_name=s.cg_soft_name, plugin_name=",".join(s.plugins))
            for s in self.client.software()
        ]

    def add_project_config(
        self, project_name: str, cg_soft_name: str, plugin_name: str = "", is_default: int = 0
    ) -> VendorProject:
        """Add a plugin config (software + plugins) to a project; returns the project."""
        return vendor_records.project(
            self.client.add_config(
                project_name, cg_soft_name, plugin_name, is_default=bool(is_default)
            )
        )

    def modify_project_config(
        self,
        project_name: str,
        config_id: int,
        cg_soft_name: str | None = None,
        plugin_name: str | None = None,
        is_default: int | None = None,
    ) -> VendorProject:
        """Change a project's plugin config, or make it the default; returns the project."""
        return vendor_records.project(
            self.client.modify_config(
                project_name,
                config_id,
                cg_soft_name=cg_soft_name,
                plugin_name=plugin_name,
                is_default=None if is_default is None else bool(is_default),
            )
        )

    def delete_project_config(self, project_name: str, config_id: int) -> VendorProject:
        """Remove a plugin config from a project; returns the project."""
        return vendor_records.project(self.client.delete_config(project_name, config_id))

    # ---- operations ------------------------------------------------------------------------

    def stop_tasks(self, task_ids: int | Iterable[int]) -> list[VendorTask]:
        """Stop queued or rendering tasks; returns them."""
        return [vendor_records.task(self.client.stop(i)) for i in _ids(task_ids)]

    def restart_tasks(
        self, task_ids: int | Iterable[int], restart_type: int = 0
    ) -> list[VendorTask]:
        """Restart frames: 0 failed, 1 abandoned, 2 finished, 3 started, 4 waiting; returns the tasks."""
        try:
            kind = vendor_records.RESTART_TYPES[int(restart_type)]
        except (KeyError, TypeError, ValueError):
            raise BadRequest(
                f"restart_type must be one of {sorted(vendor_records.RESTART_TYPES)} "
                "(0 failed, 1 abandoned, 2 finished, 3 started, 4 waiting), "
                f"not {restart_type!r}"
            ) from None
        return [vendor_records.task(self.client.restart(i, kind)) for i in _ids(task_ids)]

    def delete_tasks(self, task_ids: int | Iterable[int]) -> list[VendorTaskDeleted]:
        """Delete tasks that are not queued or rendering (stop them first)."""
        out = []
        for i in _ids(task_ids):
            self.client.delete(i)
            out.append(VendorTaskDeleted(task_id=i, deleted=True))
        return out
