"""One account never sees another's tasks, files or outputs: every endpoint walked with a second key."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload

# Endpoints that are not per-account data, with why.
NOT_ACCOUNT_DATA = {
    ("GET", "/api/me"),
    ("POST", "/api/login"),
    ("GET", "/api/software"),
    ("GET", "/api/accounts"),
    ("POST", "/api/accounts"),
    ("PATCH", "/api/accounts/{name}"),  # admin only
    ("GET", "/api/workers"),  # admin only
    ("POST", "/api/workers/{worker_id}/revoke"),  # admin only (tests/security/test_worker_trust.py)
    ("POST", "/api/workers/{worker_id}/approve"),  # admin only
    ("POST", "/api/workers/{worker_id}/drain"),  # admin only
    ("POST", "/api/workers/{worker_id}/disable"),  # admin only
    ("POST", "/api/workers/{worker_id}/enable"),  # admin only
    ("POST", "/api/accounts/{name}/key"),  # admin only
    ("POST", "/api/accounts/{name}/trust"),  # admin only (tests/security/test_trusted_accounts.py)
    ("PATCH", "/api/accounts/{name}/projects/{project}/sandbox"),  # admin only (same)
    ("POST", "/api/me/key"),  # one's own key
    ("POST", "/api/me/sdk-key"),  # one's own SDK key
    ("GET", "/api/limits"),  # the farm's named limits: not an account's (set by admins)
    ("GET", "/api/webhooks"),  # one's own: checked below
    ("GET", "/api/webhooks/deliveries"),  # one's own: checked below
    ("GET", "/api/usage"),  # one's own: checked below
    ("POST", "/api/accounts/{name}/sdk-key"),  # admin only
    ("POST", "/api/files/check"),
    ("POST", "/api/files/commit"),  # checked below by content
    ("GET", "/api/uploads/{digest}"),
    ("PUT", "/api/uploads/{digest}"),  # checked below
    ("POST", "/api/uploads/batch"),  # stores into one's own account only; checked below
    ("POST", "/api/projects"),
    ("POST", "/api/tasks"),  # create in one's own account
    ("GET", "/api/tasks/all"),  # one's own: checked below
    ("GET", "/healthz"),
    ("GET", "/metrics"),
}


def _alice_world(live: LiveServer) -> dict[str, Any]:
    worker = register_worker(live.url, live.farm.join_key)
    alice = live.client(live.user_key)
    make_project(alice, "secret-project")
    scene = upload(alice, "/v/secret/scene.txt", b"alice's scene")
    task = submit(
        alice,
        project_name="secret-project",
        input_scene_path="/v/secret/scene.txt",
        frames="1-2",
        chunk_size=2,
        max_attempts=1,
    )
    lease = worker.post("/api/worker/claim", json={}).json()
    image = b"\x89PNG fake output of alice"
    digest = hashlib.sha256(image).hexdigest()
    worker.put(
        f"/api/worker/blobs/{digest}", params={"lease": lease["lease_id"]}, content=image
    ).raise_for_status()
    worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames",
        json={
            "results": [
                {
                    "frame": 1,
                    "status": "done",
                    "outputs": [
                        {
                            "name": "scene_0001.png",
                            "hash": digest,
                            "size": len(image),
                            "thumbnail": digest,
                        }
                    ],
                },
                {"frame": 2, "status": "failed", "error": "x"},
            ]
        },
    ).raise_for_status()
    config_id = alice.get("/api/projects/secret-project").json()["plugins"][0]["config_id"]
    hook = alice.post("/api/webhooks", json={"url": "https://example.org/alice-secret-hook"})
    hook.raise_for_status()
    return {
        "task": task["id"],
        "scene": scene,
        "output": digest,
        "config": config_id,
        "hook": hook.json()["webhook"]["id"],
    }


def test_second_account_sees_nothing_of_the_first(live_server: LiveServer) -> None:
    world = _alice_world(live_server)
    bob = live_server.client(live_server.new_account("bob"))
    t, p, c = world["task"], "secret-project", world["config"]
    calls: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
        ("GET", "/api/projects/{name}"): (f"/api/projects/{p}", {}),
        ("PATCH", "/api/projects/{name}"): (f"/api/projects/{p}", {"json": {"remark": "pwned"}}),
        ("DELETE", "/api/projects/{name}"): (f"/api/projects/{p}", {}),
        ("POST", "/api/projects/{name}/configs"): (
            f"/api/projects/{p}/configs",
            {"json": {"cg_soft_name": "command"}},
        ),
        ("PATCH", "/api/projects/{name}/configs/{config_id}"): (
            f"/api/projects/{p}/configs/{c}",
            {"json": {"is_default": True}},
        ),
        ("DELETE", "/api/projects/{name}/configs/{config_id}"): (
            f"/api/projects/{p}/configs/{c}",
            {},
        ),
        ("GET", "/api/tasks/{task_id}"): (f"/api/tasks/{t}", {}),
        ("POST", "/api/tasks/{task_id}/stop"): (f"/api/tasks/{t}/stop", {}),
        ("POST", "/api/tasks/{task_id}/resume"): (f"/api/tasks/{t}/resume", {}),
        ("POST", "/api/tasks/{task_id}/restart"): (
            f"/api/tasks/{t}/restart",
            {"json": {"restart": "all"}},
        ),
        ("POST", "/api/tasks/{task_id}/abort"): (f"/api/tasks/{t}/abort", {}),
        ("POST", "/api/tasks/{task_id}/movie"): (f"/api/tasks/{t}/movie", {"json": {}}),
        ("DELETE", "/api/tasks/{task_id}"): (f"/api/tasks/{t}", {}),
        ("GET", "/api/tasks/{task_id}/frames/{number}/log"): (f"/api/tasks/{t}/frames/2/log", {}),
        ("GET", "/api/tasks/{task_id}/frames/{number}/thumbnail"): (
            f"/api/tasks/{t}/frames/1/thumbnail",
            {},
        ),
        ("GET", "/api/tasks/{task_id}/outputs"): (f"/api/tasks/{t}/outputs", {}),
        ("GET", "/api/blobs/{digest}"): (f"/api/blobs/{world['output']}", {}),
        ("POST", "/api/blobs/batch"): (
            "/api/blobs/batch",
            {"json": {"hashes": [world["output"], world["scene"]]}},
        ),
        ("DELETE", "/api/files"): ("/api/files", {"params": {"path": "/v/secret/scene.txt"}}),
        ("GET", "/api/tasks/{task_id}/configs/{name}"): (f"/api/tasks/{t}/configs/task.json", {}),
        ("PUT", "/api/tasks/{task_id}/configs/{name}"): (
            f"/api/tasks/{t}/configs/task.json",
            {"content": b"{}"},
        ),
        ("GET", "/api/tasks/{task_id}/policy"): (f"/api/tasks/{t}/policy", {}),
        ("GET", "/api/projects/{name}/limits"): (f"/api/projects/{p}/limits", {}),
        ("PUT", "/api/projects/{name}/limits"): (
            f"/api/projects/{p}/limits",
            {"json": {"limits": []}},
        ),
        ("PUT", "/api/projects/{name}/time-limits"): (
            f"/api/projects/{p}/time-limits",
            {"json": {"frame_timeout_s": 5}},
        ),
        ("DELETE", "/api/webhooks/{hook_id}"): (f"/api/webhooks/{world['hook']}", {}),
        ("POST", "/api/webhooks"): (
            "/api/webhooks",
            {"json": {"url": "https://example.org/secret-hook", "task_id": t}},
        ),
    }
    # admins' calls: bob is refused (403) whatever he names
    admin_only = {
        ("PUT", "/api/limits/{name}"): ("/api/limits/arnold", {"json": {"max_running": 1}}),
        ("DELETE", "/api/limits/{name}"): ("/api/limits/arnold", {}),
        ("GET", "/api/accounts/{name}/share"): ("/api/accounts/alice/share", {}),
        ("PUT", "/api/accounts/{name}/share"): (
            "/api/accounts/alice/share",
            {"json": {"share": 9}},
        ),
        ("PUT", "/api/tasks/{task_id}/band"): (f"/api/tasks/{t}/band", {"json": {"band": 9}}),
        ("PUT", "/api/accounts/{name}/projects/{project}/limits"): (
            f"/api/accounts/alice/projects/{p}/limits",
            {"json": {"limits": []}},
        ),
    }
    for (method, _template), (path, kw) in admin_only.items():
        r = bob.request(method, path, **kw)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    for (method, _template), (path, kw) in calls.items():
        r = bob.request(method, path, **kw)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        echoed = r.text.replace(path, "").replace(p, "").replace("/v/secret/scene.txt", "")
        assert "secret" not in echoed and "alice" not in r.text  # only what bob sent is echoed
    # listings are empty for bob
    assert bob.get("/api/projects").json() == []
    assert bob.get("/api/tasks").json()["total"] == 0
    assert bob.get("/api/tasks", params={"task_id": t}).json()["total"] == 0
    streamed = bob.get("/api/tasks/all")
    assert streamed.headers["x-total-count"] == "0"
    assert [json.loads(line) for line in streamed.text.splitlines()] == [{"end": 0}]
    assert "secret" not in bob.get("/api/tasks/all", params={"text": "secret"}).text
    assert bob.get("/api/files").json() == []
    assert bob.get("/api/webhooks").json() == []
    assert bob.get("/api/webhooks/deliveries").json() == []
    usage = json.dumps(bob.get("/api/usage").json())
    assert "secret" not in usage and f'"task_id": {t}' not in usage
    r = bob.get("/api/blobs/" + world["scene"])
    assert r.status_code == 404
    # dedup never tells bob that alice has this content: he must send it himself
    check = bob.post(
        "/api/files/check",
        json={"files": [{"path": "/b/x.txt", "size": 13, "hash": world["scene"]}]},
    ).json()
    assert check["missing"] == [world["scene"]]
    assert bob.get(f"/api/uploads/{world['scene']}").json()["complete"] is False
    r = bob.post(
        "/api/files/commit",
        json={"files": [{"path": "/b/x.txt", "size": 13, "hash": world["scene"]}]},
    )
    assert r.status_code == 400
    # a batch download of alice's blobs is refused just as one of blobs that exist nowhere
    nowhere = hashlib.sha256(b"stored by nobody").hexdigest()
    for hashes in ([world["output"]], [world["scene"], world["output"]], [nowhere]):
        r = bob.post("/api/blobs/batch", json={"hashes": hashes})
        assert r.status_code == 404
        assert r.json()["error"]["message"].replace(hashes[0], "H") == (
            "no such file in your account: H" + (" (and 1 more)" if len(hashes) > 1 else "")
        )
    # a batch upload claiming alice's scene without its bytes gives bob nothing
    lie = b"not alice's scene"
    body = (
        json.dumps({"blobs": [{"hash": world["scene"], "size": len(lie)}]}).encode() + b"\n" + lie
    )
    reply = bob.post("/api/uploads/batch", content=body).json()
    assert reply["stored"] == [] and [x["hash"] for x in reply["refused"]] == [world["scene"]]
    assert bob.post(
        "/api/files/check",
        json={"files": [{"path": "/b/x.txt", "size": 13, "hash": world["scene"]}]},
    ).json()["missing"] == [world["scene"]]
    assert bob.post("/api/blobs/batch", json={"hashes": [world["scene"]]}).status_code == 404
    # bob cannot submit alice's scene or into alice's project
    r = bob.post(
        "/api/tasks",
        json={
            "project_name": "secret-project",
            "input_scene_path": "/v/secret/scene.txt",
            "frames": "1",
        },
    )
    assert r.status_code == 404
    # and alice's things are all still there, unchanged
    alice = live_server.client(live_server.user_key)
    task = alice.get(f"/api/tasks/{t}").json()
    assert task["counts"]["done"] == 1 and task["counts"]["failed"] == 1
    assert alice.get(f"/api/projects/{p}").json()["remark"] == ""
    assert alice.get(f"/api/blobs/{world['output']}").status_code == 200
    assert [h["id"] for h in alice.get("/api/webhooks").json()] == [world["hook"]]
    assert alice.get(f"/api/tasks/{t}/policy").status_code == 200
    # every account-data endpoint of the API was walked (a new one fails this test until added)
    api = {(m, r.path) for r in live_server.farm_app_routes() for m in r.methods}  # type: ignore[attr-defined]
    walked = (
        set(calls)
        | set(admin_only)
        | NOT_ACCOUNT_DATA
        | {
            ("GET", "/api/projects"),
            ("GET", "/api/tasks"),
            ("GET", "/api/files"),
            ("GET", "/api/blobs/{digest}"),
        }
    )
    unwalked = {
        (m, path)
        for m, path in api
        if path.startswith("/api/")
        and not path.startswith("/api/worker/")
        and path != "/api/v1/task"
        and not path.startswith(("/api/render/", "/api/rendering/"))  # the SDK: walked below
    } - walked
    assert not unwalked, f"endpoints not covered by the isolation walk: {sorted(unwalked)}"


def test_compat_endpoint_is_isolated_too(live_server: LiveServer) -> None:
    world = _alice_world(live_server)
    bob_key = live_server.new_account("bob")
    head = {"account": "bob", "access_key": bob_key, "action": "query_task"}
    r = live_server.client().post(
        "/api/v1/task", json={"head": head, "body": {"task_id": world["task"]}}
    )
    assert r.json()["body"]["data"] == [] and r.json()["head"]["result"] == "0"
    head["action"] = "operate_task"
    r = live_server.client().post(
        "/api/v1/task",
        json={"head": head, "body": {"task_id": [world["task"]], "operate_order": 2}},
    )
    assert r.status_code == 200 and r.json()["head"]["result"] == "1"
    assert r.json()["head"]["error_code"] == "404"


def _records(value: Any) -> list[dict[str, Any]]:
    """Every JSON object inside `value`."""
    if isinstance(value, dict):
        return [value] + [r for v in value.values() for r in _records(v)]
    if isinstance(value, list):
        return [r for v in value for r in _records(v)]
    return []


def test_the_sdk_api_is_isolated_too(live_server: LiveServer) -> None:
    """Every call of the vendor SDK's API, made by bob with alice's ids, shows and changes nothing
    of hers (each handler registered is walked: a new one is covered without a change here)."""
    from sqlalchemy import select

    from foxden.db.schema import frames
    from foxden.server.rayvision.calls import HANDLERS
    from tests.rayvision_kit import sdk_caller

    world = _alice_world(live_server)
    t = world["task"]
    with live_server.farm.db.read() as conn:
        frame_ids = list(conn.execute(select(frames.c.id).where(frames.c.task_id == t)).scalars())
    alice = live_server.client(live_server.user_key)
    alice.put(f"/api/tasks/{t}/configs/tips.json", content=b'{"secret": 1}')
    before = alice.get(f"/api/tasks/{t}").json()
    bob = sdk_caller(live_server.url, live_server.new_account("bob"))
    body = {
        "taskId": t,
        "taskIds": [t],
        "id": frame_ids[0],
        "ids": frame_ids,
        "selectAll": 1,
        "status": 1,
        "delName": "secret-project",
        "newName": "bobs-project",
        "editName": "secret-project",
        "labelNames": ["secret-project"],
        "flag": 2,
        "taskUserLevel": 60,
        "overTime": 100,
        "fileName": "tips.json",
        "content": "{}",
        "treePath": "",
        "pageNum": 1,
        "pageSize": 100,
        "renderingType": 1,
        "frameStatus": 4,
        "count": 1,
    }
    assert len(HANDLERS) > 40
    for path in sorted(HANDLERS):
        reply = bob.post(path, body).json()
        text = json.dumps(reply).replace("secret-project", "")  # what bob sent may be echoed
        assert "secret" not in text and "alice" not in text, (path, text)
        assert f"{t}_scene" not in text, (path, text)  # alice's output folder
        for record in _records(reply["data"]):  # no record of alice's task or frames
            if "frameIndex" in record:
                assert record.get("id") not in frame_ids, (path, record)
            else:
                assert t not in (record.get("id"), record.get("taskId")), (path, record)
    after = alice.get(f"/api/tasks/{t}").json()
    assert after["status"] == before["status"] and after["counts"] == before["counts"]
    assert after["priority"] == before["priority"]
    assert alice.get(f"/api/tasks/{t}/configs/tips.json").content == b'{"secret": 1}'
    assert alice.get("/api/projects/secret-project").status_code == 200
