"""The tasks list and the task page show a task's ETA and core-hours from its record (the one
rule of `foxden.farm.estimates`), on the page and in their live updates."""

from __future__ import annotations

import hashlib
from contextlib import closing

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload
from tests.web.webkit import login


def test_the_pages_show_the_eta_and_core_hours_of_the_task_record(
    live_server: LiveServer,
) -> None:
    worker = register_worker(
        live_server.url,
        live_server.farm.join_key,
        software=[{"name": "command", "version": "1"}],
    )
    with live_server.client(live_server.user_key) as user:
        make_project(user, "p", "command 1")
        upload(user, "/v/p/scene.txt", b"a scene\n")
        task = submit(
            user,
            project_name="p",
            input_scene_path="/v/p/scene.txt",
            frames="1-3",
            chunk_size=1,
        )
        with worker:
            lease = worker.post("/api/worker/claim", json={"max_frames": 1}).json()
            data = b"frame"
            digest = hashlib.sha256(data).hexdigest()
            worker.put(
                f"/api/worker/blobs/{digest}", params={"lease": lease["lease_id"]}, content=data
            ).raise_for_status()
            output = {"name": "f.png", "hash": digest, "size": len(data)}
            done = {"frame": lease["frames"][0], "status": "done", "outputs": [output]}
            worker.post(
                f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": [done]}
            ).raise_for_status()
            worker.post("/api/worker/claim", json={"max_frames": 1}).raise_for_status()  # renders
        record = user.get(f"/api/tasks/{task['id']}").json()
    assert record["eta_seconds"] is not None and record["core_hours"] is not None

    client, _token = login(live_server.url, "alice", live_server.user_key)
    with closing(client):
        listing = client.get("/tasks").text
        assert "Core-hours</abbr></th>" in listing
        assert "<td data-core-hours>under 0.01 core-h</td>" in listing
        [item] = client.get("/tasks/live").json()["items"]
        assert item["eta"].startswith("about ") and item["core_hours_text"] == "under 0.01 core-h"
        page = client.get(f"/tasks/{task['id']}").text
        assert "<dd data-core-hours>under 0.01 core-h</dd>" in page
        live = client.get(f"/tasks/{task['id']}/live").json()
        assert live["eta"].startswith("about ") and live["core_hours"] == "under 0.01 core-h"
        assert live["task"]["eta_seconds"] == record["eta_seconds"]
