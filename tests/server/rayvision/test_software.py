"""The SDK's software calls (from what workers report) and render environments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from foxden.db.schema import render_envs
from foxden.farm.accounts import get_account_by_name
from foxden.server.rayvision.software import MAX_ENVS, MAX_PLUGINS
from tests.conftest import LiveServer
from tests.farmkit import register_worker
from tests.rayvision_kit import SdkCaller, sdk_caller

LIST = "/api/render/plugin/querySoftwareList"
DETAIL = "/api/render/plugin/querySoftwareDetail"
ADD = "/api/render/plugin/addUserPluginConfig"
EDIT = "/api/render/plugin/editUserPluginConfig"
DELETE = "/api/render/plugin/deleteUserPluginConfig"
DEFAULT = "/api/render/plugin/setDefaultUserPluginConfig"
GET = "/api/render/plugin/getUserPluginConfig"

BLENDER: list[dict[str, Any]] = [
    {"name": "blender", "version": "3.4.1", "plugins": ["flip-fluids 1.7"]},
    {"name": "Blender", "version": "4.1"},
    {"name": "command", "version": "1"},
]


def _env(name: str, **over: Any) -> dict[str, Any]:
    return {
        "cgId": 2007,
        "cgName": "Blender",
        "cgVersion": "3.4",
        "renderLayerType": 0,
        "editName": name,
        "renderSystem": 1,
        "pluginIds": [],
        **over,
    }


def _envs(caller: SdkCaller, **body: Any) -> dict[str, dict[str, Any]]:
    return {e["editName"]: e for e in caller.call(GET, body)}


def test_software_on_offer_comes_from_the_workers(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    assert caller.call(LIST)["renderInfoList"] == []
    register_worker(live_server.url, live_server.farm.join_key, software=BLENDER)
    listed = caller.call(LIST)
    assert [s["cgId"] for s in listed["renderInfoList"]] == [2007]  # 'command' has no cgId
    assert listed["defaultCgId"] == 2007 and listed["renderInfoList"][0]["cgName"] == "Blender"

    detail = caller.call(DETAIL, {"cgId": 2007, "osName": "windows"})
    versions = [v["cgVersion"] for v in detail["cgVersion"]]
    assert versions == ["3.4", "3.4.1", "4.1"]  # as reported, and 3.4.1 as major.minor too
    assert all(v["id"] and v["cgId"] == 2007 for v in detail["cgVersion"])
    plugins = {p["pluginName"]: p for p in detail["cgPlugin"]}
    assert plugins["flip-fluids"]["pluginVersions"][0]["pluginVersion"] == "flip-fluids 1.7"
    maya = caller.call(DETAIL, {"cgId": 2000, "osName": "linux"})
    assert maya == {"cgVersion": [], "cgPlugin": []}


def test_software_detail_refuses_bad_input(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    assert caller.code(DETAIL, {"osName": "linux"}) == (400, "cgId is required")
    code, message = caller.code(DETAIL, {"cgId": 1, "osName": "linux"})
    assert code == 400 and "2007 (Blender)" in message
    code, message = caller.code(DETAIL, {"cgId": 2007, "osName": "beos"})
    assert code == 400 and "osName" in message
    assert caller.code(DETAIL, {"cgId": "many", "osName": "linux"})[0] == 400


def test_render_environments_round_trip(live_server: LiveServer) -> None:
    register_worker(live_server.url, live_server.farm.join_key, software=BLENDER)
    caller = sdk_caller(live_server.url, live_server.user_key)
    detail = caller.call(DETAIL, {"cgId": 2007, "osName": "linux"})
    plugin_id = detail["cgPlugin"][0]["pluginVersions"][0]["pluginId"]

    assert caller.call(ADD, _env("first", pluginIds=[plugin_id])) == {"editName": "first"}
    caller.call(ADD, _env("second", cgVersion="4.1"))
    envs = _envs(caller)
    assert envs["first"]["isDefault"] == 1 and envs["second"]["isDefault"] == 0
    assert envs["first"]["respUserPluginInfoVos"] == [
        {"pluginId": plugin_id, "pluginName": "flip-fluids", "pluginVersion": "flip-fluids 1.7"}
    ]

    caller.call(DEFAULT, {"editName": "second"})
    envs = _envs(caller)
    assert envs["second"]["isDefault"] == 1 and envs["first"]["isDefault"] == 0

    caller.call(EDIT, _env("first", cgVersion="4.1", renderSystem=0))
    assert _envs(caller)["first"]["cgVersion"] == "4.1"
    assert set(_envs(caller, osName=0)) == {"first"}
    assert set(_envs(caller, osName=1)) == {"second"}
    assert set(_envs(caller, cgIds=["2007"])) == {"first", "second"}
    assert _envs(caller, cgId=2000) == {}

    caller.call(DELETE, {"editName": "second"})  # the default: the other takes over
    envs = _envs(caller)
    assert set(envs) == {"first"} and envs["first"]["isDefault"] == 1


def test_render_environments_refuse_bad_input(live_server: LiveServer) -> None:
    register_worker(live_server.url, live_server.farm.join_key, software=BLENDER)
    caller = sdk_caller(live_server.url, live_server.user_key)
    caller.call(ADD, _env("mine"))
    code, message = caller.code(ADD, _env("mine"))
    assert code == 409 and "exists already" in message
    for name in ("nope", ""):
        for path in (EDIT, DELETE, DEFAULT):
            body = _env(name) if path == EDIT else {"editName": name}
            code, message = caller.code(path, body)
            assert code == (404 if name else 400), (path, name, message)
    code, message = caller.code(ADD, _env("x", pluginIds=[12345]))
    assert code == 400 and "12345" in message
    assert caller.code(ADD, _env("x", pluginIds="all"))[0] == 400
    assert caller.code(ADD, _env("x", renderSystem=7))[0] == 400
    assert caller.code(ADD, _env("x", cgId=99))[0] == 400
    bare = _env("x")
    del bare["cgVersion"]
    assert caller.code(ADD, bare) == (400, "cgVersion is required")
    assert caller.code(GET, {"osName": 5})[0] == 400
    assert set(_envs(caller)) == {"mine"}


def test_render_environments_stay_in_their_account(live_server: LiveServer) -> None:
    register_worker(live_server.url, live_server.farm.join_key, software=BLENDER)
    alice = sdk_caller(live_server.url, live_server.user_key)
    bob = sdk_caller(live_server.url, live_server.new_account("bob"))
    alice.call(ADD, _env("shared-name"))
    assert _envs(bob) == {}
    assert bob.code(DELETE, {"editName": "shared-name"})[0] == 404
    assert bob.code(DEFAULT, {"editName": "shared-name"})[0] == 404
    bob.call(ADD, _env("shared-name", cgVersion="4.1"))  # names are per account
    assert _envs(alice)["shared-name"]["cgVersion"] == "3.4"
    assert _envs(bob)["shared-name"]["cgVersion"] == "4.1"


def test_an_account_keeps_a_bounded_number_of_environments(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    account_id = get_account_by_name(live_server.farm.db, "alice").id
    rows = [
        {
            "account_id": account_id,
            "edit_name": f"env{i}",
            "cg_id": 2007,
            "cg_name": "Blender",
            "cg_version": "3.4",
            "plugin_ids": [],
            "is_default": i == 0,
            "created_at": 0.0,
        }
        for i in range(MAX_ENVS)
    ]
    with live_server.farm.db.write() as conn:
        conn.execute(insert(render_envs), rows)
    code, message = caller.code(ADD, _env("one-more"))
    assert code == 409 and "delete one first" in message
    code, message = caller.code(EDIT, _env("env1", pluginIds=list(range(1, MAX_PLUGINS + 2))))
    assert code == 400 and "more than" in message
    assert len(caller.call(GET, {})) == MAX_ENVS
