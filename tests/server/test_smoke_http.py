"""A first end-to-end pass over HTTP: project, upload, submit, claim, report."""

from __future__ import annotations

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload


def test_task_runs_to_done(live_server: LiveServer) -> None:
    worker = register_worker(live_server.url, live_server.farm.join_key)
    user = live_server.client(live_server.user_key)
    make_project(user)
    upload(user, "/v/project/scene.txt", b"scene")
    task = submit(
        user,
        project_name="proj",
        input_scene_path=r"v:\project\scene.txt",
        frames="1-5[1]",
        chunk_size=2,
    )
    assert task["status"] == "queued" and task["frame_count"] == 5
    done = 0
    while True:
        r = worker.post("/api/worker/claim", json={})
        if r.status_code == 204:
            break
        lease = r.json()
        assert lease["task"]["id"] == task["id"]
        rep = worker.post(
            f"/api/worker/leases/{lease['lease_id']}/frames",
            json={"results": [{"frame": f, "status": "done"} for f in lease["frames"]]},
        )
        assert rep.json()["accepted"] == lease["frames"]
        done += len(lease["frames"])
    assert done == 5
    final = user.get(f"/api/tasks/{task['id']}").json()
    assert final["status"] == "done" and final["counts"]["done"] == 5
