"""Draft tasks of the vendor SDK: ids reserved by createTask, their config files (task.json,
upload.json, asset.json, tips.json), and their submission from task.json.

A draft is a task row of status "draft": no frames, never listed, never scheduled. Submitting
it runs foxden's one submit path (`tasks.submit`) with the draft's id, so the task keeps the id
the SDK wrote into task.json. What task.json leaves out of a Blender scene (frames; camera and
view layers are the scene's own) comes from foxden's reading of the uploaded .blend, and the
task's warnings say so.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from foxden.core.software import software_key, split_soft_name
from foxden.core.states import TaskStatus
from foxden.db.engine import Database, new_id
from foxden.db.schema import task_configs, tasks
from foxden.errors import BadRequest, Conflict, NotFound
from foxden.farm import projects, task_json
from foxden.farm import tasks as farm_tasks
from foxden.farm.files import lookup
from foxden.paths import mirror, quoted
from foxden.store.blobs import BlobStore
from foxden.wire.api import PluginConfigIn, TaskConfigOut, TaskOut

#: The config files a task may hold (the SDK's names).
CONFIG_NAMES = ("task.json", "upload.json", "asset.json", "tips.json")
#: Those that must be JSON (foxden reads them); the others are kept as they come.
JSON_CONFIGS = frozenset({"task.json", "upload.json"})
#: The most ids one createTask reserves, and the most unsubmitted drafts an account holds.
MAX_COUNT = 100
MAX_OPEN_DRAFTS = 1000
#: Drafts older than this are deleted when the account reserves new ids.
DRAFT_LIFETIME_S = 7 * 24 * 3600
#: The project of a task.json that names none.
DEFAULT_PROJECT = "default"


def create_drafts(
    db: Database,
    account_id: int,
    count: int,
    *,
    artist: str = "",
    labels: list[str] | None = None,
    user_level: int | None = None,
    priority: int = 0,
) -> list[int]:
    """Reserve `count` task ids as drafts of the account (ascending); drafts left unsubmitted
    for a week are deleted first. 409 when the account holds too many drafts."""
    if not 1 <= count <= MAX_COUNT:
        raise BadRequest(f"count must be between 1 and {MAX_COUNT}, not {count}")
    options: dict[str, Any] = {}
    if labels:
        options["labels"] = labels
    if user_level is not None:
        options["task_user_level"] = user_level
    now = time.time()
    is_draft = (tasks.c.account_id == account_id) & (tasks.c.status == TaskStatus.DRAFT.value)
    with db.write() as conn:
        conn.execute(delete(tasks).where(is_draft & (tasks.c.submit_time < now - DRAFT_LIFETIME_S)))
        held = conn.execute(select(func.count()).select_from(tasks).where(is_draft)).scalar_one()
        if held + count > MAX_OPEN_DRAFTS:
            raise Conflict(
                f"you hold {held} task ids that were never submitted (at most {MAX_OPEN_DRAFTS}):"
                " submit them, or delete them (deleteTask), before creating more"
            )
        return [
            new_id(
                conn.execute(
                    insert(tasks).values(**_draft_row(account_id, artist, options, now, priority))
                )
            )
            for _ in range(count)
        ]


def _draft_row(
    account_id: int, artist: str, options: dict[str, Any], now: float, priority: int
) -> dict[str, Any]:
    """A task row that holds nothing yet but its owner (the NOT NULL columns neutral)."""
    return {
        "account_id": account_id,
        "project_id": None,
        "project_name": "",
        "cg_soft_name": "",
        "plugin_name": "",
        "job_type": "",
        "software_key": "",
        "scene_path": "",
        "frames_spec": "",
        "render_layer": "",
        "camera": "",
        "artist": artist,
        "options": options,
        "warnings": [],
        "priority": priority,
        "chunk_size": 1,
        "max_attempts": 1,
        "output_folder": "",
        "status": TaskStatus.DRAFT.value,
        "frame_count": 0,
        "submit_time": now,
    }


def _own_task(conn: Connection, account_id: int, task_id: int) -> Any:
    row = conn.execute(
        select(tasks.c.id, tasks.c.status, tasks.c.priority, tasks.c.options).where(
            (tasks.c.id == task_id) & (tasks.c.account_id == account_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no task {task_id} in your account")
    return row


def _check_name(name: str) -> None:
    if name not in CONFIG_NAMES:
        raise BadRequest(
            f"fileName {name!r} is not a task config: use one of {', '.join(CONFIG_NAMES)}"
        )


def store_config(
    db: Database, account_id: int, task_id: int, name: str, content: str, *, limit: int
) -> TaskConfigOut:
    """Keep a config file of the account's task (replacing one of the same name): 404 for a
    task not its own, 400 for another name, content over `limit` bytes, or task.json and
    upload.json that are not JSON objects."""
    _check_name(name)
    size = len(content.encode("utf-8", errors="surrogatepass"))
    if size > limit:
        raise BadRequest(f"{name} is {size} bytes, more than the {limit} a task config may hold")
    if "\x00" in content:
        raise BadRequest(f"{name} holds a NUL character: upload the text file the SDK wrote")
    if name in JSON_CONFIGS:
        task_json.loads(content, name)
    with db.write() as conn:
        _own_task(conn, account_id, task_id)
        where = (task_configs.c.task_id == task_id) & (task_configs.c.name == name)
        conn.execute(delete(task_configs).where(where))
        conn.execute(
            insert(task_configs).values(
                task_id=task_id, name=name, content=content, updated_at=time.time()
            )
        )
    return TaskConfigOut(task_id=task_id, name=name, size=size)


def read_config(db: Database, account_id: int, task_id: int, name: str) -> str:
    """A config file of the account's task; 404 when the task or the file is not there."""
    _check_name(name)
    with db.read() as conn:
        _own_task(conn, account_id, task_id)
        content = _config(conn, task_id, name)
    if content is None:
        raise NotFound(f"task {task_id} has no {name}")
    return content


def _config(conn: Connection, task_id: int, name: str) -> str | None:
    value: str | None = conn.execute(
        select(task_configs.c.content).where(
            (task_configs.c.task_id == task_id) & (task_configs.c.name == name)
        )
    ).scalar()
    return value


def submit_draft(
    db: Database,
    store: BlobStore,
    account_id: int,
    task_id: int,
    *,
    default_chunk: int,
    default_attempts: int,
    producer: str | None = None,
) -> TaskOut:
    """Submit the account's draft `task_id` from its task.json (and upload.json): the task
    keeps the id. 404 for a task not its own, 409 for one submitted already, 400 for a draft
    without task.json, a scene never uploaded, or a field of task.json that cannot be used."""
    with db.read() as conn:
        row = _own_task(conn, account_id, task_id)
        if row.status != TaskStatus.DRAFT.value:
            raise Conflict(
                f"task {task_id} was submitted already (it is {row.status}): create a new task "
                "id (createTask) for another submission"
            )
        content = _config(conn, task_id, "task.json")
        upload = _config(conn, task_id, "upload.json")
    if content is None:
        raise BadRequest(
            f"task {task_id} has no task.json: upload it first (the SDK's taskJsonFile call, "
            "or upload_config with the transmitter), then submit"
        )
    spec = task_json.parse(task_json.loads(content))
    scene_path = mirror(spec.scene)
    with db.read() as conn:
        scene = lookup(conn, account_id, scene_path)
    if scene is None:
        raise BadRequest(
            f"scene {quoted(spec.scene)} of task.json (task_info.input_cg_file) was never "
            f"uploaded: upload it to {scene_path} in your files (upload_asset with upload.json, "
            "or foxden's uploader) before submitting"
        )
    soft = spec.cg_soft_name
    if soft is None:
        raise BadRequest(
            "task.json names no software: set software_config.cg_name and cg_version "
            "(such as 'Blender' and '3.4')"
        )
    spec, notes, found = _fill_scene_info(
        spec, split_soft_name(soft)[0], store, scene.hash, scene_path
    )
    if spec.frames is None:
        raise BadRequest(
            "task.json gives no frames (scene_info_render.common.frames, such as '1-10[1]') "
            "and foxden cannot read them from the scene: add them to task.json"
        )
    project_name = spec.project_name or DEFAULT_PROJECT
    config_id = _project_config(db, account_id, project_name, soft, spec.plugin_name)
    # what createTask was told (labels, the SDK's level) stays with the task
    options: dict[str, Any] = {**(row.options or {}), "scene_info_from": "task.json"}
    if found is not None:
        options.update(scene_info_from="foxden", scene_info=found)
    inputs = _extra_inputs(upload, scene_path)
    if inputs:
        options["inputs"] = inputs
    request: dict[str, Any] = {
        "project_name": project_name,
        "input_scene_path": spec.scene,
        "frames": spec.frames,
        "render_layer": spec.render_layer or "",
        "camera": spec.camera or "",
        "artist": producer or spec.artist or "",
        "config_id": config_id,
        "options": options,
        "priority": row.priority,  # createTask's taskUserLevel
    }
    if spec.chunk_size is not None:
        request["chunk_size"] = spec.chunk_size
    return farm_tasks.submit(
        db,
        store,
        account_id,
        request,
        default_chunk=default_chunk,
        default_attempts=default_attempts,
        draft_id=task_id,
        notes=notes,
    )


def _fill_scene_info(
    spec: task_json.TaskJson, job_type: str, store: BlobStore, digest: str, scene_path: str
) -> tuple[task_json.TaskJson, list[str], dict[str, Any] | None]:
    """task.json with the frames it lacks read from the Blender scene, a note saying what came
    from there, and what was read (nothing when task.json has its frames, or the scene is not
    Blender's)."""
    if spec.frames is not None or job_type != "blender":
        return spec, [], None
    from foxden.jobtypes.blender import scene_settings

    try:
        found = scene_settings(store.path(digest))
    except ValueError as exc:
        raise BadRequest(
            f"task.json has no scene info (scene_info_render) and foxden cannot read the scene "
            f"{scene_path}: {exc}; give frames in task.json"
        ) from None
    said = [f"frames {found.frames}"]
    if spec.camera is None:
        said.append(f"camera {found.camera or '(none: the scene has no camera)'}")
    if spec.render_layer is None and found.view_layers:
        said.append(f"view layers {', '.join(found.view_layers)}")
    note = (
        f"scene info from foxden's analysis of {PurePosixPath(scene_path).name} (task.json had "
        f"none): scene {found.scene}, {', '.join(said)}"
    )
    record = {
        "scene": found.scene,
        "frames": found.frames,
        "camera": found.camera,
        "cameras": found.cameras[:100],
        "view_layers": found.view_layers[:100],
        "width": found.width,
        "height": found.height,
    }
    return replace(spec, frames=found.frames), [note], record


def _project_config(
    db: Database, account_id: int, name: str, cg_soft_name: str, plugin_name: str
) -> int:
    """The id of the project's plugin config for the task's software: the project is created
    when missing, and given the config when it has none for that software."""
    wanted = PluginConfigIn(cg_soft_name=cg_soft_name, plugin_name=plugin_name)
    try:
        project = projects.list_projects(db, account_id, name)[0]
    except NotFound:
        try:
            project = projects.create_project(db, account_id, name, configs=[wanted])
        except Conflict:  # created meanwhile by another submission
            project = projects.list_projects(db, account_id, name)[0]
    key = software_key(cg_soft_name)
    for cfg in project.plugins:
        if software_key(cfg.cg_soft_name) == key and cfg.plugin_name == plugin_name:
            return cfg.config_id
    project = projects.add_config(db, account_id, name, wanted)
    return max(
        cfg.config_id
        for cfg in project.plugins
        if software_key(cfg.cg_soft_name) == key and cfg.plugin_name == plugin_name
    )


def _extra_inputs(upload: str | None, scene_path: str) -> list[str]:
    """The files of upload.json that the scene's folder does not hold already (the task takes
    that folder whole), as client paths."""
    if upload is None:
        return []
    folder = str(PurePosixPath(scene_path).parent).rstrip("/") + "/"
    extra = []
    for local in task_json.upload_paths(task_json.loads(upload, "upload.json")):
        try:
            path = mirror(local)
        except BadRequest as exc:
            raise BadRequest(f"upload.json: {exc.message}") from None
        if not path.startswith(folder) and path != scene_path:
            extra.append(local)
    return extra
