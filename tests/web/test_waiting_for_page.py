"""Why a task waits, on its web page: a notice by its status when no worker takes it (every
worker that offers its software failed it too often), none for a task that waits only for a
free worker; the task list does not say it (one task's page only)."""

from __future__ import annotations

import re

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload
from tests.web.webkit import login


def test_the_task_page_says_why_no_worker_takes_the_task(live_server: LiveServer) -> None:
    live = live_server
    worker = register_worker(
        live.url, live.farm.join_key, name="only", software=[{"name": "command", "version": "1"}]
    )
    api = live.client(live.user_key)
    make_project(api, "proj")
    upload(api, "/v/p/scene.txt", b"x")
    fields = {"project_name": "proj", "input_scene_path": "/v/p/scene.txt", "max_attempts": 10}
    tid = submit(api, **fields, frames="1-5")["id"]
    alice, _ = login(live.url, "alice", live.user_key)
    assert "data-waiting-for" not in alice.get(f"/tasks/{tid}").text
    for _ in range(3):  # the farm's setting: 3 failed frames of a task
        lease = worker.post("/api/worker/claim", json={"max_frames": 1}).json()
        failed = [{"frame": f, "status": "failed", "error": "crashed"} for f in lease["frames"]]
        worker.post(
            f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": failed}
        ).raise_for_status()
    page = alice.get(f"/tasks/{tid}").text
    notice = re.search(r"<p[^>]*data-waiting-for>(.*?)</p>", page, re.S)
    assert notice, page
    assert "1 worker that offers command 1 failed 3 or more of its frames" in notice.group(1)
    assert page.index("data-status") < page.index("data-waiting-for") < page.index("<dl")
    assert "data-waiting-for" not in alice.get("/tasks").text
