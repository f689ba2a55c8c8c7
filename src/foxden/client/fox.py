"""`Fox`: the Renderbus / Fox Render Farm Python API, on a foxden farm.

Every call of the vendor's documentation page works as written (see README "Python API"):

    fox = Fox(render_server="farm.example.com", account="alice", access_key="...")
    fox.upload(path_list=["/proj/shot/lgt.blend", "/proj/asset/sourceimages"])
    task_id = fox.submit_task(project_name="api", input_scene_path="/proj/shot/lgt.blend",
                              frames="1-10[1]", render_layer="ball", camera="camera1")
    fox.get_tasks(task_id=task_id, has_frames=1)
    fox.download(task_id=task_id, local_path="/proj/output")

The vendor's later calls keep its signatures and return values too: `create_project` gives
`(True, project_id)`, `get_plugins_available` `(True, [...])`, the plugin-config calls take the
project's id and give True, the task operations take an id, "12,13" or a list and give True.
Records have the vendor's shapes (`foxden.vendor_records`); where the vendor's client printed and
returned False (or an error code), foxden raises a `foxden.errors.FoxdenError` subclass whose
message says what to do.
`render_server` may be a bare host (foxden's port 8642, plain HTTP), `host:port` or a URL.
Transfers use foxden's own protocol, so the Aspera arguments are accepted and ignored.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import foxden.vendor_records as vendor_records
from foxden.client.api import Client
from foxden.client.records import Task
from foxden.client.transfer import TransferStats
from foxden.errors import BadRequest, NotFound, Unauthorized
from foxden.tls import Verify
from foxden.wire.vendor import (
    VendorPlugin,
    VendorPluginConfig,
    VendorProject,
    VendorTask,
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


#: what the task operations take: an id, a string id ("12" or "12,13"), or a list of ids.
TaskIds = int | str | Iterable[int | str]


def _ignore(call: str, kwargs: dict[str, Any]) -> None:
    """Note the keyword arguments of the vendor's that foxden has no use for."""
    if kwargs:
        log.info("%s: foxden ignores %s", call, ", ".join(sorted(kwargs)))


def _ids(task_ids: TaskIds) -> list[int]:
    if isinstance(task_ids, str):
        items: list[int | str] = [i for i in task_ids.split(",") if i.strip()]
    elif isinstance(task_ids, int):
        items = [task_ids]
    else:
        items = list(task_ids)
    if not items:
        raise BadRequest("no task id given: pass a task id or a list of them")
    try:
        return [_id("task id", i) for i in items]
    except BadRequest:
        raise BadRequest(f"task ids must be whole numbers, not {task_ids!r}") from None


def _id(what: str, value: object) -> int:
    """A whole-number id given as an int or a string."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(f"{what} must be a whole number, not {value!r}")
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{what} must be a whole number, not {value!r}") from None


def _flag(what: str, value: object) -> bool:
    """The vendor's 0/1 flags, given as ints, strings or booleans."""
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1"):
        return str(value) == "1"
    raise BadRequest(f"{what} must be 0 or 1, not {value!r}")


def _required(what: str, value: str | None) -> str:
    if not value:
        raise BadRequest(f"no {what} given: name the software, e.g. 'blender 3.4'")
    return value


#: what upload() takes: a path or a list of them.
Paths = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


def _paths(path_list: Paths) -> list[str]:
    if isinstance(path_list, str | os.PathLike):
        return [os.fspath(path_list)]
    paths = [os.fspath(p) for p in path_list]
    if not paths:
        raise BadRequest("path_list is empty: name the files and folders to upload")
    return paths


class SubmittedTask(int):
    """A submitted task's id (an int, as the vendor's client returned) with the farm's
    `warnings` about the task."""

    warnings: tuple[str, ...]

    def __new__(cls, task_id: int, warnings: Iterable[str] = ()) -> SubmittedTask:
        made = super().__new__(cls, task_id)
        made.warnings = tuple(warnings)
        return made


class Fox:
    """A logged-in session with a foxden farm, shaped like the vendor's `Fox` client."""

    def __init__(
        self,
        render_server: str,
        account: str,
        access_key: str,
        language: str = "en",
        *,
        aspera_server: str | None = None,
        aspera_password: str | None = None,
        progress: bool | None = None,
        timeout: float = 60.0,
        verify: Verify | None = None,
        **kwargs: Any,
    ) -> None:
        if aspera_server or aspera_password:
            _note_aspera()
        _ignore("Fox", kwargs)
        self.account = account
        #: the vendor's message language; foxden's messages are English whatever it says.
        self.language = language
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
        #: the task the last submit_task() made (its `warnings` included).
        self.last_task: Task | None = None

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
        local_path_list: Paths | None = None,
        server_path: str = "/",
        skip_same: int = 1,
        *,
        path_list: Paths | None = None,
        **kwargs: Any,
    ) -> dict[str, bool]:
        """Upload files and folders; files the farm already has unchanged are skipped by default.

        Returns `{local path: True}` for each path given, as the vendor did (a failure raises);
        the transfer's counts are in `last_transfer`. Each file lands on the farm at its own
        local path, so `server_path` must be '/', the vendor's default.
        """
        _ignore("upload", kwargs)
        if local_path_list is not None and path_list is not None:
            raise BadRequest("give local_path_list or path_list, not both")
        given = local_path_list if local_path_list is not None else path_list
        if given is None:
            raise BadRequest("no path_list given: name the files and folders to upload")
        if server_path not in ("/", "", "\\"):
            raise BadRequest(
                f"server_path {server_path!r} is not supported: foxden keeps each file at its "
                "local path on the farm (server_path='/')"
            )
        paths = _paths(given)
        self.last_transfer = self.client.upload(paths, force=not int(skip_same))
        return dict.fromkeys(paths, True)

    def submit_task(
        self, project_name: str, input_scene_path: str, frames: str, **extra: Any
    ) -> SubmittedTask:
        """Submit a task (extra keys: render_layer, camera, artist, priority, strict, ...);
        returns its id.

        The id is an int, as the vendor's was, that also carries the farm's `warnings` (frames
        outside the scene's range, files the scene uses that were never uploaded); each is
        logged too, and the task itself is `last_task`. `strict=True` (or 1) refuses a scene
        with missing files instead (BadRequest naming them); a camera or view layer the scene
        lacks is always refused.
        """
        render_layer = str(extra.pop("render_layer", "") or "")
        camera = str(extra.pop("camera", "") or "")
        strict = _flag("strict", extra.pop("strict", False))
        task = self.client.submit(
            project_name,
            input_scene_path,
            frames,
            render_layer=render_layer,
            camera=camera,
            strict=strict,
            **extra,
        )
        self.last_task = task
        for warning in task.warnings:
            log.warning("task %s: %s", task.id, warning)
        return SubmittedTask(task.id, task.warnings)

    def download(
        self,
        task_id: int | str,
        local_path: str | os.PathLike[str],
        skip_same: int = 1,
        *,
        follow: bool = False,
        **kwargs: Any,
    ) -> TransferStats:
        """Download a task's outputs into local_path/<task output folder>/; identical files are
        skipped. `follow` (foxden's): fetch each frame as it is done, until the task is done,
        failed, aborted or stopped (`Client.download`)."""
        _ignore("download", kwargs)
        self.last_transfer = self.client.download(
            int(task_id), local_path, force=not skip_same, follow=follow
        )
        return self.last_transfer

    # ---- queries ---------------------------------------------------------------------------

    def get_users(self, has_child_account: int = 0) -> list[VendorUser]:
        """The account's user record (a list of one: foxden has no child accounts)."""
        return [vendor_records.user(self.client.me())]

    def get_projects(self, project_name: str | None = None) -> list[VendorProject]:
        """All projects, or the one named (NotFound if it does not exist)."""
        if project_name:
            return [vendor_records.project(self.client.project(project_name))]
        return [vendor_records.project(p) for p in self.client.projects()]

    def get_tasks(
        self,
        task_id: int | str | Mapping[str, Any] | None = None,
        project_name: str | None = None,
        has_frames: int | str = 0,
        task_filter: Mapping[str, Any] | None = None,
    ) -> list[VendorTask]:
        """Tasks matching a filter, of a project, or one task; `has_frames=1` adds `jobs`.

        The vendor's argument order; a filter dict given first (foxden's earlier order) is
        still read as `task_filter`.
        """
        if isinstance(task_id, Mapping):
            if task_filter is not None:
                raise BadRequest("give task_filter once")
            task_id, task_filter = None, task_id
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

    def _tasks(self, filters: dict[str, Any], with_frames: bool) -> Iterable[dict[str, Any]]:
        """The page the paging keys name, or (without them) every page: the farm's JSON
        records as they come, reshaped at once by `vendor_records.task` (no `Task` model
        between)."""
        if "page_no" not in filters and "page_size" not in filters:
            return self.client.iter_task_json(with_frames=with_frames, **filters)
        paging = {
            key: value
            for key in ("page_size", "page_no")
            if (value := filters.pop(key, None)) not in (None, "")
        }
        items: list[dict[str, Any]] = self.client.task_json_page(
            with_frames=with_frames, **paging, **filters
        )["items"]
        return items

    # ---- projects and plugin configs -------------------------------------------------------

    def create_project(
        self,
        project_name: str,
        cg_soft_name: str | None = None,
        plugin_name: str = "",
        project_path: str = "",
        remark: str = "",
        render_os: str = "linux",
        **kwargs: Any,
    ) -> tuple[bool, int]:
        """Create a project; returns `(True, project_id)` as the vendor did.

        `cg_soft_name` (foxden's addition) also gives it a default plugin config; the vendor's
        `sub_account` is accepted and ignored (foxden has no sub-accounts).
        """
        _ignore("create_project", kwargs)
        created = self.client.create_project(
            project_name,
            cg_soft_name,
            plugin_name or "",
            path=project_path,
            remark=remark,
            render_os=render_os,
        )
        return True, created.project_id

    def get_plugins_available(self, **filters: Any) -> tuple[bool, list[VendorPlugin]]:
        """`(True, [{cg_soft_name, plugin_name}])`: software the farm's workers run now.

        Filters: `cg_soft_name` (the software, e.g. 'blender 3.4') and `plugin_name` (software
        offering that plugin); any other key raises BadRequest.
        """
        unknown = set(filters) - {"cg_soft_name", "plugin_name"}
        if unknown:
            raise BadRequest(
                f"unknown get_plugins_available filter(s) {', '.join(sorted(unknown))}; "
                "known: cg_soft_name, plugin_name"
            )
        soft = str(filters.get("cg_soft_name") or "").strip().lower()
        plugin = str(filters.get("plugin_name") or "").strip().lower()
        return True, [
            VendorPlugin(cg_soft_name=s.cg_soft_name, plugin_name=",".join(s.plugins))
            for s in self.client.software()
            if (not soft or s.cg_soft_name.lower() == soft)
            and (not plugin or plugin in (p.lower() for p in s.plugins))
        ]

    def get_project_plugins_config(self, project_name: str) -> list[VendorPluginConfig]:
        """The project's plugin configs (its `plugins` list)."""
        return vendor_records.project(self.client.project(project_name))["plugins"]

    def add_project_config(
        self,
        project_id: int | str | None = None,
        cg_soft_name: str | None = None,
        plugin_name: str | None = None,
        is_default: int | str = 0,
        *,
        project_name: str | None = None,
        **kwargs: Any,
    ) -> bool:
        """Add a plugin config (software + plugins) to the project with this id; returns True.

        `project_name=` names the project instead (foxden's earlier form).
        """
        _ignore("add_project_config", kwargs)
        name = self._project_name(project_id, project_name)
        self.client.add_config(
            name,
            _required("cg_soft_name", cg_soft_name),
            plugin_name or "",
            is_default=_flag("is_default", is_default),
        )
        return True

    def modify_project_config(
        self,
        project_id: int | str | None = None,
        config_id: int | str | None = None,
        cg_soft_name: str | None = None,
        plugin_name: str | None = None,
        is_default: int | str | None = None,
        *,
        project_name: str | None = None,
        **kwargs: Any,
    ) -> bool:
        """Change a project's plugin config, or make it the default; returns True."""
        _ignore("modify_project_config", kwargs)
        name = self._project_name(project_id, project_name)
        self.client.modify_config(
            name,
            _id("config_id", config_id),
            cg_soft_name=cg_soft_name,
            plugin_name=plugin_name,
            is_default=None if is_default is None else _flag("is_default", is_default),
        )
        return True

    def delete_project_config(
        self,
        project_id: int | str | None = None,
        config_id: int | str | None = None,
        *,
        project_name: str | None = None,
        **kwargs: Any,
    ) -> bool:
        """Remove a plugin config from a project, or all of them without `config_id`; True."""
        _ignore("delete_project_config", kwargs)
        name = self._project_name(project_id, project_name)
        if config_id is not None and config_id != "":
            self.client.delete_config(name, _id("config_id", config_id))
            return True
        for config in self.client.project(name).plugins:
            self.client.delete_config(name, config.config_id)
        return True

    def _project_name(self, project_id: int | str | None, project_name: str | None) -> str:
        """The name of the project a config call means: by id (the vendor's) or by name.

        A `project_id` that is not a whole number is taken as a name (foxden's earlier form).
        """
        if project_name:
            if project_id not in (None, ""):
                raise BadRequest("give the project's id or its project_name, not both")
            return project_name
        if project_id is None or project_id == "":
            raise BadRequest("no project given: pass the project's id (or project_name=)")
        if isinstance(project_id, str) and not project_id.strip().isdigit():
            return project_id
        wanted = _id("project_id", project_id)
        for p in self.client.projects():
            if p.project_id == wanted:
                return p.project_name
        raise NotFound(
            f"no project with id {wanted}: create_project() returns the id, "
            "get_projects() lists them"
        )

    # ---- operations ------------------------------------------------------------------------

    def stop_tasks(self, task_id: TaskIds) -> bool:
        """Stop queued or rendering tasks (an id, "12,13" or a list of ids); returns True."""
        for i in _ids(task_id):
            self.client.stop(i)
        return True

    def restart_tasks(self, task_id: TaskIds, restart_type: int | str = "0") -> bool:
        """Restart frames: 0 failed, 1 abandoned, 2 finished, 3 started, 4 waiting; True."""
        try:
            kind = vendor_records.RESTART_TYPES[int(restart_type)]
        except (KeyError, TypeError, ValueError):
            raise BadRequest(
                f"restart_type must be one of {sorted(vendor_records.RESTART_TYPES)} "
                "(0 failed, 1 abandoned, 2 finished, 3 started, 4 waiting), "
                f"not {restart_type!r}"
            ) from None
        for i in _ids(task_id):
            self.client.restart(i, kind)
        return True

    def delete_tasks(self, task_id: TaskIds) -> bool:
        """Delete tasks that are not queued or rendering (stop them first); returns True."""
        for i in _ids(task_id):
            self.client.delete(i)
        return True
