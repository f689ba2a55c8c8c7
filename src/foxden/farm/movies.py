"""Movies of a task's frames: a follow-up task of job type `ffmpeg` (`foxden.jobtypes.ffmpeg`).

A movie is asked for at submit (``movie: true``, or ``"prores"``) or later ("Make a movie":
`make`). Either way a movie task is made for the render task's account and project, with one
frame, software ``ffmpeg`` (any worker that finds ffmpeg on its PATH), and a dependency on the
render task (`foxden.farm.dependencies`): it waits until the render task is done. Then
`task_done` (which `foxden.farm.lifecycle` calls when a task becomes done, in that transaction)
gives it the render task's frames as inputs (blobs the account owns: the render task's outputs,
one numbered sequence under ``/frames``) and how to encode them (its `options["movie"]`). When
the movie task is done, its movie also becomes an output of the render task (frame: none), so it
is downloaded like the frames and played on the task's page.

The frame rate is the one asked for, else the render task's (``fps`` in its options or scene
info), else the Blender scene's own, else 24.
"""

from __future__ import annotations

import logging
import time
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from foxden.core.states import FrameStatus, TaskStatus
from foxden.db.engine import Database, new_id
from foxden.db.schema import frames, outputs, task_dependencies, task_inputs, tasks
from foxden.errors import BadRequest, Conflict, NotFound
from foxden.farm import dependencies
from foxden.jobtypes import ffmpeg
from foxden.store.blobs import BlobStore

log = logging.getLogger("foxden.movies")

JOB_TYPE = "ffmpeg"
FRAMES_DIR = "/frames"
#: statuses in which a render task may still finish: its movie waits for it
_WAITS = (TaskStatus.QUEUED.value, TaskStatus.RENDERING.value, TaskStatus.STOPPED.value)


def asked(options: dict[str, Any]) -> tuple[str, float | None] | None:
    """The codec and frame rate of the movie a submission asks for with its `movie` option
    (true, "h264", "prores", or {"codec": ..., "fps": ...}); None when it asks for none."""
    value = options.get("movie")
    if value in (None, False, "", 0, "false", "no", "0"):
        return None
    if isinstance(value, dict):
        fps = value.get("fps")
        if fps is not None and ffmpeg.fps_of(fps) is None:
            raise BadRequest(f"a movie's fps is a number above 0 and at most 240, not {fps!r}")
        return ffmpeg.codec_of(value.get("codec")), ffmpeg.fps_of(fps)
    return ffmpeg.codec_of(value), None


def follow_up(
    conn: Connection,
    store: BlobStore | None,
    account_id: int,
    task_id: int,
    options: dict[str, Any],
) -> int | None:
    """At submit (in its transaction): the movie task of a new render task that asked for one
    (its id; None when it asked for none). The render task's `options["movie"]` then names it:
    ``{"codec": "h264", "task_id": 13}``."""
    wanted = asked(options)
    if wanted is None:
        return None
    codec, fps = wanted
    source = conn.execute(select(tasks).where(tasks.c.id == task_id)).one()
    movie_id = _create(conn, store, source, codec, fps)
    linked = {**source.options, "movie": {"codec": codec, "task_id": movie_id}}
    conn.execute(update(tasks).where(tasks.c.id == task_id).values(options=linked))
    return movie_id


def make(
    db: Database,
    store: BlobStore | None,
    account_id: int,
    task_id: int,
    codec: str = "h264",
    fps: float | None = None,
) -> int:
    """Make a movie of one of the account's tasks (404 for anyone else's): the id of a movie
    task that waits for the task when it is still queued, rendering or stopped, and encodes the
    frames it has rendered at once when it is done, failed or aborted (409 when it rendered
    none)."""
    chosen = ffmpeg.codec_of(codec)
    if fps is not None and ffmpeg.fps_of(fps) is None:
        raise BadRequest(f"a movie's fps is a number above 0 and at most 240, not {fps!r}")
    with db.write() as conn:
        # the task's row locked (PostgreSQL; SQLite has one writer), as `lifecycle.lock_task`
        # does: the task cannot become done between this look and the dependency on it
        source = conn.execute(
            select(tasks)
            .where((tasks.c.id == task_id) & (tasks.c.account_id == account_id))
            .with_for_update()
        ).first()
        if source is None or source.status == TaskStatus.DRAFT.value:
            raise NotFound(f"no task {task_id} in your account")
        if source.job_type == JOB_TYPE:
            raise BadRequest(f"task {task_id} is a movie already: make a movie of its render task")
        if source.status not in _WAITS and not source.n_done:
            raise Conflict(
                f"task {task_id} is {source.status} with no frame rendered: there is nothing to "
                "make a movie of (restart its frames first)"
            )
        return _create(conn, store, source, chosen, fps)


def _create(
    conn: Connection, store: BlobStore | None, source: Any, codec: str, fps: float | None
) -> int:
    """Insert the movie task of `source` (queued, one frame waiting); it depends on `source`
    unless `source` can no longer finish, and gets its frames now when `source` has them."""
    stem = PurePosixPath(source.scene_path).stem or "movie"
    spec = {
        "of_task": source.id,
        "codec": codec,
        "fps": fps or _scene_fps(conn, store, source),
        "name": stem + ffmpeg.CODECS[codec],
    }
    values: dict[str, Any] = {
        "account_id": source.account_id,
        "project_id": source.project_id,
        "project_name": source.project_name,
        "cg_soft_name": JOB_TYPE,
        "plugin_name": "",
        "job_type": JOB_TYPE,
        "software_key": JOB_TYPE,
        "scene_path": source.scene_path,
        "frames_spec": str(ffmpeg.MOVIE_FRAME),
        "render_layer": "",
        "camera": "",
        "artist": source.artist,
        "options": {"movie": spec},
        "warnings": [],
        "priority": source.priority,
        "chunk_size": 1,
        "max_attempts": source.max_attempts,
        "output_folder": "",
        "status": TaskStatus.QUEUED.value,
        "frame_count": 1,
        "n_waiting": 1,
        "submit_time": time.time(),
    }
    movie_id = new_id(conn.execute(insert(tasks).values(**values)))
    conn.execute(
        update(tasks).where(tasks.c.id == movie_id).values(output_folder=f"{movie_id}_{stem}_movie")
    )
    conn.execute(
        insert(frames).values(
            task_id=movie_id,
            number=ffmpeg.MOVIE_FRAME,
            status=FrameStatus.WAITING.value,
            attempts=0,
            progress=0.0,
            error="",
        )
    )
    if source.status in _WAITS or source.status == TaskStatus.DONE.value:
        dependencies.record(conn, movie_id, [source.id])
    if source.status not in _WAITS:
        _give_frames(conn, movie_id, source.id)
    log.info("movie task %d of task %d (%s)", movie_id, source.id, codec, extra={"event": "movie"})
    return movie_id


def _scene_fps(conn: Connection, store: BlobStore | None, source: Any) -> float:
    """The render task's frame rate: its options' or scene info's `fps`, else its Blender
    scene's own, else 24."""
    options = source.options or {}
    info = options.get("scene_info")
    for where in (options, info if isinstance(info, dict) else {}):
        fps = ffmpeg.fps_of(where.get("fps"))
        if fps is not None:
            return fps
    if source.job_type == "blender" and store is not None:
        digest = conn.execute(
            select(task_inputs.c.hash).where(
                (task_inputs.c.task_id == source.id) & (task_inputs.c.path == source.scene_path)
            )
        ).scalar()
        if digest is not None:
            from foxden.jobtypes.blender import scene_settings

            try:
                found = ffmpeg.fps_of(getattr(scene_settings(store.path(digest)), "fps", None))
            except (ValueError, OSError):
                found = None
            if found is not None:
                return found
    return ffmpeg.DEFAULT_FPS


def task_done(conn: Connection, task_id: int) -> None:
    """`task_id` became done (in the transaction that made it so): a movie task's movie becomes
    an output of the task it was made of; movie tasks waiting for it get its frames (again,
    when it was restarted and done again: a movie that failed then can be restarted)."""
    row = conn.execute(select(tasks.c.job_type, tasks.c.options).where(tasks.c.id == task_id)).one()
    if row.job_type == JOB_TYPE:
        _publish(conn, task_id, row.options or {})
        return
    waiting = conn.execute(
        select(tasks.c.id)
        .join(task_dependencies, task_dependencies.c.task_id == tasks.c.id)
        .where(
            (task_dependencies.c.depends_on == task_id)
            & (tasks.c.job_type == JOB_TYPE)
            & tasks.c.status.not_in([TaskStatus.DONE.value, TaskStatus.ABORTED.value])
        )
    ).scalars()
    for movie_id in list(waiting):
        _give_frames(conn, movie_id, task_id)


def _give_frames(conn: Connection, movie_id: int, source_id: int) -> None:
    """The movie task's inputs: the longest numbered image sequence among the source task's
    frame outputs, one file a frame in frame order, under FRAMES_DIR; and how to encode it."""
    rows = conn.execute(
        select(outputs.c.path, outputs.c.hash, outputs.c.size, frames.c.number)
        .join(frames, frames.c.id == outputs.c.frame_id)
        .where((outputs.c.task_id == source_id) & (frames.c.status == FrameStatus.DONE.value))
        .order_by(frames.c.number, outputs.c.path)
    ).all()
    spec = dict(conn.execute(select(tasks.c.options).where(tasks.c.id == movie_id)).scalar_one())
    movie = {
        k: v
        for k, v in dict(spec.get("movie") or {}).items()
        if k not in ("frames_dir", "pattern", "start", "count", "problem")
    }
    conn.execute(delete(task_inputs).where(task_inputs.c.task_id == movie_id))
    chosen = longest_sequence([(r.number, r.path) for r in rows])
    try:
        sequence = ffmpeg.sequence_pattern([path for _n, path in chosen])
    except ValueError as exc:
        movie["problem"] = f"task {source_id} has no frames to make a movie of: {exc}"
    else:
        by_path = {r.path: r for r in rows}
        conn.execute(
            insert(task_inputs),
            [
                {
                    "task_id": movie_id,
                    "path": f"{FRAMES_DIR}/{name}",
                    "hash": by_path[path].hash,
                    "size": by_path[path].size,
                }
                for (_n, path), name in zip(chosen, sequence.names, strict=True)
            ],
        )
        movie.update(
            frames_dir=FRAMES_DIR,
            pattern=sequence.pattern,
            start=sequence.start,
            count=sequence.count,
        )
    changed: dict[str, Any] = {"options": {"movie": movie}}
    tried = conn.execute(
        select(frames.c.attempts).where(frames.c.task_id == movie_id).limit(1)
    ).scalar()
    if tried:
        # a movie task that ran before (and failed): a new submit time makes the workers'
        # payload cache (`farm.caches`, keyed by it) forget the inputs it had then
        changed["submit_time"] = time.time()
    conn.execute(update(tasks).where(tasks.c.id == movie_id).values(**changed))


def longest_sequence(items: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Of (frame number, output path) pairs, the frames of the one image sequence with the most
    frames (outputs named alike but for the frame number: `shot_0001.png`), one output a frame,
    in frame order; the first by name on a tie. Empty when no output is a numbered image."""
    groups: dict[tuple[str, str, str], dict[int, str]] = {}
    for number, path in items:
        posix = PurePosixPath(path)
        match = ffmpeg.NUMBERED.match(posix.name)
        if match is None or match["tail"].lower() not in ffmpeg.IMAGE_SUFFIXES:
            continue
        key = (str(posix.parent), match["head"], match["tail"])
        groups.setdefault(key, {}).setdefault(number, path)
    if not groups:
        return []
    best = min(groups, key=lambda k: (-len(groups[k]), k))
    return sorted(groups[best].items())


def _publish(conn: Connection, movie_id: int, options: dict[str, Any]) -> None:
    """A movie task's outputs become outputs of the task it was made of too."""
    source_id = (options.get("movie") or {}).get("of_task")
    if not isinstance(source_id, int):
        return
    folder = conn.execute(select(tasks.c.output_folder).where(tasks.c.id == source_id)).scalar()
    if folder is None:
        return  # the render task was deleted meanwhile
    made = conn.execute(
        select(outputs.c.path, outputs.c.hash, outputs.c.size).where(outputs.c.task_id == movie_id)
    ).all()
    now = time.time()
    for out in made:
        path = f"{folder}/{PurePosixPath(out.path).name}"
        conn.execute(
            delete(outputs).where((outputs.c.task_id == source_id) & (outputs.c.path == path))
        )
        conn.execute(
            insert(outputs).values(
                task_id=source_id,
                frame_id=None,
                path=path,
                hash=out.hash,
                size=out.size,
                thumb_hash=None,
                created_at=now,
            )
        )


def movies_of(conn: Connection, task_id: int) -> list[int]:
    """The movie tasks made of `task_id`, oldest first."""
    ids = conn.execute(
        select(tasks.c.id)
        .join(task_dependencies, task_dependencies.c.task_id == tasks.c.id)
        .where((task_dependencies.c.depends_on == task_id) & (tasks.c.job_type == JOB_TYPE))
        .order_by(tasks.c.id)
    ).scalars()
    return list(ids)
