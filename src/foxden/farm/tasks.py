"""Tasks: submission (with scene analysis), user operations, and queries."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from pathlib import PurePosixPath
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import from_json, to_json
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Integer,
    Text,
    UnaryExpression,
    any_,
    bindparam,
    cast,
    delete,
    false,
    func,
    insert,
    null,
    or_,
    select,
    update,
)

from foxden import frames as frame_spec
from foxden.core import failures
from foxden.core.software import software_key, split_soft_name
from foxden.core.states import (
    Event,
    FrameStatus,
    LeaseState,
    TaskOp,
    TaskStatus,
    check_task_op,
    sdk_task_selection,
    statuses_for_filter,
)
from foxden.db.engine import Database, new_id
from foxden.db.schema import (
    accounts,
    files,
    frame_logs,
    frames,
    leases,
    outputs,
    task_inputs,
    tasks,
)
from foxden.errors import BadRequest, Conflict, NotFound
from foxden.farm import (
    chunks,
    dependencies,
    estimates,
    frame_order,
    lifecycle,
    limits,
    movies,
    scene_checks,
    time_limits,
    wakeups,
    webhooks,
)
from foxden.farm.files import lookup
from foxden.farm.privileges import PRIVILEGED_JOB_TYPES, require_allowed
from foxden.farm.projects import config_for_submit
from foxden.farm.sdk_keys import SecretBox
from foxden.jobtypes.base import Analysis
from foxden.paths import mirror
from foxden.store.blobs import BlobStore
from foxden.wire.api import (
    FrameOut,
    TaskDeletedOut,
    TaskOut,
    TaskOutputOut,
    TaskPageOut,
)
from foxden.wire.worker import InputFile

log = logging.getLogger("foxden.tasks")

KNOWN_FIELDS = {
    "project_name",
    "input_scene_path",
    "frames",
    "render_layer",
    "camera",
    "artist",
    "priority",
    "chunk_size",
    "max_attempts",
    "options",
    "config_id",
    "strict",
    # time limits and adaptive chunks (farm/time_limits.py, farm/chunks.py)
    "frame_timeout_s",
    "progress_timeout_s",
    "chunk_seconds",
    "webhook",  # a webhook for this task's events (farm/webhooks.py)
    # scheduling policy: the tasks it waits for, the limits it takes (farm/dependencies.py,
    # farm/limits.py); `frame_order` stays an option (farm/frame_order.py)
    "depends_on",
    "limits",
}
MAX_INPUTS = 20_000


def _int_in(name: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a whole number, not {value!r}") from None
    if not low <= number <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, not {number}")
    return number


def _analyse(job_type: str, store: BlobStore, digest: str, scene_path: str) -> Analysis:
    """What the job type reads of the scene (nothing for software it cannot analyse, and a
    warning when analysis itself breaks: that must never lose a submission)."""
    try:
        from foxden.jobtypes.registry import job_types

        known = {jt.name: jt for jt in job_types()}
        if job_type not in known:
            return Analysis()  # no analysis for this software: nothing to report
        return known[job_type].analyse(store.path(digest), scene_path)
    except Exception as exc:
        log.warning("scene analysis failed", extra={"event": "analysis_failed", "error": str(exc)})
        return Analysis(warnings=[f"scene analysis failed: {exc}"])


@dataclass(frozen=True)
class _Submission:
    """A submit request, checked: what the task row and its frames are made of."""

    request: dict[str, Any]
    numbers: list[int]
    scene_path: str
    options: dict[str, Any]
    priority: int
    chunk: int
    attempts: int
    strict: bool  # refuse, rather than warn about, files the scene uses that were not uploaded


def submit(
    db: Database,
    store: BlobStore,
    account_id: int,
    request: dict[str, Any],
    *,
    default_chunk: int,
    default_attempts: int,
    draft_id: int | None = None,
    notes: list[str] | None = None,
    webhook_box: SecretBox | None = None,
) -> TaskOut:
    """Validate and create a task with one row per frame; returns the task record.

    The scene's analysis is checked first (`scene_checks`): a file that is not the software's
    scene, a camera or view layer it lacks are refused (400) before anything is written;
    frames outside its range and files it uses that were never uploaded are warnings (with
    `strict` in the request, the missing files are refused instead). With `draft_id`, the account's draft task of that id (reserved by the vendor SDK's
    createTask) becomes the task, keeping its id (409 when it is no longer a draft). `notes`
    go first in the task's warnings (what the caller filled in, and from where)."""
    sub = _checked(request, default_chunk, default_attempts)
    hook_url = webhooks.url_at_submit(request.get("webhook"), webhook_box)
    config_id = request.get("config_id")
    with db.read() as conn:
        project, cfg = config_for_submit(
            conn,
            account_id,
            str(request["project_name"]),
            None if config_id is None else int(config_id),
        )
        require_allowed(conn, account_id, cfg.cg_soft_name)
        scene = lookup(conn, account_id, sub.scene_path)
    if scene is None:
        raise BadRequest(
            f"scene {sub.scene_path} (from {request['input_scene_path']!r}) was never uploaded: "
            "upload it (and its textures and caches) first, then submit"
        )
    job_type, _version = split_soft_name(cfg.cg_soft_name)
    analysis = _analyse(job_type, store, scene.hash, sub.scene_path)
    warnings = [*(notes or []), *analysis.warnings]
    warnings += scene_checks.check_choices(
        analysis,
        sub.scene_path,
        str(request.get("camera") or ""),
        str(request.get("render_layer") or ""),
        sub.numbers,
    )
    order = _frame_order(request, sub.options)
    with db.write() as conn:
        require_allowed(conn, account_id, cfg.cg_soft_name, lock=True)  # an untrust meanwhile
        inputs, missing = _inputs(conn, account_id, scene, analysis.dependencies, sub.options)
        warnings += scene_checks.missing_files(missing, strict=sub.strict)
        needs = dependencies.checked(conn, account_id, _listed("depends_on", request))
        taken = limits.known(conn, _listed("limits", request))
        task_id = _insert_task(conn, account_id, project, cfg, job_type, sub, warnings, draft_id)
        _insert_frames(conn, task_id, sub.numbers, frame_order.sequence(sub.numbers, order))
        wakeups.on_commit(conn, len(sub.numbers))  # claims waiting for work get it at once
        limits.take(conn, task_id, taken)
        dependencies.record(conn, task_id, needs)
        if inputs:
            conn.execute(insert(task_inputs), [{"task_id": task_id, **i} for i in inputs])
        movies.follow_up(conn, store, account_id, task_id, sub.options)  # `movie` asked for
        hook = webhooks.add_for_task(conn, webhook_box, account_id, hook_url, task_id)
    task = get_task(db, account_id, task_id)
    return task if hook is None else task.model_copy(update={"webhook_secret": hook.secret})


def _checked(request: dict[str, Any], default_chunk: int, default_attempts: int) -> _Submission:
    """The submit request's fields, checked (400 for a missing or out-of-range one)."""
    for key in ("project_name", "input_scene_path", "frames"):
        if not request.get(key):
            raise BadRequest(f"{key} is required to submit a task")
    numbers = frame_spec.parse(str(request["frames"]))
    scene_path = mirror(str(request["input_scene_path"]))
    options = dict(request.get("options") or {})
    options.update({k: v for k, v in request.items() if k not in KNOWN_FIELDS})
    return _Submission(
        request=request,
        numbers=numbers,
        scene_path=scene_path,
        options=options,
        priority=_int_in("priority", request.get("priority", 0), -1000, 1000),
        chunk=_int_in("chunk_size", request.get("chunk_size", default_chunk), 1, 10_000),
        attempts=_int_in("max_attempts", request.get("max_attempts", default_attempts), 1, 100),
        strict=_yes_no("strict", request.get("strict", False)),
    )


def _yes_no(name: str, value: Any) -> bool:
    """A flag given as a boolean, 0/1 or 'true'/'false' (400 for anything else)."""
    if isinstance(value, bool):
        return value
    if value in (0, 1) or str(value).strip().lower() in ("0", "1", "true", "false"):
        return str(value).strip().lower() in ("1", "true")
    raise BadRequest(f"{name} must be true or false, not {value!r}")


def _insert_task(
    conn: Connection,
    account_id: int,
    project: Any,
    cfg: Any,
    job_type: str,
    sub: _Submission,
    warnings: list[str],
    draft_id: int | None = None,
) -> int:
    """Insert the task row (queued, every frame waiting), or turn the draft `draft_id` into
    it, and name its output folder."""
    request = sub.request
    values: dict[str, Any] = {
        "account_id": account_id,
        "project_id": project.id,
        "project_name": project.name,
        "cg_soft_name": cfg.cg_soft_name,
        "plugin_name": cfg.plugin_name,
        "job_type": job_type,
        "software_key": software_key(cfg.cg_soft_name),
        "scene_path": sub.scene_path,
        "frames_spec": frame_spec.format(sub.numbers),
        "render_layer": str(request.get("render_layer") or ""),
        "camera": str(request.get("camera") or ""),
        "artist": str(request.get("artist") or ""),
        "options": sub.options,
        "warnings": warnings,
        "priority": sub.priority,
        "chunk_size": sub.chunk,
        "max_attempts": sub.attempts,
        "output_folder": "",
        "status": TaskStatus.QUEUED.value,
        "frame_count": len(sub.numbers),
        "n_waiting": len(sub.numbers),
        "submit_time": time.time(),
    }
    values.update({**time_limits.submit_values(request), **chunks.submit_values(request)})
    if draft_id is None:
        task_id = new_id(conn.execute(insert(tasks).values(**values)))
    else:
        task_id = draft_id
        lifecycle.lock_task(conn, task_id)
        draft = _task_row(conn, account_id, task_id)
        if draft.status != TaskStatus.DRAFT.value:
            raise Conflict(
                f"task {task_id} was submitted already (it is {draft.status}): create a new "
                "task id (createTask) for another submission"
            )
        kept = {k: v for k, v in draft.options.items() if k not in values["options"]}
        values["options"] = {**kept, **values["options"]}  # createTask's labels and level
        if not values["artist"]:
            values["artist"] = draft.artist
        conn.execute(update(tasks).where(tasks.c.id == task_id).values(**values))
    folder = f"{task_id}_{PurePosixPath(sub.scene_path).stem}"
    conn.execute(update(tasks).where(tasks.c.id == task_id).values(output_folder=folder))
    return task_id


def _frame_order(request: dict[str, Any], options: dict[str, Any]) -> frame_order.FrameOrder:
    """The submission's frame order (400 for an unknown one); first, last, middle by default."""
    order = request.get("frame_order", options.get("frame_order")) or frame_order.DEFAULT_ORDER
    for known in frame_order.FRAME_ORDERS:
        if order == known:
            return known
    raise BadRequest(
        f"frame_order must be one of {', '.join(frame_order.FRAME_ORDERS)}, not {order!r}"
    )


def _listed(name: str, request: dict[str, Any]) -> list[Any]:
    """A list field of the submission (`depends_on`, `limits`); 400 for anything else."""
    value = request.get(name)
    if value is None:
        return []
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, list | tuple):
        raise BadRequest(f"{name} must be a list, not {value!r}")
    return list(value)


def _insert_frames(
    conn: Connection, task_id: int, numbers: list[int], seq: dict[int, int] | None = None
) -> None:
    """One waiting row per frame (`seq`: its place in the claim order), 5,000 at a time."""
    for i in range(0, len(numbers), 5000):
        conn.execute(
            insert(frames),
            [
                {
                    "task_id": task_id,
                    "number": n,
                    "status": FrameStatus.WAITING.value,
                    "attempts": 0,
                    "progress": 0.0,
                    "error": "",
                    "seq": None if seq is None else seq[n],
                }
                for n in numbers[i : i + 5000]
            ],
        )


def _inputs(
    conn: Connection,
    account_id: int,
    scene: Any,
    deps: list[str],
    options: dict[str, Any],
) -> tuple[list[InputFile], list[str]]:
    """The files a task's workers may fetch (scene, its dependencies, its folder, extra
    inputs), and the dependencies that were never uploaded."""
    chosen = {scene.path: InputFile(path=scene.path, hash=scene.hash, size=scene.size)}
    folders = [str(PurePosixPath(scene.path).parent)]
    for extra in options.get("inputs") or []:
        folders.append(mirror(str(extra)))
    for folder in folders:
        prefix = folder.rstrip("/") + "/"
        rows = conn.execute(
            select(files.c.path, files.c.hash, files.c.size)
            .where(
                (files.c.account_id == account_id)
                & (files.c.path.startswith(prefix, autoescape=True) | (files.c.path == folder))
            )
            .limit(MAX_INPUTS)
        ).all()
        for r in rows:
            chosen[r.path] = InputFile(path=r.path, hash=r.hash, size=r.size)
    missing: list[str] = []
    for dep in deps:
        row = lookup(conn, account_id, dep)
        if row is None:
            missing.append(dep)
        else:
            chosen[row.path] = InputFile(path=row.path, hash=row.hash, size=row.size)
    return list(chosen.values()), missing


def _task_row(conn: Connection, account_id: int, task_id: int) -> Any:
    row = conn.execute(
        select(tasks).where((tasks.c.id == task_id) & (tasks.c.account_id == account_id))
    ).first()
    if row is None:
        raise NotFound(f"no task {task_id} in your account")
    return row


#: the task columns a record reads, in the order `_task_dict` unpacks them
_TASK_COLUMNS = (
    tasks.c.id,
    tasks.c.project_name,
    tasks.c.status,
    tasks.c.frames_spec,
    tasks.c.frame_count,
    tasks.c.n_waiting,
    tasks.c.n_running,
    tasks.c.n_done,
    tasks.c.n_failed,
    tasks.c.n_stopped,
    tasks.c.n_aborted,
    tasks.c.cg_soft_name,
    tasks.c.plugin_name,
    tasks.c.job_type,
    tasks.c.scene_path,
    tasks.c.render_layer,
    tasks.c.camera,
    tasks.c.artist,
    tasks.c.options,
    tasks.c.warnings,
    tasks.c.priority,
    tasks.c.chunk_size,
    tasks.c.max_attempts,
    tasks.c.output_folder,
    tasks.c.submit_time,
    tasks.c.start_time,
    tasks.c.completed_time,
    tasks.c.failure_summary,
    tasks.c.blocked_reason,
    tasks.c.frame_timeout_s,
    tasks.c.progress_timeout_s,
    tasks.c.target_chunk_seconds,
)
#: `_TASK_COLUMNS` as a list reads them: the JSON columns as their text, decoded by `_task_dict`
#: at once (the database driver's and SQLAlchemy's JSON decoding cost more than the rest of a
#: row together)
_LISTED_COLUMNS = tuple(
    cast(c, Text).label(c.name) if c.name in ("options", "warnings") else c for c in _TASK_COLUMNS
)
_TASKS = TypeAdapter(list[TaskOut])
_FRAMES = TypeAdapter(list[FrameOut])


def _task_dict(
    row: Sequence[Any], account_name: str, guess: estimates.Estimate | None
) -> dict[str, Any]:
    """The fields of `TaskOut` (but `frames_detail`) of a row of `_TASK_COLUMNS` (or of
    `_LISTED_COLUMNS`: its JSON columns as text), as JSON values: the columns are read by place,
    the counts straight from the frame counters."""
    (
        task_id,
        project_name,
        status,
        frames_spec,
        frame_count,
        n_waiting,
        n_running,
        n_done,
        n_failed,
        n_stopped,
        n_aborted,
        cg_soft_name,
        plugin_name,
        job_type,
        scene_path,
        render_layer,
        camera,
        artist,
        options,
        warnings,
        priority,
        chunk_size,
        max_attempts,
        output_folder,
        submit_time,
        start_time,
        completed_time,
        failure_summary,
        blocked_reason,
        frame_timeout_s,
        progress_timeout_s,
        chunk_seconds,
    ) = row
    return {
        "id": task_id,
        "project_name": project_name,
        "status": status,
        "frames": frames_spec,
        "frame_count": frame_count,
        "counts": {
            "waiting": n_waiting,
            "running": n_running,
            "done": n_done,
            "failed": n_failed,
            "stopped": n_stopped,
            "aborted": n_aborted,
        },
        "progress": round(n_done / frame_count, 4) if frame_count else 0.0,
        "cg_soft_name": cg_soft_name,
        "plugin_name": plugin_name,
        "job_type": job_type,
        "scene_path": scene_path,
        "render_layer": render_layer,
        "camera": camera,
        "artist": artist,
        "options": from_json(options) if isinstance(options, str) else options,
        "warnings": from_json(warnings) if isinstance(warnings, str) else warnings,
        "priority": priority,
        "chunk_size": chunk_size,
        "max_attempts": max_attempts,
        "output_folder": output_folder,
        "submit_account": account_name,
        "submit_time": submit_time,
        "start_time": start_time,
        "completed_time": completed_time,
        "failure_summary": failure_summary,
        "blocked_reason": blocked_reason,
        "eta_seconds": None if guess is None else guess.eta_seconds,
        "core_hours": None if guess is None else guess.core_hours,
        "frame_timeout_s": frame_timeout_s,
        "progress_timeout_s": progress_timeout_s,
        "chunk_seconds": chunk_seconds,
    }


_STATE_AT = itemgetter(
    *(
        next(i for i, c in enumerate(_TASK_COLUMNS) if c.name == f)
        for f in estimates.TaskState._fields
    )
)


def _state(r: Sequence[Any]) -> estimates.TaskState:
    """What the estimates read of a row of `_TASK_COLUMNS`."""
    return estimates.TaskState._make(_STATE_AT(r))


def task_record(
    row: Any,
    account_name: str = "",
    frames_detail: list[FrameOut] | None = None,
    estimate: estimates.Estimate | None = None,
) -> TaskOut:
    """The public record of a task row (all of its columns: `select(tasks)`), with its frames
    when they are given, its ETA and core-hours when `estimate` is given (`estimates.of_rows`)."""
    m = row._mapping
    fields = _task_dict(
        [m[c.name] for c in _TASK_COLUMNS], account_name, estimate or estimates.Estimate()
    )
    return TaskOut(**fields, frames_detail=frames_detail)


@dataclass(frozen=True)
class TaskDicts:
    """Task records as plain JSON values (`TaskOut`'s fields), the frames' too when asked
    (`frames_detail`): what a list serialises at once, or reads into `TaskOut`s (`records`)."""

    items: list[dict[str, Any]]

    def records(self) -> list[TaskOut]:
        """The tasks as `TaskOut`s (validated together)."""
        return _TASKS.validate_python(self.items)


def task_dicts(
    conn: Connection, rows: Sequence[Any], account_name: str, with_frames: bool = False
) -> TaskDicts:
    """The records of task rows of `_LISTED_COLUMNS`, with their estimates (three queries however
    many rows: `estimates.of_rows`) and their frames when asked (a query a task)."""
    guesses = estimates.of_states(conn, [_state(r) for r in rows])
    items = [_task_dict(r, account_name, guesses[r[0]]) for r in rows]
    if with_frames:
        for item in items:
            item["frames_detail"] = frame_dicts(conn, item["id"])
    return TaskDicts(items)


def _record(conn: Connection, account_id: int, task_id: int) -> TaskOut:
    """The record of one of the account's tasks, with its estimates read afresh (no frames)."""
    row = _task_row(conn, account_id, task_id)
    guess = estimates.of_rows(conn, [row], fresh=True)[row.id]
    return task_record(row, _account_name(conn, account_id), None, guess)


#: the frame columns a record reads, in the order `_frame_dict` unpacks them
_FRAME_COLUMNS = (
    frames.c.id,
    frames.c.number,
    frames.c.status,
    frames.c.attempts,
    frames.c.progress,
    frames.c.worker_id,
    frames.c.start_time,
    frames.c.end_time,
    frames.c.render_time,
    frames.c.error,
    frames.c.failure_category,
)


def _frame_dict(row: Sequence[Any], outs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fields of `FrameOut` of a row of `_FRAME_COLUMNS` as JSON values: its last failure's
    category (classified now when the row predates categories) and the advice for it, when its
    last attempt failed."""
    (
        frame_id,
        number,
        status,
        attempts,
        progress,
        worker_id,
        start_time,
        end_time,
        render_time,
        error,
        category,
    ) = row
    category = (category or failures.classify(error).value) if error else ""
    return {
        "id": frame_id,
        "number": number,
        "status": status,
        "attempts": attempts,
        "progress": progress,
        "worker_id": worker_id,
        "start_time": start_time,
        "end_time": end_time,
        "render_time": render_time,
        "error": error,
        "outputs": outs,
        "failure_category": category,
        "advice": failures.advice(category) if category else "",
    }


def _output_dicts(conn: Connection, where: ColumnElement[bool]) -> dict[int, list[dict[str, Any]]]:
    """The outputs of frames (`where` on `outputs`) by frame id, in path order."""
    found: dict[int, list[dict[str, Any]]] = {}
    for frame_id, path, digest, size, thumb in conn.execute(
        select(
            outputs.c.frame_id, outputs.c.path, outputs.c.hash, outputs.c.size, outputs.c.thumb_hash
        )
        .where(where)
        .order_by(outputs.c.path)
    ):
        if frame_id is not None:
            found.setdefault(frame_id, []).append(
                {"path": path, "hash": digest, "size": size, "thumb_hash": thumb}
            )
    return found


def frame_dicts(conn: Connection, task_id: int) -> list[dict[str, Any]]:
    """A task's frames with their outputs, as `FrameOut`'s fields in JSON values."""
    outs = _output_dicts(conn, outputs.c.task_id == task_id)
    rows = conn.execute(
        select(*_FRAME_COLUMNS).where(frames.c.task_id == task_id).order_by(frames.c.number)
    )
    return [_frame_dict(r, outs.get(r[0], [])) for r in rows]


def frame_records(conn: Connection, task_id: int) -> list[FrameOut]:
    """A task's frames with their outputs."""
    return _FRAMES.validate_python(frame_dicts(conn, task_id))


def _account_name(conn: Connection, account_id: int) -> str:
    return str(
        conn.execute(select(accounts.c.name).where(accounts.c.id == account_id)).scalar_one()
    )


def get_task(db: Database, account_id: int, task_id: int, with_frames: bool = False) -> TaskOut:
    """One task of the account (404 for anyone else's)."""
    with db.read() as conn:
        row = _task_row(conn, account_id, task_id)
        detail = frame_records(conn, task_id) if with_frames else None
        guess = estimates.of_rows(conn, [row], fresh=True)[row.id]
        return task_record(row, _account_name(conn, account_id), detail, guess)


# ---- operations ----------------------------------------------------------------------------

RESTART_KINDS = {
    "failed": [FrameStatus.FAILED],
    "aborted": [FrameStatus.ABORTED],
    "done": [FrameStatus.DONE],
    "running": [FrameStatus.RUNNING],
    "waiting": [FrameStatus.WAITING],
    "stopped": [FrameStatus.STOPPED],
    "all": list(FrameStatus),
}


def _operable_row(conn: Connection, account_id: int, task_id: int, op: TaskOp) -> Any:
    """The task's row, locked, once `op` is allowed on it (409 if not)."""
    lifecycle.lock_task(conn, task_id)
    row = _task_row(conn, account_id, task_id)
    check_task_op(op, row.status)
    if op in (TaskOp.RESUME, TaskOp.RESTART) and row.job_type in PRIVILEGED_JOB_TYPES:
        require_allowed(conn, account_id, row.cg_soft_name)  # it would run again
    return row


def delete_task(db: Database, account_id: int, task_id: int) -> TaskDeletedOut:
    """Delete a task that is not queued or rendering (the tasks that waited for it no longer
    do: their blocked reason goes with it)."""
    with db.write() as conn:
        _operable_row(conn, account_id, task_id, TaskOp.DELETE)
        waiting = dependencies.dependents(conn, task_id)
        conn.execute(delete(tasks).where(tasks.c.id == task_id))
        dependencies.update_reasons(conn, waiting)
    return TaskDeletedOut(id=task_id, deleted=True)


def operate(
    db: Database,
    account_id: int,
    task_id: int,
    op: TaskOp,
    *,
    restart: str = "failed",
    numbers: list[int] | None = None,
) -> TaskOut:
    """Stop, resume, restart (failed / all / chosen frames / by status) or abort a task
    (`delete_task` deletes one)."""
    if op is TaskOp.DELETE:
        raise ValueError("tasks.operate does not delete: call tasks.delete_task")
    with db.write() as conn:
        _operable_row(conn, account_id, task_id, op)
        if op is TaskOp.STOP:
            lifecycle.transition(
                conn,
                task_id,
                Event.STOP,
                lifecycle.status_filter([FrameStatus.WAITING, FrameStatus.RUNNING]),
            )
            lifecycle.revoke_idle_leases(conn, task_id, "the task was stopped")
        elif op is TaskOp.RESUME:
            lifecycle.transition(
                conn, task_id, Event.RESUME, lifecycle.status_filter([FrameStatus.STOPPED])
            )
        elif op is TaskOp.ABORT:
            lifecycle.transition(
                conn, task_id, Event.ABORT, frames.c.status != FrameStatus.DONE.value
            )
            lifecycle.revoke_idle_leases(conn, task_id, "the task was aborted")
        elif op is TaskOp.RESTART:
            where = _restart_filter(conn, task_id, restart, numbers)
            lifecycle.transition(conn, task_id, Event.RESTART, where)
            lifecycle.revoke_idle_leases(conn, task_id, "the frames were restarted")
        return _record(conn, account_id, task_id)


def _restart_filter(
    conn: Connection, task_id: int, restart: str, numbers: list[int] | None
) -> ColumnElement[bool]:
    """The frames a restart takes: those named (400 for one the task lacks), or a kind."""
    if numbers:
        known = set(
            conn.execute(
                select(frames.c.number).where(
                    (frames.c.task_id == task_id) & frames.c.number.in_(numbers)
                )
            ).scalars()
        )
        unknown = sorted(set(numbers) - known)
        if unknown:
            raise BadRequest(f"task {task_id} has no frame(s) {frame_spec.format(unknown)}")
        return lifecycle.numbers_filter(numbers)
    if restart in RESTART_KINDS:
        return lifecycle.status_filter(RESTART_KINDS[restart])
    raise BadRequest(f"restart must be one of {', '.join(RESTART_KINDS)}, or name frames")


# ---- queries -------------------------------------------------------------------------------

SORTS = {
    "id": tasks.c.id,
    "task_id": tasks.c.id,
    "status": tasks.c.status,
    "submit_time": tasks.c.submit_time,
    "priority": tasks.c.priority,
    "project_name": tasks.c.project_name,
}


def _when(name: str, value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).timestamp()
        except ValueError:
            continue
    try:
        return float(text)
    except ValueError:
        raise BadRequest(
            f"{name} must be a time like 'yyyy-MM-dd HH:mm:ss' or seconds since 1970, not {value!r}"
        ) from None


@dataclass(frozen=True)
class TaskPage:
    """One page of a task listing, its records as plain JSON values (`TaskDicts`)."""

    total: int
    page_no: int
    page_size: int
    tasks: TaskDicts

    def out(self) -> TaskPageOut:
        """The page as the API's model."""
        return TaskPageOut(
            total=self.total,
            page_no=self.page_no,
            page_size=self.page_size,
            items=self.tasks.records(),
        )

    def json(self) -> bytes:
        """The page as `TaskPageOut`'s JSON, written at once from the plain values."""
        return to_json(
            {
                "total": self.total,
                "page_no": self.page_no,
                "page_size": self.page_size,
                "items": self.tasks.items,
            }
        )


def list_tasks(db: Database, account_id: int, filters: Mapping[str, Any]) -> TaskPageOut:
    """The account's tasks with the vendor's filter keys, sorting and paging."""
    return task_page(db, account_id, filters).out()


def task_page(db: Database, account_id: int, filters: Mapping[str, Any]) -> TaskPage:
    """`list_tasks` as plain values: a count and a page, each one indexed query, and the
    page's records built at a few queries whatever its size (`task_dicts`)."""
    f = dict(filters)
    where = _task_filter(account_id, f)
    order, desc = _task_order(f)
    size = _int_in("page_size", f.get("page_size", 100), 1, 1000)
    page = _int_in("page_no", f.get("page_no", 1), 1, 10**9)
    with db.read() as conn:
        total = conn.execute(select(func.count()).select_from(tasks).where(where)).scalar_one()
        rows = conn.execute(
            select(*_LISTED_COLUMNS)
            .where(where)
            .order_by(order, tasks.c.id.desc() if desc else tasks.c.id)
            .limit(size)
            .offset((page - 1) * size)
        ).all()
        found = task_dicts(conn, rows, _account_name(conn, account_id), bool(f.get("with_frames")))
    return TaskPage(total=int(total), page_no=page, page_size=size, tasks=found)


#: tasks a line of `task_stream` holds (fewer with their frames: a task may have thousands)
STREAM_BATCH = 1000
STREAM_BATCH_WITH_FRAMES = 20


@dataclass(frozen=True)
class TaskStream:
    """Every task of a listing, as `task_stream` sends it: how many, and the body's lines."""

    total: int
    lines: Iterator[bytes]


def task_stream(db: Database, account_id: int, filters: Mapping[str, Any]) -> TaskStream:
    """Every task the filters match, in the listing's order, without pages (`GET
    /api/tasks/all`): the matching ids are read at once (one indexed query), then the records
    a batch at a time, each batch in a read of its own (no connection held while the client
    reads), each written as one line `{"tasks": [...]}`; the last line is `{"end": n}`, the
    number of records sent, so a reader knows the list is whole. A task deleted while the list
    is sent is left out; one submitted meanwhile is not in it."""
    f = dict(filters)
    where = _task_filter(account_id, f)
    order, desc = _task_order(f)
    with_frames = bool(f.get("with_frames"))
    with db.read() as conn:
        ids = list(
            conn.execute(
                select(tasks.c.id)
                .where(where)
                .order_by(order, tasks.c.id.desc() if desc else tasks.c.id)
            )
            .scalars()
            .all()
        )
        name = _account_name(conn, account_id)
    size = STREAM_BATCH_WITH_FRAMES if with_frames else STREAM_BATCH
    return TaskStream(len(ids), _stream_lines(db, ids, name, with_frames, size))


def _stream_lines(
    db: Database, ids: list[int], account_name: str, with_frames: bool, size: int
) -> Iterator[bytes]:
    sent = 0
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        with db.read() as conn:
            place = {task_id: i for i, task_id in enumerate(batch)}
            rows = conn.execute(select(*_LISTED_COLUMNS).where(_id_in(conn, batch))).all()
            rows = sorted(rows, key=lambda r: place[r[0]])
            found = task_dicts(conn, rows, account_name, with_frames)
        sent += len(found.items)
        yield to_json({"tasks": found.items}) + b"\n"
    yield to_json({"end": sent}) + b"\n"


def _id_in(conn: Connection, ids: list[int]) -> ColumnElement[bool]:
    """`tasks.id IN ids`; on PostgreSQL one array parameter (`= ANY`), not a parameter each
    (rendering and parsing a thousand of them cost more than the query)."""
    if conn.dialect.name == "postgresql":
        return tasks.c.id == any_(bindparam("ids", ids, type_=ARRAY(Integer)))
    return tasks.c.id.in_(ids)


def _task_filter(account_id: int, f: Mapping[str, Any]) -> ColumnElement[bool]:
    """The account's tasks that match the vendor's filter keys in `f` (drafts never do)."""
    where = (tasks.c.account_id == account_id) & (tasks.c.status != TaskStatus.DRAFT.value)
    if f.get("task_id") not in (None, ""):
        where &= tasks.c.id == _int_in("task_id", f["task_id"], 0, 2**62)
    for key, col in (
        ("project_name", tasks.c.project_name),
        ("cg_soft_name", tasks.c.cg_soft_name),
        ("camera", tasks.c.camera),
        ("render_layer", tasks.c.render_layer),
    ):
        if f.get(key):
            where &= col == str(f[key])
    if f.get("input_scene_path"):
        where &= tasks.c.scene_path == mirror(str(f["input_scene_path"]))
    if f.get("artist"):
        where &= tasks.c.artist.icontains(str(f["artist"]), autoescape=True)
    if f.get("text"):
        t = str(f["text"])
        where &= (
            tasks.c.scene_path.icontains(t, autoescape=True)
            | tasks.c.project_name.icontains(t, autoescape=True)
            | tasks.c.artist.icontains(t, autoescape=True)
        )
    if f.get("task_status"):
        try:
            wanted = statuses_for_filter(str(f["task_status"]))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        where &= tasks.c.status.in_([s.value for s in wanted])
    if f.get("sdk_status") is not None:  # the vendor SDK's numeric codes (a list)
        where &= _sdk_status_where(f["sdk_status"])
    for key, col, op in (
        ("submit_time_from", tasks.c.submit_time, "ge"),
        ("submit_time_to", tasks.c.submit_time, "le"),
        ("completed_time_from", tasks.c.completed_time, "ge"),
        ("completed_time_to", tasks.c.completed_time, "le"),
    ):
        if f.get(key) not in (None, ""):
            when = _when(key, f[key])
            where &= (col >= when) if op == "ge" else (col <= when)
    return where


def _task_order(f: Mapping[str, Any]) -> tuple[UnaryExpression[Any], bool]:
    """The ORDER BY of `sort` ('-' for descending, or `order` = 'desc') and whether it descends."""
    sort = str(f.get("sort") or "-id")
    desc = sort.startswith("-") or str(f.get("order", "")).lower() == "desc"
    key = sort.lstrip("-+")
    if key not in SORTS:
        raise BadRequest(
            f"cannot sort by {key!r}; sort by one of {', '.join(SORTS)} (prefix '-' for descending)"
        )
    return (SORTS[key].desc() if desc else SORTS[key].asc()), desc


def frame_log(
    db: Database, account_id: int, task_id: int, number: int, attempt: int | None = None
) -> str:
    """The log of one frame: every attempt, or only `attempt` (404 if it has no such attempt)."""
    with db.read() as conn:
        _task_row(conn, account_id, task_id)
        frame = conn.execute(
            select(frames.c.id, frames.c.error).where(
                (frames.c.task_id == task_id) & (frames.c.number == number)
            )
        ).first()
        if frame is None:
            raise NotFound(f"task {task_id} has no frame {number}")
        rows = conn.execute(
            select(frame_logs.c.attempt, frame_logs.c.text)
            .where(frame_logs.c.frame_id == frame.id)
            .order_by(frame_logs.c.id)
        ).all()
    tried = sorted({r.attempt for r in rows})
    if attempt is not None:
        rows = [r for r in rows if r.attempt == attempt]
        if not rows:
            have = ", ".join(map(str, tried)) or "none yet"
            raise NotFound(
                f"frame {number} of task {task_id} has no log of attempt {attempt} "
                f"(attempts logged: {have})"
            )
    parts: list[str] = []
    attempt = None
    for r in rows:
        if r.attempt != attempt:
            attempt = r.attempt
            parts.append(f"===== attempt {attempt} =====\n")
        parts.append(r.text if r.text.endswith("\n") else r.text + "\n")
    if frame.error and (attempt is None or attempt == tried[-1]):
        parts.append(f"===== error =====\n{frame.error}\n")
    return "".join(parts)


def task_outputs(db: Database, account_id: int, task_id: int) -> list[TaskOutputOut]:
    """The output manifest of a task: path (under its output folder), hash, size, frame."""
    with db.read() as conn:
        _task_row(conn, account_id, task_id)
        rows = conn.execute(
            select(
                outputs.c.path,
                outputs.c.hash,
                outputs.c.size,
                outputs.c.thumb_hash,
                frames.c.number,
            )
            .join(frames, frames.c.id == outputs.c.frame_id, isouter=True)
            .where(outputs.c.task_id == task_id)
            .order_by(outputs.c.path)
        ).all()
    return [
        TaskOutputOut(
            path=r.path, hash=r.hash, size=r.size, thumb_hash=r.thumb_hash, frame=r.number
        )
        for r in rows
    ]


def page_outputs(
    db: Database, account_id: int, task_id: int, first: int, last: int
) -> tuple[int, list[TaskOutputOut]]:
    """(how many outputs the task has, those of its frames numbered `first`..`last` and those of
    no frame (a movie)), for a page of its frames."""
    with db.read() as conn:
        _task_row(conn, account_id, task_id)
        total = conn.execute(
            select(func.count()).select_from(outputs).where(outputs.c.task_id == task_id)
        ).scalar_one()
        columns = (outputs.c.path, outputs.c.hash, outputs.c.size, outputs.c.thumb_hash)
        # the page's frames (by number), then their outputs (ix_outputs_frame_id)
        rows = list(
            conn.execute(
                select(*columns, frames.c.number)
                .join(outputs, outputs.c.frame_id == frames.c.id)
                .where((frames.c.task_id == task_id) & frames.c.number.between(first, last))
            )
        )
        rows += conn.execute(
            select(*columns, null().label("number")).where(
                (outputs.c.task_id == task_id) & outputs.c.frame_id.is_(None)
            )
        ).all()
    rows.sort(key=lambda r: r.path)
    found = [
        TaskOutputOut(
            path=r.path, hash=r.hash, size=r.size, thumb_hash=r.thumb_hash, frame=r.number
        )
        for r in rows
    ]
    return int(total), found


def frame_thumbnail(db: Database, account_id: int, task_id: int, number: int) -> str | None:
    """The thumbnail blob of a frame's first output, if any."""
    with db.read() as conn:
        _task_row(conn, account_id, task_id)
        return conn.execute(
            select(outputs.c.thumb_hash)
            .join(frames, frames.c.id == outputs.c.frame_id)
            .where(
                (outputs.c.task_id == task_id)
                & (frames.c.number == number)
                & outputs.c.thumb_hash.is_not(None)
            )
            .order_by(outputs.c.path)
            .limit(1)
        ).scalar()


def held_input(db: Database, worker_id: int, digest: str) -> str | None:
    """The path of input `digest` in a task on which the worker holds a live lease, or None
    when it holds no such lease (the worker may read only inputs of its work)."""
    with db.read() as conn:
        path: str | None = conn.execute(
            select(task_inputs.c.path)
            .join(leases, leases.c.task_id == task_inputs.c.task_id)
            .where(
                (task_inputs.c.hash == digest)
                & (leases.c.worker_id == worker_id)
                & (leases.c.state == LeaseState.ACTIVE.value)
            )
            .limit(1)
        ).scalar()
    return path


# ---- for the vendor SDK's task and frame calls (foxden.server.rayvision) ---------------------


def _sdk_status_where(codes: Iterable[int]) -> ColumnElement[bool]:
    """Tasks whose SDK status code is one of `codes` (400 for a code the SDK does not know)."""
    try:
        chosen = sdk_task_selection(codes)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    parts: list[ColumnElement[bool]] = []
    for status, some_done in chosen:
        condition = tasks.c.status == status.value
        if some_done is not None:
            condition &= (tasks.c.n_done > 0) if some_done else (tasks.c.n_done == 0)
        parts.append(condition)
    return or_(false(), *parts)


def set_priority(db: Database, account_id: int, task_id: int, priority: int) -> TaskOut:
    """Set a task's priority (higher is claimed first among its account's tasks; accounts share
    the farm by their shares), whatever its status: it only orders frames still waiting."""
    value = _int_in("priority", priority, -1000, 1000)
    with db.write() as conn:
        lifecycle.lock_task(conn, task_id)
        _task_row(conn, account_id, task_id)
        conn.execute(update(tasks).where(tasks.c.id == task_id).values(priority=value))
        return _record(conn, account_id, task_id)


def set_frame_timeout(
    db: Database, account_id: int, task_ids: Sequence[int], seconds: int | None
) -> None:
    """Store the time a frame of each task may render (`tasks.frame_timeout_s`; None clears it),
    for all the tasks or none: 404 names the first that is not the account's."""
    with db.write() as conn:
        for task_id in task_ids:
            _task_row(conn, account_id, task_id)
        conn.execute(
            update(tasks)
            .where(tasks.c.id.in_(list(task_ids)) & (tasks.c.account_id == account_id))
            .values(frame_timeout_s=seconds)
        )


def stop_frames(
    db: Database,
    account_id: int,
    task_id: int,
    *,
    numbers: list[int] | None = None,
    statuses: Sequence[FrameStatus] | None = None,
) -> TaskOut:
    """Stop some frames of a queued or rendering task: those numbered (400 for one the task
    lacks), else those in `statuses`; frames that cannot stop (done, failed...) stay as they are.
    A task with other frames still waiting stays queued or rendering."""
    with db.write() as conn:
        _operable_row(conn, account_id, task_id, TaskOp.STOP)
        if numbers:
            where = _restart_filter(conn, task_id, "all", numbers)
        else:
            where = lifecycle.status_filter(statuses or [FrameStatus.WAITING, FrameStatus.RUNNING])
        lifecycle.transition(conn, task_id, Event.STOP, where)
        lifecycle.revoke_idle_leases(conn, task_id, "frames were stopped")
        return _record(conn, account_id, task_id)


def frame_numbers(
    db: Database, account_id: int, task_id: int, frame_ids: Iterable[int]
) -> list[int]:
    """The numbers of the task's frames with these row ids (404 for an id not of the task)."""
    wanted = sorted(set(frame_ids))
    with db.read() as conn:
        _task_row(conn, account_id, task_id)
        rows = conn.execute(
            select(frames.c.id, frames.c.number).where(
                (frames.c.task_id == task_id) & frames.c.id.in_(wanted)
            )
        ).all()
    missing = sorted(set(wanted) - {r.id for r in rows})
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
        raise NotFound(
            f"task {task_id} has no frame with id {shown}: frame ids are the `id` of the task's "
            "frames as its frame list shows them"
        )
    return sorted(r.number for r in rows)


def frame_of(db: Database, account_id: int, frame_id: int) -> tuple[int, int]:
    """(task id, frame number) of the frame with this row id in the account's tasks (404 else)."""
    with db.read() as conn:
        row = conn.execute(
            select(frames.c.task_id, frames.c.number)
            .join(tasks, tasks.c.id == frames.c.task_id)
            .where((frames.c.id == frame_id) & (tasks.c.account_id == account_id))
        ).first()
    if row is None:
        raise NotFound(f"no frame with id {frame_id} in your account's tasks")
    return int(row.task_id), int(row.number)


def frame_page(
    db: Database,
    account_id: int,
    task_id: int,
    offset: int,
    limit: int,
    numbers: Sequence[int] | None = None,
) -> tuple[int, list[FrameOut]]:
    """(how many frames, one page of them in frame order with their outputs); `numbers` keeps
    only those frames. A page past the end is empty."""
    where = frames.c.task_id == task_id
    if numbers is not None:
        where &= frames.c.number.in_(sorted(set(numbers)))
    with db.read() as conn:
        _task_row(conn, account_id, task_id)
        total = conn.execute(select(func.count()).select_from(frames).where(where)).scalar_one()
        rows = conn.execute(
            select(*_FRAME_COLUMNS)
            .where(where)
            .order_by(frames.c.number)
            .offset(offset)
            .limit(limit)
        ).all()
        outs = _output_dicts(conn, outputs.c.frame_id.in_([r[0] for r in rows])) if rows else {}
    return int(total), _FRAMES.validate_python([_frame_dict(r, outs.get(r[0], [])) for r in rows])


def frame_totals(db: Database, account_id: int) -> dict[str, int]:
    """How many frames of the account's tasks are in each frame status."""
    with db.read() as conn:
        row = conn.execute(
            select(
                *(
                    func.coalesce(func.sum(tasks.c[f"n_{s.value}"]), 0).label(s.value)
                    for s in FrameStatus
                )
            ).where((tasks.c.account_id == account_id) & (tasks.c.status != TaskStatus.DRAFT.value))
        ).one()
    return {s.value: int(row._mapping[s.value]) for s in FrameStatus}


@dataclass(frozen=True)
class TaskExtras:
    """What a task record leaves out: seconds its frames rendered, its frame timeout."""

    render_seconds: float
    frame_timeout_s: int | None


def task_extras(db: Database, account_id: int, task_ids: Sequence[int]) -> dict[int, TaskExtras]:
    """`TaskExtras` of the account's tasks among `task_ids`: the render time of their done
    frames is what their estimates sum (`estimates.done_sums`, kept while a task's row is
    unchanged), so a page's extras cost its tasks, not their frames."""
    if not task_ids:
        return {}
    state_columns = [tasks.c[f] for f in estimates.TaskState._fields]
    with db.read() as conn:
        rows = conn.execute(
            select(*state_columns, tasks.c.frame_timeout_s).where(
                (tasks.c.account_id == account_id) & tasks.c.id.in_(sorted(set(task_ids)))
            )
        ).all()
        states = [estimates.TaskState._make(r[:-1]) for r in rows]
        sums = estimates.done_sums(conn, states)
    return {
        r.id: TaskExtras(sums[r.id][3] if r.id in sums else 0.0, r.frame_timeout_s) for r in rows
    }
