"""The vendor's `POST /api/v1/task` endpoint with `{head, body}` envelopes."""

from __future__ import annotations

import ssl
import threading
from typing import Any

import httpx
import pytest

from foxden.farm import workers
from foxden.wire.worker import SoftwareEntry, WorkerRegister
from foxden.worker.protocol import WorkerClient
from tests.conftest import LiveServer
from tests.farmkit import UNREADABLE_BLEND, register_worker, upload


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


def _failed(reply: httpx.Response, code: str, message: str) -> bool:
    """Whether a reply is the vendor's failure: HTTP 200, result "1", the code and the message."""
    head = reply.json()["head"]
    return (
        reply.status_code == 200
        and head["result"] == "1"
        and head["error_code"] == code
        and message in head["error_message"]
    )


def test_vendor_actions(live_server: LiveServer) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    user = _call(live_server, "query_customer", {}).json()
    assert user["head"]["result"] == "0" and user["body"]["data"][0]["login_name"] == "alice"
    plugins = _call(live_server, "query_plugin", {}).json()["body"]
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
    assert _failed(r, "401", "wrong access key")
    r = _call(live_server, "query_customer", {}, account="mallory")
    assert _failed(r, "401", "does not belong")
    r = _call(
        live_server,
        "create_task",
        {"project_name": "none", "input_scene_path": "/x", "frames": "1"},
    )
    assert _failed(r, "404", "no project named 'none'")
    r = _call(live_server, "fly", {})
    assert _failed(r, "400", "unknown action 'fly'")


def test_vendor_bodies_of_the_wrong_shape_answer_200_with_the_error(
    live_server: LiveServer,
) -> None:
    http = live_server.client()
    for payload in ([1, 2], "text", 7, False, {"head": [1], "body": {}}, {"head": {}, "body": "x"}):
        r = http.post("/api/v1/task", json=payload)
        assert _failed(r, "400", "JSON object"), (payload, r.text)
    for raw in (b"{not json", b"", b"\xff\xfe"):
        r = http.post("/api/v1/task", content=raw, headers={"Content-Type": "application/json"})
        assert _failed(r, "400", "not JSON"), (raw, r.text)


def _client_call(
    http: httpx.Client, key: str, action: str, body: dict[str, Any], account: str = "alice"
) -> dict[str, Any]:
    """One call as the vendor's original client makes it; like it, fail on any status but 200."""
    head = {"access_key": key, "account": account, "msg_locale": "en", "action": action}
    reply = http.post("/api/v1/task", json={"head": head, "body": body})
    assert reply.status_code == 200, reply.text
    out: dict[str, Any] = reply.json()
    assert out["head"]["result"] == "0", out["head"]
    return out["body"]  # type: ignore[no-any-return]


def test_the_original_client_call_by_call(live_server: LiveServer) -> None:
    """Every action as the vendor's first client sends it, in its types, and what it reads back."""
    register_worker(live_server.url, live_server.farm.join_key)
    http = live_server.client()
    key = live_server.user_key

    # the constructor: log in, read the id, the transfer ids and the transports
    user = _client_call(http, key, "query_customer", {"login_name": "alice"})["data"][0]
    assert isinstance(user["id"], int)
    assert user["upload_id"] == user["download_id"] == user["id"]
    (transport,) = user["transports"]
    host, port = live_server.url.removeprefix("http://").rsplit(":", 1)
    assert transport == {"engine": "foxden-http", "server": host, "ip": host, "port": int(port)}

    # get_plugins_available: the list is the body itself; filters narrow it
    plugins = _client_call(http, key, "query_plugin", {})
    assert {"cg_soft_name": "blender 3.4", "plugin_name": ""} in plugins
    assert _client_call(http, key, "query_plugin", {"cg_soft_name": "maya"}) == []

    # create_project: the new id is body.project_id
    created = _client_call(
        http,
        key,
        "create_project",
        {"project_name": "shots", "project_path": "", "render_os": "linux", "remark": "x"},
    )
    project_id = created["project_id"]
    assert isinstance(project_id, int) and created["data"][0]["project_id"] == project_id

    # add/modify/delete_project_config: operate_type 0/1/2 by project id, is_default an int
    def operate(operate_type: int, **fields: Any) -> list[dict[str, Any]]:
        body = {"operate_type": operate_type, "project_id": project_id, **fields}
        plugins: list[dict[str, Any]] = _client_call(http, key, "operate_project", body)["data"][0][
            "plugins"
        ]
        return plugins

    configs = operate(0, config_id=None, cg_soft_name="command 1", plugin_name=None, is_default=0)
    assert [c["is_default"] for c in configs] == ["1"]  # the first one is the default
    configs = operate(0, cg_soft_name="blender 3.4", plugin_name="", is_default=0)
    assert [c["is_default"] for c in configs] == ["1", "0"]
    blender = configs[1]["config_id"]
    configs = operate(1, config_id=blender, cg_soft_name="blender 3.4", is_default=1)
    assert [c["is_default"] for c in configs] == ["0", "1"]
    configs = operate(2, config_id=configs[0]["config_id"])
    assert [(c["config_id"], c["is_default"]) for c in configs] == [(blender, "1")]

    # get_project_plugins_config / submit_task: pick the config whose is_default == "1"
    (project,) = _client_call(http, key, "query_project", {"project_name": "shots"})["data"]
    (default,) = [c for c in project["plugins"] if c["is_default"] == "1"]
    upload(live_server.client(key), r"E:\test_files\shot.blend", UNREADABLE_BLEND)
    body = _client_call(
        http,
        key,
        "create_task",
        {
            "project_name": "shots",
            "input_scene_path": r"E:\test_files\shot.blend".replace(":", "").replace("\\", "/"),
            "frames": "1-3[1]",
            "submit_account": "alice",
            "cg_soft_name": default["cg_soft_name"],
            "plugin_name": default["plugin_name"],
            "camera": "cam",
        },
    )
    task_id = int(body["data"][0]["task_id"])
    body = _client_call(
        http,
        key,
        "create_task",
        {"project_name": "shots", "input_scene_path": "E/test_files/shot.blend", "frames": "7"},
    )
    other = int(body["data"][0]["task_id"])

    # get_tasks: task_id as a string, is_jobs_included "1" for the frames
    (task,) = _client_call(
        http, key, "query_task", {"task_id": str(task_id), "is_jobs_included": "1"}
    )["data"]
    assert task["input_scene_path"] == "/e/test_files/shot.blend"
    assert [j["job_name"] for j in task["jobs"]] == ["frame0001", "frame0002", "frame0003"]
    (task,) = _client_call(http, key, "query_task", {"task_id": str(task_id)})["data"]
    assert "jobs" not in task
    listed = _client_call(http, key, "query_task", {"task_filter": {"project_name": "shots"}})
    assert listed["total_size"] == 2

    # stop_tasks / restart_tasks / delete_tasks: operate_order as text, ids as "12,13"
    both = f"{task_id},{other}"
    stopped = _client_call(http, key, "operate_task", {"task_id": both, "operate_order": "0"})
    assert [t["task_status"] for t in stopped["data"]] == ["Stopped", "Stopped"]
    restarted = _client_call(
        http,
        key,
        "operate_task",
        {"task_id": str(other), "operate_order": "1", "restart_type": "3"},
    )
    assert restarted["data"][0]["task_id"] == other
    if restarted["data"][0]["task_status"] != "Stopped":  # frames of that kind went back
        _client_call(http, key, "operate_task", {"task_id": str(other), "operate_order": "0"})
    deleted = _client_call(http, key, "operate_task", {"task_id": both, "operate_order": "2"})
    assert [d["task_id"] for d in deleted["data"]] == [task_id, other]
    assert _client_call(http, key, "query_task", {})["total_size"] == 0

    # delete_project_config(project_id): no config_id deletes them all
    assert operate(2) == []


def test_every_error_answers_200_with_a_message(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    http = live_server.client()
    _client_call(http, live_server.user_key, "create_project", {"project_name": "p"})
    # wrong types and values, in every action
    for action, body, code, message in (
        ("query_task", {"task_id": "twelve"}, "400", "task_id must be a whole number"),
        ("query_task", {"task_id": [1]}, "400", "task_id must be a whole number"),
        ("query_task", {"task_filter": "x"}, "400", "task_filter must be a JSON object"),
        ("query_task", {"page_size": "many"}, "400", "page_size must be a whole number"),
        ("operate_task", {"task_id": "1,x", "operate_order": "0"}, "400", "whole number"),
        ("operate_task", {"task_id": "", "operate_order": "0"}, "400", "names no task"),
        ("operate_task", {"operate_order": "0"}, "400", "task_id is required"),
        ("operate_task", {"task_id": "1", "operate_order": "9"}, "400", "operate_order must"),
        ("operate_task", {"task_id": "1", "operate_order": "1", "restart_type": "x"}, "400", ""),
        ("operate_task", {"task_id": "1", "operate_order": "0"}, "404", ""),
        ("operate_project", {"project_id": "p", "operate_type": 0}, "400", "project_id must"),
        ("operate_project", {"project_id": 99, "operate_type": 0}, "404", "no project 99"),
        ("operate_project", {"project_name": "p", "operate_type": 5}, "400", "operate_type"),
        ("operate_project", {"operate_type": 0}, "400", "name the project"),
        ("create_project", {"project_name": "q", "plugins": "x"}, "400", "plugins must"),
        ("create_task", {"project_name": "p"}, "400", "input_scene_path is required"),
        ("create_task", {"project_name": "p", "frames": "1", "input_scene_path": 5}, "400", ""),
        ("create_task", {"project_name": "p", "frames": [1], "input_scene_path": "/a"}, "", ""),
        ("create_task", {"project_name": "p", "frames": "1", "input_scene_path": "/a"}, "", ""),
        ("query_project", {"project_name": {"a": 1}}, "", ""),
    ):
        reply = _call(live_server, action, body)
        head = reply.json()["head"]
        assert reply.status_code == 200 and head["result"] == "1", (action, body, reply.text)
        assert head["error_code"].isdigit() and head["error_message"], (action, body, head)
        assert not code or head["error_code"] == code, (action, body, head)
        assert message in head["error_message"], (action, body, head)
    # numbers no id can be, and numbers the database cannot hold
    assert _failed(_call(live_server, "query_task", {"task_id": "9" * 40}), "400", "whole number")
    assert _failed(_call(live_server, "query_task", {"task_id": 2**40}), "400", "between")
    assert _failed(
        _call(live_server, "operate_task", {"task_id": [2**63], "operate_order": 0}),
        "400",
        "between",
    )
    huge = {"project_name": "p", "input_scene_path": "/a", "frames": "1", "config_id": 2**70}
    upload(live_server.client(live_server.user_key), "/a", b"a")
    assert _failed(_call(live_server, "create_task", huge), "422", "out of the range")
    # an access key that is no text, an account that is a list
    r = http.post("/api/v1/task", json={"head": {"access_key": 5, "account": [1]}, "body": {}})
    assert r.status_code == 200 and r.json()["head"]["result"] == "1"

    # an unexpected failure of the server: logged, and still the vendor's envelope
    def boom(*_: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(workers, "software_on_offer", boom)
    r = _call(live_server, "query_plugin", {})
    assert _failed(r, "500", "Server internal error") and "disk on fire" not in r.text

    # a body over the cap
    cap = live_server.farm.settings.max_json_bytes
    big = {"head": {}, "body": {"x": "a" * (cap + 10)}}
    assert _failed(http.post("/api/v1/task", json=big), "413", "larger than")


def test_rate_limited_logins_answer_200_with_429_in_head(live_server: LiveServer) -> None:
    for i in range(12):
        r = _call(live_server, "query_customer", {}, key=f"wrong-{i}")
    assert _failed(r, "429", "")
    assert int(r.headers["Retry-After"]) >= 1


def test_the_original_client_over_https(tls_server: LiveServer) -> None:
    """The vendor's client always speaks `https://{render_server}/api/v1/task`: the same calls
    over HTTPS with the farm's self-signed certificate, errors in the envelope with HTTP 200."""
    cert = tls_server.data_dir / "tls" / "cert.pem"
    worker = WorkerClient(tls_server.url, threading.Event(), verify=cert)
    software = [SoftwareEntry(name="command", version="1")]
    worker.register(tls_server.farm.join_key, WorkerRegister(name="w", software=software))
    worker.close()
    http = tls_server.client(verify=ssl.create_default_context(cafile=str(cert)))
    key = tls_server.user_key
    user = _client_call(http, key, "query_customer", {"login_name": "alice"})["data"][0]
    port = int(tls_server.url.rsplit(":", 1)[1])
    assert user["transports"] == [
        {"engine": "foxden-https", "server": "127.0.0.1", "ip": "127.0.0.1", "port": port}
    ]
    assert {"cg_soft_name": "command 1", "plugin_name": ""} in _client_call(
        http, key, "query_plugin", {}
    )
    project_id = _client_call(http, key, "create_project", {"project_name": "tls"})["project_id"]
    body = {"operate_type": 0, "project_id": project_id, "cg_soft_name": "command 1"}
    (project,) = _client_call(http, key, "operate_project", body)["data"]
    assert [c["is_default"] for c in project["plugins"]] == ["1"]
    head = {"access_key": "wrong", "account": "alice", "action": "query_customer"}
    reply = http.post("/api/v1/task", json={"head": head, "body": {"login_name": "alice"}})
    assert _failed(reply, "401", "wrong access key")
    reply = http.post("/api/v1/task", content=b"{", headers={"Content-Type": "application/json"})
    assert _failed(reply, "400", "not JSON")
