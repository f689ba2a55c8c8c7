"""The SDK's transfer calls: this farm as the transfer line, and the output storage's tree."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.conftest import LiveServer, farm_settings, running_server
from tests.farmkit import make_project, register_worker, submit, upload
from tests.rayvision_kit import sdk_caller

CONFIG = "/api/render/transfer/getConfig"
USER_KEY = "/api/render/transfer/getRaySyncUserKey"
SERVER = "/api/render/transfer/getServerInfo"
FILES = "/api/render/file/operate/getOutputUserDirFile"


def _default_line(config: dict[str, Any], engine: str = "aspera") -> dict[str, Any]:
    """The line rayvision_sync picks: the engine's first line with isDefault set."""
    for entry in config["resqEngines"]:
        if entry["engineName"].lower() == engine:
            return next(line for line in entry["respTaskEngineLines"] if line["isDefault"])
    raise AssertionError(f"no engine {engine}")


def test_the_transfer_line_is_this_farm(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    line = _default_line(caller.call(CONFIG))
    assert line["server"] == live_server.url
    assert line["port"] == urlsplit(live_server.url).port and isinstance(line["port"], int)
    key = caller.call(USER_KEY)
    assert isinstance(key["raySyncUserKey"], str) and key["raySyncUserKey"]
    assert caller.access_id not in key["raySyncUserKey"] and caller.secret not in str(key)
    info = caller.call(SERVER, {"zone": 2})["raysyncTransfer"]
    assert info["serverIp"] == "127.0.0.1" and info["serverPort"] == line["port"]
    assert caller.code(SERVER, {"zone": 7})[0] == 400


def test_the_public_url_wins(db_url: str, tmp_path: Path) -> None:
    settings = farm_settings(db_url, tmp_path, public_url="https://farm.test:9443/")
    with running_server(settings) as live:
        caller = sdk_caller(f"http://127.0.0.1:{settings.port}", live.user_key)
        line = _default_line(caller.call(CONFIG))
        assert line == {
            "name": "foxden",
            "server": "https://farm.test:9443",
            "port": 9443,
            "isDefault": 1,
        }
        assert caller.call(SERVER, {"zone": 1})["raysyncTransfer"]["serverIp"] == "farm.test"


def _rendered_task(live: LiveServer) -> int:
    worker = register_worker(live.url, live.farm.join_key)
    user = live.client(live.user_key)
    make_project(user)
    upload(user, "/v/p/shot.txt", b"scene")
    task = submit(
        user, project_name="proj", input_scene_path="/v/p/shot.txt", frames="1-2", chunk_size=2
    )
    lease = worker.post("/api/worker/claim", json={}).json()
    outputs = []
    for frame, name in ((1, "shot_0001.png"), (2, "passes/shot_0002.exr")):
        data = f"image {frame}".encode()
        digest = hashlib.sha256(data).hexdigest()
        worker.put(
            f"/api/worker/blobs/{digest}", params={"lease": lease["lease_id"]}, content=data
        ).raise_for_status()
        outputs.append(
            {
                "frame": frame,
                "status": "done",
                "outputs": [{"name": name, "hash": digest, "size": len(data)}],
            }
        )
    worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": outputs}
    ).raise_for_status()
    return int(task["id"])


def test_the_output_storage_tree(live_server: LiveServer) -> None:
    task_id = _rendered_task(live_server)
    folder = f"{task_id}_shot"
    caller = sdk_caller(live_server.url, live_server.user_key)
    top = caller.call(FILES, {"treePath": "/"})
    assert [(e["name"], e["isDir"], e["taskId"]) for e in top] == [(folder, True, task_id)]
    inside = caller.call(FILES, {"treePath": "/", "taskId": task_id})
    assert [(e["name"], e["isDir"], e["path"]) for e in inside] == [
        ("passes", True, f"/{folder}/passes"),
        ("shot_0001.png", False, f"/{folder}/shot_0001.png"),
    ]
    assert inside[1]["size"] == len(b"image 1")
    deeper = caller.call(FILES, {"treePath": f"/{folder}/passes"})
    assert [e["path"] for e in deeper] == [f"/{folder}/passes/shot_0002.exr"]
    assert caller.call(FILES, {"treePath": f"/{folder}"}) == inside

    assert caller.code(FILES, {})[0] == 400
    assert caller.code(FILES, {"treePath": "/../x"})[0] == 400
    assert caller.code(FILES, {"treePath": "/999_nope"})[0] == 404
    assert caller.code(FILES, {"treePath": "/", "taskId": "x"})[0] == 400
    bob = sdk_caller(live_server.url, live_server.new_account("bob"))
    assert bob.call(FILES, {"treePath": "/"}) == []
    assert bob.code(FILES, {"treePath": "/", "taskId": task_id})[0] == 404
    assert bob.code(FILES, {"treePath": f"/{folder}"})[0] == 404
    assert httpx.get(live_server.url + FILES).json()["code"] == 405
