"""How many frames a claim takes: the task's chunk size, or as many as fit its target duration.

A task submitted with `chunk_seconds` (`tasks.target_chunk_seconds`) asks for chunks that
render for about that long: a claim takes as many frames as fit the target at the mean render
time of the task's done frames (the worker's measure, else the wall time from claim to
report), at least 1 and at most the task's `chunk_size` (the cap: `MAX_ADAPTIVE_CHUNK` unless
the submitter gave one). Before any frame is done there is nothing to go by: 1 frame.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Connection, text

from foxden.core.states import FrameStatus
from foxden.errors import BadRequest


class Unread:
    """The type of `UNREAD`: a value the caller did not read (`claim_size`)."""


UNREAD = Unread()

#: the cap of an adaptive task's chunks when its submitter gave no chunk size
MAX_ADAPTIVE_CHUNK = 100

# the target of one task (a primary-key read; NULL for a task with a fixed chunk size)
_TARGET = text("SELECT target_chunk_seconds FROM tasks WHERE id = :task_id")
# the mean render time of the task's done frames (only for tasks that have a target)
_MEAN_FRAME_TIME = text(
    "SELECT AVG(COALESCE(render_time, end_time - start_time)) FROM frames "
    f"WHERE task_id = :task_id AND status = '{FrameStatus.DONE.value}' "
    "AND COALESCE(render_time, end_time - start_time) IS NOT NULL"
)


def fitting(target_seconds: float, mean_seconds: float | None, cap: int) -> int:
    """How many frames of `mean_seconds` fit `target_seconds`, within 1 .. `cap` (1 while no
    frame time is known)."""
    if mean_seconds is None or cap <= 1:
        return 1
    if mean_seconds <= 0:
        return cap
    fit = math.floor(target_seconds / mean_seconds + 1e-9)
    return max(1, min(cap, fit))


def claim_size(
    conn: Connection,
    task_id: int,
    chunk_size: int,
    max_frames: int | None = None,
    target: float | Unread | None = UNREAD,
) -> int:
    """The number of frames a claim of `task_id` takes now (the worker's `max_frames` caps it).

    `target` is the task's `target_chunk_seconds` when the caller read it already (the claim's
    candidate query does), else it is read here."""
    cap = chunk_size if max_frames is None else min(chunk_size, max_frames)
    if isinstance(target, Unread):
        target = conn.execute(_TARGET, {"task_id": task_id}).scalar()
    if target is None or cap <= 1:
        return max(1, cap)
    mean = conn.execute(_MEAN_FRAME_TIME, {"task_id": task_id}).scalar()
    return fitting(float(target), None if mean is None else float(mean), cap)


MAX_TARGET_SECONDS = 7 * 24 * 3600


def submit_values(request: dict[str, Any]) -> dict[str, Any]:
    """The task row's adaptive chunking from a submit request: `chunk_seconds` (seconds a chunk
    should render; 0 or null: none) as `target_chunk_seconds`, and, when the request gives no
    `chunk_size`, the cap `MAX_ADAPTIVE_CHUNK` as its chunk size (400 for a bad value)."""
    value = request.get("chunk_seconds")
    if value is None:
        return {}
    try:
        target = float(value)
    except (TypeError, ValueError):
        target = math.nan
    if isinstance(value, bool) or not 0 <= target <= MAX_TARGET_SECONDS:
        raise BadRequest(
            f"chunk_seconds must be a number of seconds from 0 to {MAX_TARGET_SECONDS} (how long "
            f"one worker's chunk of frames should render; 0: use chunk_size), not {value!r}"
        )
    if target == 0:
        return {}
    values: dict[str, Any] = {"target_chunk_seconds": target}
    if request.get("chunk_size") is None:
        values["chunk_size"] = MAX_ADAPTIVE_CHUNK
    return values
