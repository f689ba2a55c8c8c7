"""Time limits and chunk targets over HTTP: what submit and a project's route take (and refuse
with a 4xx that says what to give), and the limits a worker's lease carries: the task's own,
else its project's defaults, else the account's SDK setting (updateUserSetting), with the
SDK's setTaskOverTimeStop setting the task's own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from foxden.worker.watchdog import Watchdog
from tests.conftest import LiveServer
from tests.farmkit import register_worker
from tests.server.rayvision.taskkit import Farm, farm_of

OVERTIME = "/api/render/handle/setTaskOverTimeStop"
USER_SETTING = "/api/render/setUp/updateUserSetting"


@pytest.fixture
def farm(live_server: LiveServer) -> Farm:
    return farm_of(live_server)


def lease_limits(farm: Farm, task_id: int) -> tuple[Any, Any]:
    """The time limits of the lease a new worker gets of `task_id` (its only task left)."""
    farm.workers += 1
    worker = register_worker(farm.live.url, farm.live.farm.join_key, name=f"t{farm.workers}")
    lease = worker.post("/api/worker/claim", json={}).json()
    assert lease["task"]["id"] == task_id, lease
    return lease["frame_timeout_s"], lease["progress_timeout_s"]


def set_project(user: httpx.Client, **body: Any) -> httpx.Response:
    return user.put("/api/projects/proj/time-limits", json=body)


def test_the_lease_carries_the_tasks_then_the_projects_then_the_accounts_limits(
    farm: Farm,
) -> None:
    assert lease_limits(farm, farm.submit("1")) == (None, None)  # none anywhere
    farm.sdk.call(USER_SETTING, {"taskOverTimeSec": 3600})  # the account's SDK setting
    assert lease_limits(farm, farm.submit("1")) == (3600, None)
    reply = set_project(farm.user, frame_timeout_s=600, progress_timeout_s=120)
    assert reply.status_code == 200, reply.text
    assert (reply.json()["frame_timeout_s"], reply.json()["progress_timeout_s"]) == (600, 120)
    assert farm.user.get("/api/projects/proj").json()["progress_timeout_s"] == 120
    assert lease_limits(farm, farm.submit("1")) == (600, 120)
    own = farm.submit("1", frame_timeout_s=90, progress_timeout_s=30)
    assert lease_limits(farm, own) == (90, 30)
    by_sdk = farm.submit("1")
    farm.sdk.call(OVERTIME, {"taskIds": [by_sdk], "overTime": 45})
    assert lease_limits(farm, by_sdk) == (45, 120)


def test_a_projects_new_default_applies_to_its_queued_tasks(farm: Farm) -> None:
    task_id = farm.submit("1")
    assert set_project(farm.user, progress_timeout_s=300).status_code == 200
    assert lease_limits(farm, task_id) == (None, 300)
    cleared = set_project(farm.user, progress_timeout_s=0)
    assert cleared.json()["progress_timeout_s"] is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"frame_timeout_s": -5}, "frame_timeout_s must be a whole number of seconds from 1"),
        ({"progress_timeout_s": 10**8}, "progress_timeout_s must be a whole number"),
    ],
)
def test_a_bad_project_limit_is_refused_with_what_to_give(
    farm: Farm, body: dict[str, Any], words: str
) -> None:
    reply = set_project(farm.user, **body)
    assert reply.status_code == 400 and words in reply.text, reply.text
    assert farm.user.put("/api/projects/nope/time-limits", json={}).status_code == 404


def test_another_accounts_project_is_not_found(farm: Farm) -> None:
    bob = farm.live.client(farm.live.new_account("bob"))
    reply = bob.put("/api/projects/proj/time-limits", json={"frame_timeout_s": 60})
    assert reply.status_code == 404
    assert farm.user.get("/api/projects/proj").json()["frame_timeout_s"] is None


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"frame_timeout_s": -1}, 400, "frame_timeout_s must be a whole number of seconds"),
        ({"progress_timeout_s": 10**8}, 400, "progress_timeout_s must be a whole number"),
        ({"frame_timeout_s": "soon"}, 422, "frame_timeout_s"),
        ({"chunk_seconds": -3}, 400, "chunk_seconds must be a number of seconds"),
        ({"chunk_seconds": "long"}, 422, "chunk_seconds"),
    ],
)
def test_bad_limits_or_targets_at_submit_are_refused(
    farm: Farm, fields: dict[str, Any], status: int, words: str
) -> None:
    body = {"project_name": "proj", "input_scene_path": "/v/p/scene.txt", "frames": "1"}
    reply = farm.user.post("/api/tasks", json={**body, **fields})
    assert reply.status_code == status and words in reply.text, reply.text
    assert farm.user.get("/api/tasks").json()["total"] == 0


def test_submit_keeps_the_chunk_target_out_of_the_options(farm: Farm) -> None:
    task_id = farm.submit("1-30", chunk_seconds=20, chunk_size=None, frame_timeout_s=100)
    task = farm.user.get(f"/api/tasks/{task_id}").json()
    assert task["chunk_size"] == 100  # the cap of an adaptive task, none given
    assert (task["chunk_seconds"], task["frame_timeout_s"], task["progress_timeout_s"]) == (
        20,
        100,
        None,
    )
    assert not {"chunk_seconds", "frame_timeout_s"} & set(task["options"])
    assert lease_limits(farm, task_id) == (100, None)


def test_a_timed_out_frame_goes_back_to_the_queue_while_attempts_are_left(farm: Farm) -> None:
    task_id = farm.submit("1", max_attempts=2, frame_timeout_s=30)
    worker = register_worker(farm.live.url, farm.live.farm.join_key, name="slow")
    times = iter([0.0, 31.0])  # the watchdog starts, then reads the clock past the limit
    error = f"Blender {Watchdog(30, None, lambda: next(times)).expired()}"
    result = {"frame": 1, "status": "failed", "error": error, "log": "Fra:1 Sample 1/64\n"}
    for attempt, status in ((1, "waiting"), (2, "failed")):
        lease = worker.post("/api/worker/claim", json={}).json()
        path = f"/api/worker/leases/{lease['lease_id']}/frames"
        worker.post(path, json={"results": [result]}).raise_for_status()
        task = farm.user.get(f"/api/tasks/{task_id}", params={"frames": True}).json()
        [frame] = task["frames_detail"]
        assert frame["failure_category"] == "timeout" and frame["attempts"] == attempt
        assert frame["status"] == status, frame
