"""What the task pages show beyond the API's records: frames' wall times, their workers' names,
failure reasons, the task's estimates as text, and the scene's frame rate for the flipbook."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select

from foxden.core.states import FrameStatus
from foxden.db.engine import Database
from foxden.db.schema import workers
from foxden.wire.api import FrameOut, TaskOut

DEFAULT_FPS = 24.0
#: outputs a browser shows as they are; others (EXR, ...) are shown by their thumbnail
VIEWABLE = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})


def duration(seconds: float | None) -> str:
    """`3.1 s`, `2 min 05 s`, `1 h 02 min`; '' when unknown."""
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def eta_text(seconds: float | None) -> str:
    """An ETA as the pages show it: 'about 2 min 05 s', or '—' when unknown (a task's
    `eta_seconds`: `foxden.farm.estimates` has the rule)."""
    return "—" if seconds is None else f"about {duration(seconds)}"


def core_hours_text(hours: float | None) -> str:
    """A task's core-hours as the pages show them: 'about 1.25 core-h', or '—' when unknown."""
    if hours is None:
        return "—"
    if hours < 0.01:
        return "under 0.01 core-h"
    return f"about {hours:.2f} core-h" if hours < 10 else f"about {hours:,.0f} core-h"


def worker_names(db: Database, ids: Sequence[int | None]) -> dict[int, str]:
    """The names of the workers among `ids`."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    with db.read() as conn:
        rows = conn.execute(select(workers.c.id, workers.c.name).where(workers.c.id.in_(wanted)))
        return {r.id: r.name for r in rows}


@dataclass(frozen=True)
class FrameView:
    """One frame card of the task page (and its live update)."""

    number: int
    status: str
    attempts: int
    progress: int  # percent
    worker: str
    time: str  # wall time, with the renderer's own render time beside it
    reason: str  # why it failed ('' when it did not)
    advice: str
    output: str  # path of its first output, '' when none
    thumb: str  # thumbnail hash, '' when none
    viewable: bool  # the browser can show the output itself

    def json(self) -> dict[str, Any]:
        """The card as the page's script reads it."""
        return asdict(self)


def time_text(frame: FrameOut, now: float) -> str:
    """'3.1 s (render 0.5 s)': the frame's wall time (end - start) and the renderer's own time;
    a running frame's time so far."""
    if frame.status == FrameStatus.RUNNING and frame.start_time is not None:
        return f"{duration(now - frame.start_time)} so far"
    if frame.start_time is None or frame.end_time is None:
        return duration(frame.render_time) or "—"
    wall = duration(frame.end_time - frame.start_time)
    if frame.render_time is None:
        return wall
    return f"{wall} (render {duration(frame.render_time)})"


def frame_view(frame: FrameOut, names: dict[int, str], now: float) -> FrameView:
    """The card of `frame`: workers' names from `names`."""
    first = frame.outputs[0] if frame.outputs else None
    failed = frame.status == FrameStatus.FAILED or (
        frame.status == FrameStatus.WAITING and frame.attempts > 0
    )
    running = frame.status == FrameStatus.RUNNING
    return FrameView(
        number=frame.number,
        status=frame.status,
        attempts=frame.attempts,
        progress=round(frame.progress * 100) if running else 0,
        worker=names.get(frame.worker_id, "") if frame.worker_id is not None else "",
        time=time_text(frame, now),
        reason=frame.error if failed else "",
        advice=frame.advice if failed and frame.error else "",
        output=first.path if first else "",
        thumb=(first.thumb_hash or "") if first else "",
        viewable=bool(first and PurePosixPath(first.path).suffix.lower() in VIEWABLE),
    )


def frame_views(
    db: Database, frames: Sequence[FrameOut], now: float | None = None
) -> list[FrameView]:
    """The cards of `frames` (one page of a task's frames)."""
    names = worker_names(db, [f.worker_id for f in frames])
    when = time.time() if now is None else now
    return [frame_view(f, names, when) for f in frames]


def fps(task: TaskOut) -> float:
    """The scene's frame rate when the task says it (its options or scene info), else 24."""
    options = task.options or {}
    info = options.get("scene_info")
    for source in (options, info if isinstance(info, dict) else {}):
        value = source.get("fps")
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 240:
            return float(value)
    return DEFAULT_FPS
