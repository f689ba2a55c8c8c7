"""The usage pages (your own, every account's for admins) and the webhook deliveries page."""

from __future__ import annotations

import re

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload
from tests.web.webkit import login


def _render_one(live: LiveServer) -> int:
    """alice renders one frame for 3600 s on a 1-core worker: 1 core-hour."""
    worker = register_worker(live.url, live.farm.join_key)
    user = live.client(live.user_key)
    user.post("/api/webhooks", json={"url": "https://hooks.example.com/foxden"}).raise_for_status()
    make_project(user, "lighting")
    upload(user, "/v/p/scene.txt", b"scene")
    task = submit(user, project_name="lighting", input_scene_path="/v/p/scene.txt", frames="1")
    lease = worker.post("/api/worker/claim", json={}).json()
    worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames",
        json={"results": [{"frame": 1, "status": "done", "render_time": 3600.0}]},
    ).raise_for_status()
    return int(task["id"])


def test_usage_and_webhook_pages(live_server: LiveServer) -> None:
    task_id = _render_one(live_server)
    alice, _token = login(live_server.url, "alice", live_server.user_key)
    page = alice.get("/usage")
    assert page.status_code == 200
    assert 'data-total-core-hours="1.000"' in page.text
    assert "lighting" in page.text and f'href="/tasks/{task_id}"' in page.text
    assert alice.get("/usage", params={"since": "2999-01-01"}).text.count("Nothing rendered") == 2
    bad = alice.get("/usage", params={"since": "whenever"})
    assert bad.status_code == 200 and "not a date" in bad.text
    assert alice.get("/admin/usage").status_code == 403
    hooks = alice.get("/webhooks")
    assert hooks.status_code == 200 and "https://hooks.example.com/foxden" in hooks.text
    assert re.search(r'data-delivery="\d+" data-state="pending"', hooks.text)  # task_done queued
    assert "task_done" in hooks.text

    bob_key = live_server.new_account("bob")
    bob, _ = login(live_server.url, "bob", bob_key)
    assert 'data-total-core-hours="0.000"' in bob.get("/usage").text
    theirs = bob.get("/webhooks").text
    assert "hooks.example.com" not in theirs and "No deliveries yet" in theirs

    admin, _ = login(live_server.url, "admin", live_server.admin_key)
    farm = admin.get("/admin/usage")
    assert farm.status_code == 200 and "alice" in farm.text
    assert 'data-total-core-hours="1.000"' in farm.text
