"""What the task pages compute: ETA and core-hour texts, wall times beside render times, frame rates
(a task's failure summary is the farm's own, `TaskOut.failure_summary`: tests/web/test_task_frames.py)."""

from __future__ import annotations

from typing import Any

from foxden.web import progress
from foxden.wire.api import FrameOut, FrameOutput, TaskOut


def _task(status: str = "rendering", **counts: int) -> TaskOut:
    full = {"waiting": 0, "running": 0, "done": 0, "failed": 0, "stopped": 0, "aborted": 0}
    full.update(counts)
    values: dict[str, Any] = {
        "id": 1,
        "project_name": "p",
        "status": status,
        "frames": "1-10",
        "frame_count": 10,
        "counts": full,
        "progress": 0.0,
        "cg_soft_name": "blender 3.4",
        "plugin_name": "",
        "job_type": "blender",
        "scene_path": "/v/p/a.blend",
        "render_layer": "",
        "camera": "",
        "artist": "",
        "options": {},
        "warnings": [],
        "priority": 0,
        "chunk_size": 1,
        "max_attempts": 3,
        "output_folder": "1_a",
        "submit_account": "alice",
        "submit_time": 0.0,
        "start_time": None,
        "completed_time": None,
    }
    return TaskOut(**values)


def _frame(number: int, status: str, **kw: Any) -> FrameOut:
    values: dict[str, Any] = {
        "id": number,
        "number": number,
        "status": status,
        "attempts": 1,
        "progress": 0.0,
        "worker_id": None,
        "start_time": None,
        "end_time": None,
        "render_time": None,
        "error": "",
        "outputs": [],
    }
    values.update(kw)
    return FrameOut(**values)


def test_the_pages_show_the_task_s_estimates_as_text() -> None:
    # the rule is foxden.farm.estimates' (tests/farm/test_estimates.py); the pages word it
    assert progress.eta_text(25.0) == "about 25.0 s"
    assert progress.eta_text(125.0) == "about 2 min 05 s"
    assert progress.eta_text(None) == "—"
    assert progress.core_hours_text(1.254) == "about 1.25 core-h"
    assert progress.core_hours_text(1234.4) == "about 1,234 core-h"
    assert progress.core_hours_text(0.001) == "under 0.01 core-h"
    assert progress.core_hours_text(None) == "—"


def test_times_show_wall_time_with_the_render_time_beside_it() -> None:
    done = _frame(1, "done", start_time=100.0, end_time=103.0, render_time=0.5)
    assert progress.time_text(done, now=200.0) == "3.0 s (render 0.5 s)"
    running = _frame(2, "running", start_time=190.0)
    assert progress.time_text(running, now=200.0) == "10.0 s so far"
    assert progress.time_text(_frame(3, "waiting"), now=200.0) == "—"
    slow = _frame(4, "done", start_time=0.0, end_time=125.0, render_time=120.0)
    assert progress.time_text(slow, now=200.0) == "2 min 05 s (render 2 min 00 s)"


def test_a_frame_card_names_its_worker_and_why_it_failed() -> None:
    failed = _frame(
        3, "failed", worker_id=7, error="camera 'CamC' not found", advice="Pick a camera."
    )
    card = progress.frame_view(failed, {7: "node-a"}, now=0.0)
    assert (card.worker, card.reason, card.advice) == (
        "node-a",
        "camera 'CamC' not found",
        "Pick a camera.",
    )
    running = _frame(4, "running", worker_id=7, progress=0.42, start_time=0.0)
    card = progress.frame_view(running, {7: "node-a"}, now=1.0)
    assert (card.progress, card.worker, card.reason) == (42, "node-a", "")
    exr = _frame(
        5, "done", outputs=[FrameOutput(path="1_a/f.exr", hash="h", size=1, thumb_hash="t")]
    )
    png = _frame(
        6, "done", outputs=[FrameOutput(path="1_a/f.PNG", hash="h", size=1, thumb_hash="t")]
    )
    assert not progress.frame_view(exr, {}, 0.0).viewable
    assert progress.frame_view(png, {}, 0.0).viewable


def test_the_flipbook_plays_at_the_scenes_rate_else_24() -> None:
    def rate(options: dict[str, Any]) -> float:
        return progress.fps(_task().model_copy(update={"options": options}))

    assert rate({}) == 24.0
    assert rate({"scene_info": {"fps": 25}}) == 25.0
    assert rate({"fps": 30.0, "scene_info": {"fps": 25}}) == 30.0
    assert rate({"fps": "fast", "scene_info": {"fps": -1}}) == 24.0
