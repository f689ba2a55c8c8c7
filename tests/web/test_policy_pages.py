"""The scheduling policy on the web: the admins' limits page (set, change, remove; bad input
told, not a 500), a task's dependencies and blocked reason on its page and in the list, a
flagged worker on the workers page."""

from __future__ import annotations

import re

from foxden.farm import workers
from foxden.farm.failure_memory import FailurePolicy, note_failures
from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload
from tests.web.webkit import login


def test_admins_set_change_and_remove_limits(live_server: LiveServer) -> None:
    admin, token = login(live_server.url, "admin", live_server.admin_key)
    assert "No limits yet" in admin.get("/limits").text
    made = admin.post("/limits", data={"csrf_token": token, "name": "arnold", "max_running": "8"})
    assert made.status_code == 200 and "at most 8 frames at once" in made.text
    row = re.search(r'<tr data-limit="arnold">.*?</tr>', made.text, re.S)
    assert (
        row and "<td data-max>8</td>" in row.group(0) and "<td data-running>0</td>" in row.group(0)
    )
    changed = admin.post(
        "/limits", data={"csrf_token": token, "name": "arnold", "max_running": "3"}
    )
    assert "<td data-max>3</td>" in changed.text
    bad = admin.post("/limits", data={"csrf_token": token, "name": "a b", "max_running": "3"})
    assert bad.status_code == 200 and "a limit&#39;s name" in bad.text
    bad = admin.post("/limits", data={"csrf_token": token, "name": "x", "max_running": "many"})
    assert bad.status_code == 200 and "whole number" in bad.text
    gone = admin.post("/limits/arnold/remove", data={"csrf_token": token})
    assert "Limit arnold removed" in gone.text and 'data-limit="arnold"' not in gone.text
    alice, _ = login(live_server.url, "alice", live_server.user_key)
    assert alice.get("/limits").status_code == 403
    assert 'href="/limits"' not in alice.get("/tasks").text
    assert 'href="/limits"' in admin.get("/tasks").text


def test_a_tasks_dependencies_and_blocked_reason_are_shown(live_server: LiveServer) -> None:
    live = live_server
    register_worker(live.url, live.farm.join_key)
    api = live.client(live.user_key)
    make_project(api, "proj")
    upload(api, "/v/p/scene.txt", b"x")
    fields = {"project_name": "proj", "input_scene_path": "/v/p/scene.txt", "frames": "1-2"}
    parent = submit(api, **fields)["id"]
    child = submit(api, **fields, depends_on=[parent])["id"]
    alice, _ = login(live.url, "alice", live.user_key)
    page = alice.get(f"/tasks/{child}").text
    waits = re.search(r"<dd data-depends-on>(.*?)</dd>", page, re.S)
    assert waits and f'href="/tasks/{parent}"' in waits.group(1) and "queued" in waits.group(1)
    assert "data-blocked" not in page
    assert f'href="/tasks/{child}"' in alice.get(f"/tasks/{parent}").text  # waited for by
    api.post(f"/api/tasks/{parent}/abort").raise_for_status()
    page = alice.get(f"/tasks/{child}").text
    blocked = re.search(r"<p[^>]*data-blocked>(.*?)</p>", page, re.S)
    assert blocked and f"task {parent} aborted" in blocked.group(1)
    listed = alice.get("/tasks").text
    assert re.search(r'data-blocked title="blocked: [^"]*task ' + str(parent), listed)


def test_a_flagged_worker_is_marked_on_the_workers_page(live_server: LiveServer) -> None:
    live = live_server
    task_id = _task_of(live)
    worker = register_worker(live.url, live.farm.join_key, name="flaky")
    worker_id = workers.list_workers(live.farm.db)[-1].id
    admin, _ = login(live.url, "admin", live.admin_key)
    assert "data-flagged" not in admin.get("/workers").text
    with live.farm.db.write() as conn:  # it failed frames across tasks: flagged
        note_failures(conn, worker_id, task_id, 1, 1.0, FailurePolicy(flag_streak=1))
    page = admin.get("/workers").text
    assert "data-flagged" in page and "1 reports in a row" in page
    worker.close()


def _task_of(live: LiveServer) -> int:
    register_worker(live.url, live.farm.join_key)
    api = live.client(live.user_key)
    make_project(api, "proj")
    upload(api, "/v/p/scene.txt", b"x")
    return int(
        submit(api, project_name="proj", input_scene_path="/v/p/scene.txt", frames="1")["id"]
    )
