"""The scheduling policy over HTTP: who may set limits, shares, bands and a project's limits;
what bad input gets; dependencies at submit and a task's blocked reason in its record."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    message: str = r.json()["error"]["message"]
    return message


def _user(live: LiveServer, key: str) -> httpx.Client:
    client = live.client(key)
    make_project(client, "proj")
    upload(client, "/v/p/scene.txt", b"x")
    return client


def _task(client: httpx.Client, **fields: object) -> dict[str, object]:
    return submit(
        client, project_name="proj", input_scene_path="/v/p/scene.txt", frames="1-3", **fields
    )


def test_only_admins_set_limits_shares_and_bands(live_server: LiveServer) -> None:
    live = live_server
    register_worker(live.url, live.farm.join_key)
    admin, alice = live.client(live.admin_key), _user(live, live.user_key)
    task = _task(alice)
    assert "administrator" in _error(alice.put("/api/limits/arnold", json={"max_running": 2}), 403)
    assert "administrator" in _error(alice.put("/api/accounts/alice/share", json={"share": 9}), 403)
    assert "administrator" in _error(
        alice.put(f"/api/tasks/{task['id']}/band", json={"band": 9}), 403
    )
    assert "administrator" in _error(alice.delete("/api/limits/arnold"), 403)

    made = admin.put("/api/limits/arnold", json={"max_running": 2})
    assert made.status_code == 200
    assert made.json() == {"name": "arnold", "max_running": 2, "running": 0, "tasks": 0}
    assert [item["name"] for item in alice.get("/api/limits").json()] == ["arnold"]
    share = admin.put("/api/accounts/alice/share", json={"share": 2.5})
    assert share.json() == {"account": "alice", "share": 2.5}
    assert admin.get("/api/accounts/alice/share").json()["share"] == 2.5
    band = admin.put(f"/api/tasks/{task['id']}/band", json={"band": 3})
    assert band.json() == {"task_id": task["id"], "band": 3}
    assert alice.get(f"/api/tasks/{task['id']}/policy").json()["band"] == 3

    # bad input: 4xx with a message, never a 500
    _error(admin.put("/api/limits/arnold", json={"max_running": -1}), 422)
    _error(admin.put("/api/limits/bad%20name", json={"max_running": 1}), 400)
    _error(admin.put("/api/accounts/alice/share", json={"share": 0}), 422)
    _error(admin.put("/api/accounts/nobody/share", json={"share": 1}), 404)
    _error(admin.put(f"/api/tasks/{task['id']}/band", json={"band": 10**6}), 422)
    _error(admin.put("/api/tasks/999999/band", json={"band": 1}), 404)
    _error(admin.delete("/api/limits/nothing"), 404)
    assert admin.delete("/api/limits/arnold").json() == {"name": "arnold", "removed": True}


def test_project_limits_by_their_owner_or_an_admin(live_server: LiveServer) -> None:
    live = live_server
    register_worker(live.url, live.farm.join_key)
    admin, alice = live.client(live.admin_key), _user(live, live.user_key)
    admin.put("/api/limits/arnold", json={"max_running": 5}).raise_for_status()
    assert "no limit named 'vray'" in _error(
        alice.put("/api/projects/proj/limits", json={"limits": ["vray"]}), 400
    )
    mine = alice.put("/api/projects/proj/limits", json={"limits": ["arnold"]})
    assert mine.json() == {"account": "alice", "project_name": "proj", "limits": ["arnold"]}
    assert alice.get("/api/projects/proj/limits").json()["limits"] == ["arnold"]
    _error(alice.put("/api/accounts/alice/projects/proj/limits", json={"limits": []}), 403)
    cleared = admin.put("/api/accounts/alice/projects/proj/limits", json={"limits": []})
    assert cleared.json()["limits"] == []
    _error(admin.put("/api/accounts/alice/projects/nope/limits", json={"limits": []}), 404)
    task = _task(alice, limits=["arnold"])
    assert alice.get(f"/api/tasks/{task['id']}/policy").json()["limits"] == ["arnold"]
    assert "limits" not in task["options"]  # taken, not kept as an option
    _error(
        alice.post(
            "/api/tasks",
            json={
                "project_name": "proj",
                "input_scene_path": "/v/p/scene.txt",
                "frames": "1",
                "limits": ["vray"],
            },
        ),
        400,
    )


def test_depends_on_at_submit_and_the_blocked_reason(live_server: LiveServer) -> None:
    live = live_server
    register_worker(live.url, live.farm.join_key)
    alice = _user(live, live.user_key)
    bob = _user(live, live.new_account("bob", trusted=True))
    theirs = _task(bob)
    parent = _task(alice, max_attempts=1)
    refused = alice.post(
        "/api/tasks",
        json={
            "project_name": "proj",
            "input_scene_path": "/v/p/scene.txt",
            "frames": "1",
            "depends_on": [theirs["id"]],
        },
    )
    assert f"no task {theirs['id']} in your account" in _error(refused, 404)
    _error(
        alice.post(
            "/api/tasks",
            json={
                "project_name": "proj",
                "input_scene_path": "/v/p/scene.txt",
                "frames": "1",
                "depends_on": ["x"],
            },
        ),
        422,
    )
    child = _task(alice, depends_on=[parent["id"]])
    assert child["blocked_reason"] == "" and "depends_on" not in child["options"]
    assert alice.post(f"/api/tasks/{parent['id']}/abort").status_code == 200
    record = alice.get(f"/api/tasks/{child['id']}").json()
    assert f"task {parent['id']} aborted" in record["blocked_reason"]
    listed = alice.get("/api/tasks", params={"task_id": child["id"]}).json()["items"][0]
    assert listed["blocked_reason"] == record["blocked_reason"]
    policy = alice.get(f"/api/tasks/{child['id']}/policy").json()
    assert policy["depends_on"] == [{"id": parent["id"], "status": "aborted"}]
    assert policy["blocked_reason"] == record["blocked_reason"]
    _error(bob.get(f"/api/tasks/{child['id']}/policy"), 404)


def test_over_http_a_failing_worker_is_kept_off_the_task_and_retries_go_elsewhere(
    live_server: LiveServer,
) -> None:
    live = live_server
    alice = _user_with_worker(live)
    task = submit(
        alice,
        project_name="proj",
        input_scene_path="/v/p/scene.txt",
        frames="1-5",
        max_attempts=10,
        frame_order="in_order",
    )
    bad = register_worker(live.url, live.farm.join_key, name="bad")
    good = register_worker(live.url, live.farm.join_key, name="good")

    def fail(lease: dict[str, object]) -> None:
        frames = lease["frames"]
        assert isinstance(frames, list)
        reply = bad.post(
            f"/api/worker/leases/{lease['lease_id']}/frames",
            json={
                "results": [{"frame": f, "status": "failed", "error": "crashed"} for f in frames]
            },
        )
        assert reply.status_code == 200, reply.text

    taken = []
    for _ in range(3):  # the farm's setting: 3 failed frames of a task
        lease = bad.post("/api/worker/claim", json={}).json()
        taken.append(lease["frames"][0])
        fail(lease)
    assert taken == [1, 2, 3]  # never its own failed frame again while others wait
    assert bad.post("/api/worker/claim", json={}).status_code == 204
    retry = good.post("/api/worker/claim", json={}).json()
    assert retry["task"]["id"] == task["id"] and retry["frames"] == [1]


def _user_with_worker(live: LiveServer) -> httpx.Client:
    register_worker(live.url, live.farm.join_key, name="seed")
    return _user(live, live.user_key)
