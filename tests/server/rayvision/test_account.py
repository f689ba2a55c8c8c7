"""The SDK's account calls: settings, hardware configs, records, platforms."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload
from tests.rayvision_kit import sdk_caller

SETTING = "/api/render/setUp/queryUserSetting"
UPDATE = "/api/render/setUp/updateUserSetting"
HARDWARE = "/api/render/hardwareConfig/list"
TASKS = "/api/render/handle/operate/sdk/taskRecord"
LOGINS = "/api/render/handle/operate/sdk/loginRecord"
PLATFORMS = "/api/render/common/queryPlatforms"

DEMO_CONFIG = {"model": "Default", "ram": "64GB", "gpuNum": None}


def _join(live: LiveServer, name: str, memory_mb: int, gpus: list[str]) -> None:
    """A worker that reports its memory and GPUs."""
    reply = httpx.post(
        f"{live.url}/api/worker/register",
        json={"name": name, "memory_mb": memory_mb, "gpus": gpus, "cores": 8},
        headers={"Authorization": f"Bearer {live.farm.join_key}"},
        timeout=30,
    )
    reply.raise_for_status()


def _matches(wanted: dict[str, Any], configs: list[dict[str, Any]], platform: int = 2) -> list[Any]:
    """The ids RayvisionCheck.set_custom_hardware picks: enabled configs of the platform equal
    in model ("Default": any of the listed models), ram and gpuNum."""
    models = {c["model"] for c in configs} if "Default" in wanted["model"] else {wanted["model"]}
    return [
        c["id"]
        for model in models
        for c in configs
        if c["status"]
        and c["platform"] == platform
        and (c["model"], c["ram"], c["gpuNum"]) == (model, wanted["ram"], wanted["gpuNum"])
    ]


def test_the_task_time_limit_is_kept(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    assert caller.call(SETTING)["taskOverTimeSec"] is None
    caller.call(UPDATE, {"taskOverTimeSec": 7200})
    assert caller.call(SETTING)["taskOverTimeSec"] == 7200
    other = sdk_caller(live_server.url, live_server.new_account("bob"))
    assert other.call(SETTING)["taskOverTimeSec"] is None
    caller.call(UPDATE, {"taskOverTimeSec": 0})  # no limit
    assert caller.call(SETTING)["taskOverTimeSec"] is None
    assert caller.code(UPDATE, {}) == (400, "taskOverTimeSec is required")
    for bad in ("soon", 10, -5, 10**9, True, 1.5):
        code, message = caller.code(UPDATE, {"taskOverTimeSec": bad})
        assert code == 400 and "taskOverTimeSec" in message, bad


def test_hardware_configs_come_from_the_workers(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    code, message = caller.code(HARDWARE, {"cloneTask": "false"})
    assert code == 409 and "start a worker" in message
    _join(live_server, "big", 64 * 1000, [])  # a 64 GB machine reports a little less
    _join(live_server, "gpu", 16 * 1024, ["RTX 4090", "RTX 4090"])
    configs = caller.call(HARDWARE, {"cloneTask": "false"})
    keys = {(c["model"], c["ram"], c["gpuNum"]) for c in configs}
    assert ("CPU", "64GB", None) in keys and ("CPU", "128GB", None) not in keys
    assert ("RTX 4090", "16GB", "2*GPU") in keys and ("RTX 4090", "16GB", "1*GPU") in keys
    assert ("RTX 4090", "32GB", "1*GPU") in keys  # up to the standard 64 GB: every worker
    assert ("RTX 4090", "128GB", "1*GPU") not in keys
    assert len({c["id"] for c in configs}) == len(configs)
    assert all(c["notSupportCgId"] == [] and c["platform"] == 2 for c in configs)

    assert len(_matches(DEMO_CONFIG, configs)) == 1
    assert _matches({"model": "RTX 4090", "ram": "16GB", "gpuNum": "2*GPU"}, configs)
    assert _matches({"model": "CPU", "ram": "512GB", "gpuNum": None}, configs) == []
    assert _matches({"model": "RTX 4090", "ram": "64GB", "gpuNum": "4*GPU"}, configs) == []
    assert _matches({"model": "A100", "ram": "64GB", "gpuNum": "1*GPU"}, configs) == []
    assert caller.call(HARDWARE, {"cloneTask": "false"}) == configs  # the same ids each time
    assert caller.code(HARDWARE, {"taskIds": ["x"]})[0] == 400


def test_any_worker_serves_the_demo(live_server: LiveServer) -> None:
    register_worker(live_server.url, live_server.farm.join_key)  # reports no memory size
    caller = sdk_caller(live_server.url, live_server.user_key)
    configs = caller.call(HARDWARE, {"cloneTask": "false"})
    assert _matches(DEMO_CONFIG, configs)
    assert {c["ram"] for c in configs} == {"8GB", "16GB", "32GB", "64GB"}
    _join(live_server, "small", 8 * 1024, [])
    _join(live_server, "huge", 256 * 1024, [])
    configs = caller.call(HARDWARE, {"cloneTask": "false"})
    assert len(_matches(DEMO_CONFIG, configs)) == 1
    assert _matches({"model": "CPU", "ram": "256GB", "gpuNum": None}, configs)
    third = caller.post(HARDWARE, {"cloneTask": "false"}, platform="21").json()["data"]
    assert {c["platform"] for c in third} == {21}  # the farm is the caller's platform


def test_task_and_login_records(live_server: LiveServer) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    user = live_server.client(live_server.user_key)
    make_project(user)
    upload(user, "/v/p/scene.txt", b"scene")
    first = submit(user, project_name="proj", input_scene_path="/v/p/scene.txt", frames="1-2")
    second = submit(user, project_name="proj", input_scene_path="/v/p/scene.txt", frames="3")
    caller = sdk_caller(live_server.url, live_server.user_key)
    body = {"platform": 2, "pageNum": 1, "pageSize": 1, "startDate": "", "endDate": ""}
    page = caller.call(TASKS, body)
    assert page["total"] == 2 and page["pageCount"] == 2
    assert [i["taskId"] for i in page["items"]] == [second["id"]]
    assert page["items"][0]["taskStatus"] == 0 and page["items"][0]["sceneName"] == "scene.txt"
    assert caller.call(TASKS, {**body, "pageNum": 2})["items"][0]["taskId"] == first["id"]
    assert caller.call(TASKS, {**body, "endDate": "2001-01-01"})["total"] == 0
    assert caller.call(TASKS, {**body, "startDate": "2001-01-01 00:00:00"})["total"] == 2
    bob = sdk_caller(live_server.url, live_server.new_account("bob"))
    assert bob.call(TASKS, body)["total"] == 0
    code, message = caller.code(TASKS, {**body, "startDate": "yesterday"})
    assert code == 400 and "startDate" in message
    assert caller.code(TASKS, {**body, "pageSize": 100000})[0] == 400

    logins = {"pageNum": 1, "pageSize": 10, "startDate": "", "endDate": ""}
    assert caller.call(LOGINS, logins)["total"] == 0
    caller.call(SETTING)  # the SDK's login asks for the settings
    page = caller.call(LOGINS, logins)
    assert page["total"] == 1 and page["items"][0]["userName"] == "alice"
    assert caller.call(LOGINS, {**logins, "endDate": "2001-01-01"})["total"] == 0
    assert caller.code(LOGINS, {**logins, "pageNum": 0})[0] == 400


def test_the_farm_is_one_platform(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    platforms = caller.call(PLATFORMS, {"zone": 2})
    assert len(platforms) == 1 and platforms[0]["platform"] == 2 and platforms[0]["name"]
    assert caller.code(PLATFORMS, {})[0] == 400
    assert caller.code(PLATFORMS, {"zone": 9})[0] == 400
