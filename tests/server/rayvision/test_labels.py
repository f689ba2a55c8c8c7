"""The SDK's labels (projects) and task labels."""

from __future__ import annotations

from tests.conftest import LiveServer
from tests.rayvision_kit import SdkCaller, sdk_caller

ADD = "/api/render/project/add"
DELETE = "/api/render/project/delete"
GET_LIST = "/api/render/project/getList"
LIST = "/api/render/project/list"


def _names(caller: SdkCaller, flag: int | None = None) -> dict[str, int]:
    reply = caller.call(GET_LIST) if flag is None else caller.call(LIST, {"flag": flag})
    return {p["projectName"]: p["projectId"] for p in reply["projectNameList"]}


def test_labels_are_the_accounts_projects(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    assert _names(caller) == {}
    caller.call(ADD, {"newName": "shot 10", "status": 1})
    caller.call(ADD, {"newName": "shot 20"})
    names = _names(caller)
    assert set(names) == {"shot 10", "shot 20"}
    assert all(_names(caller, flag) == names for flag in (0, 1, 2))
    web = live_server.client(live_server.user_key).get("/api/projects").json()
    assert {p["project_name"]: p["plugins"] for p in web} == {"shot 10": [], "shot 20": []}
    caller.call(DELETE, {"delName": "shot 10"})
    assert set(_names(caller)) == {"shot 20"}


def test_labels_refuse_bad_input(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    caller.call(ADD, {"newName": "shot"})
    code, message = caller.code(ADD, {"newName": "shot"})
    assert code == 409 and "exists" in message
    assert caller.code(ADD, {}) == (400, "newName is required")
    assert caller.code(ADD, {"newName": "a/b"})[0] == 400
    assert caller.code(ADD, {"newName": "x" * 200})[0] == 400
    assert caller.code(ADD, {"newName": "ok", "status": 3})[0] == 400
    assert caller.code(ADD, {"newName": ["list"]})[0] == 400
    assert caller.code(DELETE, {"delName": "nope"})[0] == 404
    assert caller.code(DELETE, {})[0] == 400
    assert caller.code(LIST, {})[0] == 400
    assert caller.code(LIST, {"flag": 3})[0] == 400
    assert set(_names(caller)) == {"shot"}


def test_another_accounts_labels_are_invisible(live_server: LiveServer) -> None:
    alice = sdk_caller(live_server.url, live_server.user_key)
    bob = sdk_caller(live_server.url, live_server.new_account("bob"))
    alice.call(ADD, {"newName": "secret"})
    assert _names(bob, 2) == {} and _names(bob) == {}
    assert bob.code(DELETE, {"delName": "secret"})[0] == 404
    bob.call(ADD, {"newName": "secret"})  # names are per account
    assert _names(alice)["secret"] != _names(bob)["secret"]
    assert set(_names(alice)) == {"secret"}


def test_task_labels_are_refused_clearly(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    for path, body in (
        ("/api/render/handle/addTaskLabel", {"label": "x", "taskIds": [1]}),
        ("/api/render/handle/deleteTaskLabel", {"taskIds": [1], "labelNames": ["x"]}),
    ):
        code, message = caller.code(path, body)
        assert code == 501 and "foxden does not" in message
