"""Submitting tasks, every bad input, queries with filters, and user operations."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload


@pytest.fixture
def user(live_server: LiveServer) -> httpx.Client:
    register_worker(live_server.url, live_server.farm.join_key)
    client = live_server.client(live_server.user_key)
    make_project(client, "proj")
    upload(client, r"v:\project\shot\lgt.txt", b"scene data")
    return client


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    message: str = r.json()["error"]["message"]
    return message


def test_submit_records_everything(user: httpx.Client) -> None:
    task = submit(
        user,
        project_name="proj",
        input_scene_path=r"v:\project\shot\lgt.txt",
        frames="1-100[1]",
        render_layer="ball",
        camera="camera1",
        artist="ann",
        priority=5,
        chunk_size=4,
        quality="high",
    )
    assert task["frame_count"] == 100 and task["frames"] == "1-100[1]"
    assert task["scene_path"] == "/v/project/shot/lgt.txt"
    assert task["cg_soft_name"] == "command 1" and task["job_type"] == "command"
    assert (
        task["render_layer"],
        task["camera"],
        task["artist"],
        task["priority"],
        task["chunk_size"],
    ) == ("ball", "camera1", "ann", 5, 4)
    assert task["options"] == {"quality": "high"}
    assert task["output_folder"] == f"{task['id']}_lgt"
    detail = user.get(f"/api/tasks/{task['id']}", params={"frames": True}).json()
    assert [f["number"] for f in detail["frames_detail"]] == list(range(1, 101))
    assert {f["status"] for f in detail["frames_detail"]} == {"waiting"}


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"project_name": "nope"}, 404, "no project named 'nope'"),
        ({"input_scene_path": r"v:\project\never.txt"}, 400, "was never uploaded"),
        ({"frames": ""}, 400, "frames is required"),
        ({"frames": "10-1"}, 400, "descending range"),
        ({"frames": "1-10[0]"}, 400, "step 0"),
        ({"frames": "1-x"}, 400, "'1-x'"),
        ({"frames": "1-200000"}, 400, "more than 100,000 frames"),
        ({"chunk_size": 0}, 400, "chunk_size must be between"),
        ({"input_scene_path": "/v/../etc/passwd"}, 400, "'..'"),
    ],
)
def test_bad_submissions_are_explained(
    user: httpx.Client, fields: dict[str, object], status: int, says: str
) -> None:
    body = {
        "project_name": "proj",
        "input_scene_path": r"v:\project\shot\lgt.txt",
        "frames": "1-3",
        **fields,
    }
    assert says in _error(user.post("/api/tasks", json=body), status)
    assert user.get("/api/tasks").json()["total"] == 0  # nothing half-made


def test_project_without_config_says_what_to_do(user: httpx.Client) -> None:
    user.post("/api/projects", json={"project_name": "bare"}).raise_for_status()
    body = {"project_name": "bare", "input_scene_path": r"v:\project\shot\lgt.txt", "frames": "1"}
    assert "has no plugin config: add one" in _error(user.post("/api/tasks", json=body), 400)


def test_queries_filter_sort_and_page(user: httpx.Client) -> None:
    ids = [
        submit(
            user,
            project_name="proj",
            input_scene_path=r"v:\project\shot\lgt.txt",
            frames=str(i),
            camera=f"cam{i % 2}",
            artist="Ann Smith" if i < 3 else "bob",
            priority=i,
        )["id"]
        for i in range(5)
    ]
    listing = user.get("/api/tasks").json()
    assert listing["total"] == 5 and [t["id"] for t in listing["items"]] == ids[::-1]
    page = user.get("/api/tasks", params={"page_size": 2, "page_no": 2, "sort": "id"}).json()
    assert [t["id"] for t in page["items"]] == ids[2:4]
    assert [
        t["id"]
        for t in user.get("/api/tasks", params={"camera": "cam1", "sort": "id"}).json()["items"]
    ] == [ids[1], ids[3]]
    assert (
        user.get("/api/tasks", params={"artist": "smith"}).json()["total"] == 3
    )  # case-insensitive
    assert user.get("/api/tasks", params={"text": "LGT"}).json()["total"] == 5
    assert user.get("/api/tasks", params={"artist": "Smith"}).json()["total"] == 3
    assert user.get("/api/tasks", params={"task_id": ids[2]}).json()["items"][0]["id"] == ids[2]
    assert user.get("/api/tasks", params={"task_status": "Start"}).json()["total"] == 5
    assert user.get("/api/tasks", params={"task_status": "System_Done"}).json()["total"] == 0
    assert user.get("/api/tasks", params={"project_name": "other"}).json()["total"] == 0
    assert (
        user.get("/api/tasks", params={"input_scene_path": r"v:\project\shot\lgt.txt"}).json()[
            "total"
        ]
        == 5
    )
    assert user.get("/api/tasks", params={"cg_soft_name": "command 1"}).json()["total"] == 5
    assert (
        user.get("/api/tasks", params={"submit_time_from": "2000-01-01 00:00:00"}).json()["total"]
        == 5
    )
    assert user.get("/api/tasks", params={"submit_time_to": "2000-01-01"}).json()["total"] == 0
    by_priority = user.get("/api/tasks", params={"sort": "-priority"}).json()["items"]
    assert [t["priority"] for t in by_priority] == [4, 3, 2, 1, 0]
    assert "cannot sort by 'color'" in _error(user.get("/api/tasks", params={"sort": "color"}), 400)
    assert "unknown task status" in _error(
        user.get("/api/tasks", params={"task_status": "Nope"}), 400
    )
    assert "yyyy-MM-dd" in _error(
        user.get("/api/tasks", params={"submit_time_from": "yesterday"}), 400
    )


def test_stop_resume_restart_abort_delete(live_server: LiveServer, user: httpx.Client) -> None:
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w2")
    task = submit(
        user,
        project_name="proj",
        input_scene_path=r"v:\project\shot\lgt.txt",
        frames="1-6",
        chunk_size=2,
        max_attempts=1,
        frame_order="in_order",
    )
    tid = task["id"]
    lease = worker.post("/api/worker/claim", json={}).json()
    assert lease["frames"] == [1, 2]
    assert "stop it first" in _error(user.delete(f"/api/tasks/{tid}"), 409)
    stopped = user.post(f"/api/tasks/{tid}/stop").json()
    assert stopped["status"] == "stopped" and stopped["counts"]["stopped"] == 6
    # the worker learns at its next heartbeat, and its late report is refused
    hb = worker.post(f"/api/worker/leases/{lease['lease_id']}/heartbeat", json={}).json()
    assert hb["action"] == "stop"
    rep = worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames",
        json={"results": [{"frame": 1, "status": "done"}]},
    ).json()
    assert rep["accepted"] == [] and rep["rejected"][0]["frame"] == 1
    assert worker.post("/api/worker/claim", json={}).status_code == 204
    assert "only a queued or rendering task can be stopped" in _error(
        user.post(f"/api/tasks/{tid}/stop"), 409
    )
    resumed = user.post(f"/api/tasks/{tid}/resume").json()
    assert resumed["status"] == "queued" and resumed["counts"]["waiting"] == 6
    # finish 1-2, fail 3 (max_attempts=1), leave the rest
    lease = worker.post("/api/worker/claim", json={}).json()
    worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames",
        json={"results": [{"frame": 1, "status": "done"}, {"frame": 2, "status": "done"}]},
    )
    lease = worker.post("/api/worker/claim", json={}).json()
    worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames",
        json={
            "results": [
                {"frame": 3, "status": "failed", "error": "boom"},
                {"frame": 4, "status": "done"},
            ]
        },
    )
    state = user.get(f"/api/tasks/{tid}").json()
    assert state["counts"] == {
        "waiting": 2,
        "running": 0,
        "done": 3,
        "failed": 1,
        "stopped": 0,
        "aborted": 0,
    }
    assert "boom" in user.get(f"/api/tasks/{tid}/frames/3/log").text
    restarted = user.post(f"/api/tasks/{tid}/restart", json={"restart": "failed"}).json()
    assert restarted["counts"]["failed"] == 0 and restarted["counts"]["waiting"] == 3
    chosen = user.post(f"/api/tasks/{tid}/restart", json={"frames": "1-2"}).json()
    assert chosen["counts"]["done"] == 1 and chosen["counts"]["waiting"] == 5
    assert "no frame(s) 99" in _error(
        user.post(f"/api/tasks/{tid}/restart", json={"frames": [99]}), 400
    )
    aborted = user.post(f"/api/tasks/{tid}/abort").json()
    assert aborted["status"] == "aborted" and aborted["counts"]["aborted"] == 5
    assert user.delete(f"/api/tasks/{tid}").json()["deleted"] is True
    assert user.get(f"/api/tasks/{tid}").status_code == 404


def test_done_task_and_restart_all(live_server: LiveServer, user: httpx.Client) -> None:
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w3")
    tid = submit(
        user,
        project_name="proj",
        input_scene_path=r"v:\project\shot\lgt.txt",
        frames="1-2",
        chunk_size=2,
    )["id"]
    lease = worker.post("/api/worker/claim", json={}).json()
    worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames",
        json={
            "results": [
                {"frame": 1, "status": "done", "render_time": 1.5},
                {"frame": 2, "status": "done"},
            ]
        },
    )
    done = user.get(f"/api/tasks/{tid}", params={"frames": True}).json()
    assert done["status"] == "done" and done["completed_time"] is not None
    assert done["frames_detail"][0]["render_time"] == 1.5
    again = user.post(f"/api/tasks/{tid}/restart", json={"restart": "all"}).json()
    assert again["status"] == "queued" and again["completed_time"] is None
