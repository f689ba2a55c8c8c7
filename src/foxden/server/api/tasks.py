"""Tasks: submit, query, operate, logs, outputs and thumbnails."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from foxden import frames as frame_spec
from foxden.core.states import TaskOp
from foxden.errors import BadRequest, NotFound
from foxden.farm import drafts, movies, tasks
from foxden.server.api.deps import AccountDep, FarmDep
from foxden.server.api.models import MovieIn, RestartIn, TaskIn
from foxden.server.api.responses import binary
from foxden.wire.api import (
    TaskConfigOut,
    TaskDeletedOut,
    TaskLineOut,
    TaskOut,
    TaskOutputOut,
    TaskPageOut,
)

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.post("", status_code=201)
def submit(body: TaskIn, farm: FarmDep, account: AccountDep) -> TaskOut:
    """Submit a task: a scene you uploaded, a project with a plugin config, and frames.

    The scene is checked first: a file that is not a scene of the project's software, or a
    camera or view layer it does not have, is refused (400, naming the choices) and no task is
    made. Frames outside the scene's range and files it uses that were never uploaded come
    back in the task's `warnings`; with `strict`, missing files are refused instead."""
    request = body.model_dump(exclude_none=True)
    return tasks.submit(
        farm.db,
        farm.store,
        account.id,
        request,
        default_chunk=farm.settings.default_chunk_size,
        default_attempts=farm.settings.max_attempts,
        webhook_box=farm.sdk_box,
    )


def task_filters(
    task_id: int | None = None,
    project_name: str | None = None,
    task_status: str | None = None,
    cg_soft_name: str | None = None,
    input_scene_path: str | None = None,
    camera: str | None = None,
    render_layer: str | None = None,
    artist: str | None = None,
    text: str | None = None,
    submit_time_from: str | None = None,
    submit_time_to: str | None = None,
    completed_time_from: str | None = None,
    completed_time_to: str | None = None,
    sort: str = "-id",
    with_frames: bool = False,
) -> dict[str, Any]:
    """The vendor's filter keys of a task listing, and its sort, as given."""
    return {k: v for k, v in locals().items() if v is not None}


FiltersDep = Annotated[dict[str, Any], Depends(task_filters)]


@router.get("", response_model=TaskPageOut)
def list_tasks(
    farm: FarmDep,
    account: AccountDep,
    filters: FiltersDep,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_no: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """Your tasks, filtered (the vendor's keys), sorted ('-submit_time', 'status', ...) and paged."""
    page = tasks.task_page(
        farm.db, account.id, {**filters, "page_size": page_size, "page_no": page_no}
    )
    return Response(page.json(), media_type="application/json")


class JsonLines(StreamingResponse):
    """A reply of JSON lines."""

    media_type = "application/x-ndjson"


@router.get(
    "/all",
    response_class=JsonLines,
    responses={
        200: {
            "model": TaskLineOut,
            "description": 'JSON lines: `{"tasks": [...]}` (up to 1,000 records a line, 20 '
            'with frames), then `{"end": n}`, the number of records sent. `X-Total-Count`: '
            "how many tasks matched.",
        }
    },
)
def all_tasks(farm: FarmDep, account: AccountDep, filters: FiltersDep) -> JsonLines:
    """Every task the filters match, in the listing's order, in one streamed reply (no pages):
    what `Fox.get_tasks()` and `Client.iter_tasks` read. A reply without its `end` line was cut
    short."""
    stream = tasks.task_stream(farm.db, account.id, filters)
    return JsonLines(stream.lines, headers={"X-Total-Count": str(stream.total)})


@router.get("/{task_id}")
def get_task(task_id: int, farm: FarmDep, account: AccountDep, frames: bool = False) -> TaskOut:
    """One task, with its frames when asked."""
    return tasks.get_task(farm.db, account.id, task_id, with_frames=frames)


@router.post("/{task_id}/stop")
def stop(task_id: int, farm: FarmDep, account: AccountDep) -> TaskOut:
    """Stop a queued or rendering task (running frames are killed within a heartbeat)."""
    return tasks.operate(farm.db, account.id, task_id, TaskOp.STOP)


@router.post("/{task_id}/resume")
def resume(task_id: int, farm: FarmDep, account: AccountDep) -> TaskOut:
    """Resume a stopped task."""
    return tasks.operate(farm.db, account.id, task_id, TaskOp.RESUME)


@router.post("/{task_id}/restart")
def restart(task_id: int, body: RestartIn, farm: FarmDep, account: AccountDep) -> TaskOut:
    """Restart failed frames, frames of a status, all frames, or the frames named."""
    numbers = None
    if body.frames is not None:
        numbers = (
            frame_spec.parse(body.frames) if isinstance(body.frames, str) else list(body.frames)
        )
    return tasks.operate(
        farm.db, account.id, task_id, TaskOp.RESTART, restart=body.restart, numbers=numbers
    )


@router.post("/{task_id}/movie", status_code=201)
def make_movie(task_id: int, body: MovieIn, farm: FarmDep, account: AccountDep) -> TaskOut:
    """Make a movie of a task's frames: a follow-up task (job type `ffmpeg`) that encodes them
    into an H.264 MP4 or a ProRes .mov at the scene's frame rate (or `fps`). It waits until a
    queued, rendering or stopped task is done; a finished task's rendered frames are encoded at
    once (409 when it has none). The movie becomes an output of the task too."""
    movie_id = movies.make(farm.db, farm.store, account.id, task_id, body.codec, body.fps)
    return tasks.get_task(farm.db, account.id, movie_id)


@router.post("/{task_id}/abort")
def abort(task_id: int, farm: FarmDep, account: AccountDep) -> TaskOut:
    """Abort a task for good: frames not done become aborted."""
    return tasks.operate(farm.db, account.id, task_id, TaskOp.ABORT)


@router.delete("/{task_id}")
def delete(task_id: int, farm: FarmDep, account: AccountDep) -> TaskDeletedOut:
    """Delete a task that is not queued or rendering (stop it first)."""
    return tasks.delete_task(farm.db, account.id, task_id)


@router.get("/{task_id}/frames/{number}/log", response_class=PlainTextResponse)
def frame_log(
    task_id: int,
    number: int,
    farm: FarmDep,
    account: AccountDep,
    attempt: Annotated[int | None, Query(ge=1)] = None,
) -> str:
    """The render log of one frame: every attempt, or only `attempt`."""
    return tasks.frame_log(farm.db, account.id, task_id, number, attempt)


@router.get(
    "/{task_id}/frames/{number}/thumbnail",
    response_class=FileResponse,
    responses=binary("The thumbnail, a PNG.", "image/png"),
)
def thumbnail(task_id: int, number: int, farm: FarmDep, account: AccountDep) -> FileResponse:
    """A small PNG of the frame's output."""
    digest = tasks.frame_thumbnail(farm.db, account.id, task_id, number)
    path = None if digest is None else farm.store.intact_path(digest)
    if path is None:
        raise NotFound(f"frame {number} of task {task_id} has no thumbnail yet")
    return FileResponse(path, media_type="image/png")


@router.get("/{task_id}/outputs")
def outputs(task_id: int, farm: FarmDep, account: AccountDep) -> list[TaskOutputOut]:
    """The task's output manifest (download each with GET /api/blobs/{hash})."""
    return tasks.task_outputs(farm.db, account.id, task_id)


_CONFIG_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file as it is (UTF-8 text).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.put("/{task_id}/configs/{name}", openapi_extra=_CONFIG_BODY)
async def put_config(
    task_id: int, name: str, request: Request, farm: FarmDep, account: AccountDep
) -> TaskConfigOut:
    """Keep a config file of your task (task.json, upload.json, asset.json or tips.json; the
    vendor SDK's upload_config): the body is the file. task.json and upload.json must be JSON;
    a task is submitted from its task.json (the SDK's submit)."""
    raw = await request.body()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"{name} is not UTF-8 text") from None
    return await run_in_threadpool(
        drafts.store_config,
        farm.db,
        account.id,
        task_id,
        name,
        content,
        limit=farm.settings.max_json_bytes,
    )


@router.get(
    "/{task_id}/configs/{name}",
    response_class=Response,
    responses=binary("The config file as it was stored.", "application/json"),
)
def get_config(task_id: int, name: str, farm: FarmDep, account: AccountDep) -> Response:
    """A config file of your task, as it was stored (404 when there is none)."""
    content = drafts.read_config(farm.db, account.id, task_id, name)
    return Response(content, media_type="application/json")
