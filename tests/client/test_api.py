"""`Client.wait`, the one wait loop: progress, a finished task, a stopped one, a timeout."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from foxden.client.api import Client
from foxden.client.records import Task
from foxden.errors import Conflict, WaitTimeout


def _farm(statuses: list[str], asked: list[str]) -> Client:
    """A client of a farm whose task 7 goes through `statuses` (the last one stays)."""

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url.params.get("frames")))
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        body: dict[str, Any] = {  # every field of a task, as the server sends it
            "id": 7,
            "project_name": "p",
            "status": status,
            "frames": "1",
            "frame_count": 1,
            "counts": {"waiting": 0, "running": 0, "done": 1 if status == "done" else 0},
            "progress": 1.0 if status == "done" else 0.0,
            "cg_soft_name": "blender 3.4",
            "plugin_name": "",
            "job_type": "blender",
            "scene_path": "/v/s.blend",
            "render_layer": "",
            "camera": "",
            "artist": "",
            "options": {},
            "warnings": [],
            "priority": 0,
            "chunk_size": 1,
            "max_attempts": 3,
            "output_folder": "/output/7",
            "submit_account": "alice",
            "submit_time": 1_000_000.0,
            "start_time": None,
            "completed_time": None,
        }
        if request.url.params.get("frames") == "true":
            body["frames_detail"] = []
        return httpx.Response(200, json=body)

    return Client("farm", "k", transport=httpx.MockTransport(handler))


def test_wait_reports_progress_until_the_task_finishes() -> None:
    asked: list[str] = []
    seen: list[str] = []

    def on_progress(task: Task) -> None:
        seen.append(task.status)

    with _farm(["queued", "rendering", "done"], asked) as client:
        task = client.wait(7, poll=0, on_progress=on_progress, frames=True)
    assert seen == ["queued", "rendering", "done"]
    assert task.status == "done" and task.frames_detail == []
    assert asked == ["false", "false", "false", "true"]  # the finished task, with its frames


def test_a_stopped_task_is_a_conflict_not_a_wait_forever() -> None:
    with _farm(["rendering", "stopped"], []) as client, pytest.raises(Conflict, match="stopped"):
        client.wait(7, poll=0)


def test_a_timeout_raises_wait_timeout() -> None:
    with _farm(["rendering"], []) as client, pytest.raises(WaitTimeout, match="rendering"):
        client.wait(7, poll=0.01, timeout=0.05)
