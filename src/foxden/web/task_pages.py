"""Tasks: the filtered list, one task with its frames, frame logs, operations, downloads."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from foxden import frames as frame_spec
from foxden.core.states import SETTLED, FrameStatus, TaskOp, TaskStatus, check_task_op
from foxden.errors import BadRequest, Conflict, FoxdenError, NotFound
from foxden.farm import movies, projects, task_policy, tasks
from foxden.farm.accounts import Account
from foxden.server.api.worker_routes import failure_policy
from foxden.web import progress
from foxden.web.auth import PageAccount, web_state
from foxden.web.outputs import member_name, zip_stream
from foxden.web.page import CheckedForm, PageRoute, field
from foxden.web.templating import SECURITY_HEADERS, redirect, render, size_text
from foxden.wire.api import TaskOut, TaskOutputOut, TaskPageOut

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 50
#: frame cards on one page of a task's frames (and in its live update)
FRAME_PAGE = 100
FILTERS = ("project_name", "task_status", "text")
OPS = {"stop": TaskOp.STOP, "resume": TaskOp.RESUME, "abort": TaskOp.ABORT}


def allowed_statuses(op: TaskOp) -> list[str]:
    """The task statuses in which `op` is allowed (for enabling buttons, also live)."""
    allowed = []
    for status in TaskStatus:
        try:
            check_task_op(op, status)
        except Conflict:
            continue
        allowed.append(status.value)
    return allowed


def _json(content: object) -> JSONResponse:
    """A reply for the page's script (never cached)."""
    return JSONResponse(content, headers=SECURITY_HEADERS)


def _listed(
    request: Request, account: Account
) -> tuple[dict[str, str], int, TaskPageOut, dict[int, str], str | None]:
    """The filters chosen, the page number, the tasks found, their ETAs, and an error."""
    farm = web_state(request).farm
    chosen = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    try:
        page = max(1, int(request.query_params.get("page_no", "1")))
    except ValueError:
        page = 1
    query = {k: v for k, v in chosen.items() if v}
    error = None
    try:
        found = tasks.list_tasks(
            farm.db, account.id, {**query, "page_no": page, "page_size": PAGE_SIZE}
        )
    except BadRequest as exc:
        found = TaskPageOut(total=0, page_no=page, page_size=PAGE_SIZE, items=[])
        error = exc.message
    etas = {t.id: progress.eta_text(t.eta_seconds) for t in found.items}
    return chosen, page, found, etas, error


@router.get("/tasks")
def task_list(request: Request, account: PageAccount) -> Response:
    """Your tasks, filtered by project, status and text, with live progress and ETAs."""
    farm = web_state(request).farm
    chosen, page, found, etas, error = _listed(request, account)
    query = {k: v for k, v in chosen.items() if v}
    pages = max(1, -(-found.total // PAGE_SIZE))
    return render(
        request,
        "tasks.html",
        account=account,
        title="Tasks",
        error=error,
        tasks=found.items,
        etas=etas,
        core_hours_text=progress.core_hours_text,
        total=found.total,
        page=page,
        pages=pages,
        chosen=chosen,
        query=urlencode({**query, "page_no": page}),
        link=lambda n: "/tasks?" + urlencode({**query, "page_no": n}),
        projects=[p.project_name for p in projects.list_projects(farm.db, account.id)],
        statuses=[s.value for s in TaskStatus if s is not TaskStatus.DRAFT],
    )


@router.get("/tasks/live")
def task_list_live(request: Request, account: PageAccount) -> Response:
    """The task list's live update (the same filters): each task's record and ETA."""
    _chosen, _page, found, etas, error = _listed(request, account)
    items = [
        {
            **t.model_dump(mode="json"),
            "eta": etas[t.id],
            "core_hours_text": progress.core_hours_text(t.core_hours),
        }
        for t in found.items
    ]
    return _json({"total": found.total, "items": items, "error": error})


MOVIE_SUFFIXES = (".mp4", ".mov")  # outputs the task page plays


def _task_url(task_id: int) -> str:
    return f"/tasks/{task_id}"


def _output_url(task_id: int, path: str) -> str:
    return f"/tasks/{task_id}/outputs/{quote(path, safe='/')}"


@dataclass(frozen=True)
class _TaskView:
    """What the task page shows: the task, one page of its frame cards and their outputs (with
    the task's own, a movie), its failure summary and ETA."""

    task: TaskOut
    frames: list[progress.FrameView]
    frames_page: int  # 1-based
    frames_pages: int
    outputs: list[TaskOutputOut]
    outputs_total: int  # outputs of all its frames
    eta: str
    core_hours: str

    @property
    def first_frame(self) -> int | None:
        """The number of the first frame shown (None for a page without frames)."""
        return self.frames[0].number if self.frames else None

    @property
    def last_frame(self) -> int | None:
        """The number of the last frame shown."""
        return self.frames[-1].number if self.frames else None


def _frames_page(request: Request) -> int:
    """The page of frames asked for (`frames_page`, from 1; anything else is page 1)."""
    text = request.query_params.get("frames_page", "1")
    return max(1, int(text)) if text.isdigit() else 1


def _task_view(request: Request, account: Account, task_id: int) -> _TaskView:
    """The task and one page of its frames: a task page and its live update cost a page of
    frames, whatever the task's size."""
    farm = web_state(request).farm
    task = tasks.get_task(farm.db, account.id, task_id)
    pages = max(1, -(-task.frame_count // FRAME_PAGE))
    page = min(_frames_page(request), pages)
    _total, shown = tasks.frame_page(
        farm.db, account.id, task_id, (page - 1) * FRAME_PAGE, FRAME_PAGE
    )
    first = shown[0].number if shown else 0
    last = shown[-1].number if shown else -1
    outputs_total, outputs = tasks.page_outputs(farm.db, account.id, task_id, first, last)
    return _TaskView(
        task=task,
        frames=progress.frame_views(farm.db, shown),
        frames_page=page,
        frames_pages=pages,
        outputs=outputs,
        outputs_total=outputs_total,
        eta=progress.eta_text(task.eta_seconds),
        core_hours=progress.core_hours_text(task.core_hours),
    )


@router.get("/tasks/{task_id}")
def task_page(task_id: int, request: Request, account: PageAccount) -> Response:
    """One task: status, failure summary, warnings, a page of its frames as a grid, actions and
    outputs."""
    view = _task_view(request, account, task_id)
    farm = web_state(request).farm
    return render(
        request,
        "task.html",
        account=account,
        title=f"Task {task_id}",
        task=view.task,
        view=view,
        frames=view.frames,
        outputs=view.outputs,
        summary=view.task.failure_summary,
        eta=view.eta,
        core_hours=view.core_hours,
        fps=progress.fps(view.task),
        ops={op.value: allowed_statuses(op) for op in TaskOp},
        frame_statuses=[s.value for s in FrameStatus],
        settled=sorted(s.value for s in SETTLED),
        output_url=lambda p: _output_url(task_id, p),
        frames_link=lambda n: f"{_task_url(task_id)}?{urlencode({'frames_page': n})}#frames-h",
        movies=[o for o in view.outputs if o.path.lower().endswith(MOVIE_SUFFIXES)],
        policy=task_policy.task_policy(farm.db, account.id, task_id, failure_policy(farm)),
    )


@router.get("/tasks/{task_id}/live")
def task_live(task_id: int, request: Request, account: PageAccount) -> Response:
    """The task page's live update: the task, the cards of one page of its frames
    (`frames_page`) and their outputs, summary and ETA."""
    view = _task_view(request, account, task_id)
    return _json(
        {
            "task": view.task.model_dump(mode="json", exclude={"frames_detail"}),
            "frames_page": view.frames_page,
            "frames_pages": view.frames_pages,
            "frames": [card.json() for card in view.frames],
            "outputs": [
                {
                    "path": o.path,
                    "url": _output_url(task_id, o.path),
                    "size": size_text(o.size),
                    "frame": o.frame,
                }
                for o in view.outputs
            ],
            "outputs_total": view.outputs_total,
            "summary": view.task.failure_summary,
            "eta": view.eta,
            "core_hours": view.core_hours,
        }
    )


@router.post("/tasks/{task_id}/restart")
def restart(task_id: int, request: Request, account: PageAccount, form: CheckedForm) -> Response:
    """Restart the failed frames, or the frames chosen (ticked, or written as a frame spec)."""
    farm = web_state(request).farm
    numbers: list[int] = []
    for value in form.getlist("frame"):
        if isinstance(value, str) and value.strip().isdigit():
            numbers.append(int(value))
    spec = field(form, "frames")
    try:
        if spec:
            numbers.extend(frame_spec.parse(spec))
        if field(form, "restart") == "chosen" and not numbers:
            raise BadRequest("Tick the frames to restart, or write them (such as 1-5,8).")
        if numbers:
            tasks.operate(
                farm.db, account.id, task_id, TaskOp.RESTART, numbers=sorted(set(numbers))
            )
            note = f"Restarted frame(s) {frame_spec.format(sorted(set(numbers)))}."
        else:
            kind = field(form, "restart") or "failed"
            tasks.operate(farm.db, account.id, task_id, TaskOp.RESTART, restart=kind)
            note = f"Restarted the {kind} frames."
    except NotFound:
        raise
    except FoxdenError as exc:
        return redirect(request, _task_url(task_id), error=exc.message)
    return redirect(request, _task_url(task_id), note)


@router.post("/tasks/{task_id}/delete")
def delete(task_id: int, request: Request, account: PageAccount, _form: CheckedForm) -> Response:
    """Delete a task that is not queued or rendering."""
    try:
        tasks.delete_task(web_state(request).farm.db, account.id, task_id)
    except Conflict as exc:
        return redirect(request, _task_url(task_id), error=exc.message)
    return redirect(request, "/tasks", f"Task {task_id} deleted.")


@router.post("/tasks/{task_id}/movie")
def make_movie(task_id: int, request: Request, account: PageAccount, form: CheckedForm) -> Response:
    """Make a movie: a movie task of the task's frames, which waits until they are done."""
    farm = web_state(request).farm
    try:
        movie_id = movies.make(
            farm.db, farm.store, account.id, task_id, field(form, "codec") or "h264"
        )
        movie = tasks.get_task(farm.db, account.id, movie_id)
    except NotFound:
        raise
    except FoxdenError as exc:
        return redirect(request, _task_url(task_id), error=exc.message)
    spec = movie.options.get("movie") or {}
    when = "now" if "pattern" in spec else "once the frames are done"
    return redirect(
        request,
        _task_url(task_id),
        f"Task {movie.id} makes the movie {when}; it plays here when it is ready.",
    )


@router.post("/tasks/{task_id}/{op}")
def operate(
    task_id: int, op: str, request: Request, account: PageAccount, _form: CheckedForm
) -> Response:
    """Stop, resume or abort a task."""
    if op not in OPS:
        raise NotFound(f"no action {op!r} for tasks")
    try:
        tasks.operate(web_state(request).farm.db, account.id, task_id, OPS[op])
    except Conflict as exc:
        return redirect(request, _task_url(task_id), error=exc.message)
    past = {"stop": "stopped", "resume": "resumed", "abort": "aborted"}[op]
    return redirect(request, _task_url(task_id), f"Task {task_id} {past}.")


@router.get("/tasks/{task_id}/frames/{number}/log")
def frame_log(task_id: int, number: int, request: Request, account: PageAccount) -> Response:
    """The log of one frame, every attempt."""
    text = tasks.frame_log(web_state(request).farm.db, account.id, task_id, number)
    return render(
        request,
        "frame_log.html",
        account=account,
        title=f"Task {task_id}, frame {number}",
        task_id=task_id,
        number=number,
        log=text,
    )


def _outputs(
    request: Request, account_id: int, task_id: int
) -> tuple[TaskOut, list[TaskOutputOut]]:
    farm = web_state(request).farm
    return tasks.get_task(farm.db, account_id, task_id), tasks.task_outputs(
        farm.db, account_id, task_id
    )


@router.get("/tasks/{task_id}/outputs.zip")
def outputs_zip(task_id: int, request: Request, account: PageAccount) -> StreamingResponse:
    """Every output of the task as one zip, streamed."""
    task, items = _outputs(request, account.id, task_id)
    name = member_name(task.output_folder or f"task_{task_id}").replace("/", "_") + ".zip"
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    return StreamingResponse(
        zip_stream(web_state(request).farm.store, items),
        media_type="application/zip",
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


@router.get("/tasks/{task_id}/outputs/{path:path}")
def output_file(task_id: int, path: str, request: Request, account: PageAccount) -> FileResponse:
    """One output of the task, under its own name."""
    _task, items = _outputs(request, account.id, task_id)
    store = web_state(request).farm.store
    for item in items:
        found = store.intact_path(item.hash) if item.path == path else None
        if found is not None:
            return FileResponse(
                found,
                filename=path.rsplit("/", 1)[-1],
                headers={"Cache-Control": "no-store"},
            )
    raise NotFound(f"task {task_id} has no output {path}")
