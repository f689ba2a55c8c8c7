"""The vendor's `POST /api/v1/task` endpoint with `{head, body}` envelopes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.farmkit import register_worker, upload


def _call(
    live: LiveServer,
    action: str,
    body: dict[str, Any],
    key: str | None = None,
    account: str = "alice",
) -> httpx.Response:
    head = {
        "account": account,
        "access_key": key or live.user_key,
        "action": action,
        "msg_locale": "en",
    }
    return live.client().post("/api/v1/task", json={"head": head, "body": body})


def test_vendor_actions(live_server: LiveServer) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    user = _call(live_server, "query_customer", {}).json()
    assert user["head"]["result"] == "0" and user["body"]["data"][0]["login_name"] == "alice"
    plugins = _call(live_server, "query_plugin", {}).json()["body"]["data"]
    assert {"cg_soft_name": "blender 3.4", "plugin_name": ""} in plugins
    r = _call(
        live_server,
        "create_project",
        {"project_name": "api", "plugins": [{"cg_soft_name": "command 1"}]},
    )
    assert r.json()["body"]["data"][0]["project_name"] == "api"
    r = _call(
        live_server,
        "operate_project",
        {"project_name": "api", "operate_type": 0, "cg_soft_name": "blender 3.4"},
    )
    assert len(r.json()["body"]["data"][0]["plugins"]) == 2
    upload(
        live_server.client(live_server.user_key), r"E:\test_files\2014_api_camera_layer.mb", b"maya"
    )
    r = _call(
        live_server,
        "create_task",
        {
            "project_name": "api",
            "input_scene_path": r"E:\test_files\2014_api_camera_layer.mb",
            "frames": "1073-1073[1]",
            "render_layer": "ball",
            "camera": "camera1",
        },
    )
    task_id = r.json()["body"]["data"][0]["task_id"]
    assert isinstance(task_id, int)
    tasks = _call(live_server, "query_task", {"task_id": task_id, "has_frames": 1}).json()["body"][
        "data"
    ]
    assert tasks[0]["task_status"] == "Start" and tasks[0]["jobs"][0]["job_name"] == "frame1073"
    assert tasks[0]["input_scene_path"] == "/e/test_files/2014_api_camera_layer.mb"
    assert (
        _call(live_server, "query_task", {"task_status": "Start"}).json()["body"]["total_size"] == 1
    )
    stopped = _call(live_server, "operate_task", {"task_id": [task_id], "operate_order": 0}).json()
    assert stopped["body"]["data"][0]["task_status"] == "Stopped"
    deleted = _call(live_server, "operate_task", {"task_id": [task_id], "operate_order": 2}).json()
    assert deleted["body"]["data"][0]["deleted"] is True


def test_vendor_errors_come_back_in_head(live_server: LiveServer) -> None:
    r = _call(live_server, "query_customer", {}, key="wrong")
    assert (
        r.status_code == 401
        and r.json()["head"]["result"] == "1"
        and "wrong access key" in r.json()["head"]["error_message"]
    )
    r = _call(live_server, "query_customer", {}, account="mallory")
    assert r.status_code == 401 and "does not belong" in r.json()["head"]["error_message"]
    r = _call(
        live_server,
        "create_task",
        {"project_name": "none", "input_scene_path": "/x", "frames": "1"},
    )
    assert (
        r.json()["head"]["result"] == "1"
        and "no project named 'none'" in r.json()["head"]["error_message"]
    )
    r = _call(live_server, "fly", {})
    assert "unknown action 'fly'" in r.json()["head"]["error_message"]


def test_vendor_bodies_of_the_wrong_shape_get_400(live_server: LiveServer) -> None:
    http = live_server.client()
    for payload in ([1, 2], "text", 7, {"head": [1], "body": {}}, {"head": {}, "body": "x"}):
        r = http.post("/api/v1/task", json=payload)
        assert r.status_code == 400, (payload, r.text)
        assert (
            r.json()["head"]["result"] == "1" and "JSON object" in r.json()["head"]["error_message"]
        )
