"""The SDK's submit calls over HTTP: createTask, taskJsonFile (and the REST configs pair),
task (submit from task.json, with a real .blend), queryAnalyseErrorDetail, getUserPackNodeInfo."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from foxden.frames import parse
from tests.conftest import LiveServer
from tests.farmkit import register_worker, upload
from tests.rayvision_kit import SdkCaller, sdk_caller
from tests.scenes import make_scenes

CREATE = "/api/render/submit/createTask"
JSON_FILE = "/api/render/submit/taskJsonFile"
SUBMIT = "/api/render/submit/task"

# What the vendor's Blender analyser writes for anim.blend (frames 1-5, cameras CamA and CamB).
FULL: dict[str, Any] = {
    "software_config": {"cg_name": "Blender", "cg_version": "3.4", "plugins": {}},
    "scene_info_render": {
        "common": {
            "width": "64",
            "height": "48",
            "scene_name": ["Scene"],
            "Output_path": "/tmp\\",
            "camera_name": '<bpy_struct, Object("CamB")>',
            "Render_Format": "PNG",
            "frames": "2-4[1]",
        }
    },
    "task_info": {
        "input_cg_file": "D:/proj/anim.blend",
        "project_name": "SdkProject",
        "frames_per_task": "2",
        "cg_id": "2007",
        "os_name": "1",
        "platform": "2",
        "channel": "4",
    },
    "scene_info": {},
}
# What a Linux user sends: the vendor's analyser does not run there, so no scene info.
SKELETON: dict[str, Any] = {
    "software_config": {"cg_name": "Blender", "cg_version": "3.4", "plugins": {}},
    "task_info": {"input_cg_file": "/home/u/shots/anim.blend", "cg_id": "2007", "os_name": "0"},
    "scene_info": {},
    "scene_info_render": {},
}


@pytest.fixture(scope="module")
def anim_blend(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """anim.blend, made by the real Blender."""
    out = make_scenes(tmp_path_factory.mktemp("scenes"), "--only", "anim")
    return (out / "anim.blend").read_bytes()


def _draft(caller: SdkCaller, **body: Any) -> int:
    data = caller.call(CREATE, {"count": 1, "taskUserLevel": 50, **body})
    task_id: int = data["taskIdList"][0]
    return task_id


def _put_json(
    caller: SdkCaller, task_id: int, data: dict[str, Any], name: str = "task.json"
) -> None:
    caller.call(JSON_FILE, {"taskId": task_id, "fileName": name, "content": json.dumps(data)})


def test_create_task_reserves_drafts_that_nobody_sees_or_renders(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    user = live_server.client(live_server.user_key)
    me = caller.call("/api/render/setUp/queryUserProfile")
    data = caller.call(CREATE, {"count": 3, "taskUserLevel": 50, "artist": "ann"})
    ids = data["taskIdList"]
    assert len(set(ids)) == 3 and all(isinstance(i, int) for i in ids)
    assert data["aliasTaskIdList"] == [str(i) for i in ids]
    assert data["userId"] == me["userId"]
    assert user.get("/api/tasks").json()["total"] == 0  # drafts are not listed
    worker = register_worker(live_server.url, live_server.farm.join_key)
    assert worker.post("/api/worker/claim", json={}).status_code == 204  # nor claimed
    more = caller.call(CREATE, {"count": 1, "taskUserLevel": 50})["taskIdList"]
    assert more[0] not in ids
    for bad in (0, 101, "x"):
        code, message = caller.code(CREATE, {"count": bad, "taskUserLevel": 50})
        assert code == 400 and "count" in message


def test_submit_from_a_full_task_json_keeps_the_draft_id(
    live_server: LiveServer, anim_blend: bytes
) -> None:
    register_worker(live_server.url, live_server.farm.join_key)  # offers blender 3.4.1
    caller = sdk_caller(live_server.url, live_server.user_key)
    user = live_server.client(live_server.user_key)
    task_id = _draft(caller, artist="ann")
    upload(user, "D:/proj/anim.blend", anim_blend)
    _put_json(caller, task_id, FULL)
    _put_json(
        caller,
        task_id,
        {"asset": [{"local": "E:/lib/tex.png", "server": "/E/lib/tex.png"}]},
        "upload.json",
    )
    reply = caller.call(SUBMIT, {"taskId": task_id})
    assert reply["taskId"] == task_id
    task = user.get(f"/api/tasks/{task_id}").json()
    assert task["id"] == task_id and task["status"] == "queued"
    assert parse(task["frames"]) == [2, 3, 4]
    assert task["camera"] == "CamB"  # from the analyser's repr of the camera object
    assert task["scene_path"] == "/d/proj/anim.blend"
    assert task["cg_soft_name"] == "blender 3.4" and task["job_type"] == "blender"
    assert task["chunk_size"] == 2 and task["artist"] == "ann"
    assert task["project_name"] == "SdkProject"
    assert task["options"]["scene_info_from"] == "task.json"
    assert task["options"]["inputs"] == ["E:/lib/tex.png"]  # outside the scene's folder
    assert task["options"]["task_user_level"] == 50  # createTask's, kept
    assert not any("foxden's analysis" in w for w in task["warnings"])
    project = user.get("/api/projects/SdkProject").json()
    assert [c["cg_soft_name"] for c in project["plugins"]] == ["blender 3.4"]
    listed = user.get("/api/tasks").json()
    assert [t["id"] for t in listed["items"]] == [task_id]
    code, message = caller.code(SUBMIT, {"taskId": task_id})
    assert code == 409 and "submitted already" in message


def test_submit_from_a_skeleton_task_json_reads_the_scene(
    live_server: LiveServer, anim_blend: bytes
) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    caller = sdk_caller(live_server.url, live_server.user_key)
    user = live_server.client(live_server.user_key)
    task_id = _draft(caller)
    upload(user, "/home/u/shots/anim.blend", anim_blend)
    _put_json(caller, task_id, SKELETON)
    caller.call(SUBMIT, {"taskId": task_id, "producer": "bob"})
    task = user.get(f"/api/tasks/{task_id}").json()
    assert task["status"] == "queued" and parse(task["frames"]) == [1, 2, 3, 4, 5]
    assert task["scene_path"] == "/home/u/shots/anim.blend"
    assert task["project_name"] == "default" and task["artist"] == "bob"
    assert task["options"]["scene_info_from"] == "foxden"
    read = task["options"]["scene_info"]
    assert read["camera"] == "CamA" and read["cameras"] == ["CamA", "CamB"]
    assert read["view_layers"] == ["LayerA", "LayerB"] and (read["width"], read["height"]) == (
        64,
        48,
    )
    note = task["warnings"][0]
    assert "foxden's analysis" in note and "frames 1-5[1]" in note
    assert "camera CamA" in note and "view layers LayerA, LayerB" in note
    assert task["camera"] == ""  # the scene's own camera renders (its markers kept)


def test_a_skeleton_for_a_scene_that_is_not_a_blend_is_refused(live_server: LiveServer) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    caller = sdk_caller(live_server.url, live_server.user_key)
    user = live_server.client(live_server.user_key)
    task_id = _draft(caller)
    upload(user, "/home/u/shots/anim.blend", b"not a blend file at all")
    _put_json(caller, task_id, SKELETON)
    code, message = caller.code(SUBMIT, {"taskId": task_id})
    assert code == 400 and "not a .blend file" in message and "frames" in message


def test_submit_refusals(live_server: LiveServer, anim_blend: bytes) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    alice = sdk_caller(live_server.url, live_server.user_key)
    admin = sdk_caller(live_server.url, live_server.admin_key)
    user = live_server.client(live_server.user_key)
    task_id = _draft(alice)

    code, message = alice.code(SUBMIT, {"taskId": task_id})
    assert code == 400 and "no task.json" in message and "taskJsonFile" in message

    code, _ = admin.code(SUBMIT, {"taskId": task_id})
    assert code == 404  # someone else's draft
    code, _ = admin.code(JSON_FILE, {"taskId": task_id, "fileName": "task.json", "content": "{}"})
    assert code == 404
    code, _ = alice.code(SUBMIT, {"taskId": 999_999})
    assert code == 404

    code, message = alice.code(
        JSON_FILE, {"taskId": task_id, "fileName": "task.json", "content": "{oops"}
    )
    assert code == 400 and "not JSON" in message
    code, message = alice.code(
        JSON_FILE, {"taskId": task_id, "fileName": "evil.sh", "content": "{}"}
    )
    assert code == 400 and "task.json" in message
    code, message = alice.code(
        JSON_FILE, {"taskId": task_id, "fileName": "task.json", "content": {"a": 1}}
    )
    assert code == 400 and "content" in message
    # tips.json and asset.json are kept as they come
    alice.call(JSON_FILE, {"taskId": task_id, "fileName": "tips.json", "content": "not json"})

    _put_json(alice, task_id, FULL)  # the scene is not uploaded yet
    code, message = alice.code(SUBMIT, {"taskId": task_id})
    assert code == 400 and "/d/proj/anim.blend" in message and "upload" in message

    upload(user, "D:/proj/anim.blend", anim_blend)
    wrong = copy.deepcopy(FULL)
    wrong["task_info"]["frames_per_task"] = "two"
    _put_json(alice, task_id, wrong)
    code, message = alice.code(SUBMIT, {"taskId": task_id})
    assert code == 400 and "task_info.frames_per_task" in message
    bad_frames = copy.deepcopy(FULL)
    bad_frames["scene_info_render"]["common"]["frames"] = "10-1"
    _put_json(alice, task_id, bad_frames)
    code, message = alice.code(SUBMIT, {"taskId": task_id})
    assert code == 400 and "descending" in message
    no_soft = copy.deepcopy(FULL)
    no_soft["software_config"] = {}
    no_soft["task_info"]["cg_id"] = "2000"
    _put_json(alice, task_id, no_soft)
    code, message = alice.code(SUBMIT, {"taskId": task_id})
    assert code == 400 and "software_config" in message

    _put_json(alice, task_id, FULL)  # fixed: the same draft submits
    alice.call(SUBMIT, {"taskId": task_id})
    assert user.get(f"/api/tasks/{task_id}").json()["status"] == "queued"


def test_the_rest_configs_pair(live_server: LiveServer, anim_blend: bytes) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    caller = sdk_caller(live_server.url, live_server.user_key)
    user = live_server.client(live_server.user_key)
    admin = live_server.client(live_server.admin_key)
    task_id = _draft(caller)
    base = f"/api/tasks/{task_id}/configs"
    assert user.get(f"{base}/task.json").status_code == 404
    body = json.dumps(FULL).encode()
    put = user.put(f"{base}/task.json", content=body)
    assert put.status_code == 200
    assert put.json() == {"task_id": task_id, "name": "task.json", "size": len(body)}
    got = user.get(f"{base}/task.json")
    assert got.status_code == 200 and got.content == body
    assert admin.get(f"{base}/task.json").status_code == 404
    assert admin.put(f"{base}/task.json", content=body).status_code == 404
    assert user.put(f"{base}/run.sh", content=b"{}").status_code == 400
    assert user.get(f"{base}/run.sh").status_code == 400
    bad = user.put(f"{base}/upload.json", content=b"[not json")
    assert bad.status_code == 400 and "upload.json" in bad.json()["error"]["message"]
    assert user.put(f"{base}/task.json", content=b"\xff\xfe").status_code == 400
    assert live_server.client().get(f"{base}/task.json").status_code == 401
    too_big = user.put(
        f"{base}/tips.json", content=b" " * (live_server.farm.settings.max_json_bytes + 1)
    )
    assert too_big.status_code == 413
    upload(user, "D:/proj/anim.blend", anim_blend)
    caller.call(SUBMIT, {"taskId": task_id})  # submits from the file PUT over REST
    assert parse(user.get(f"/api/tasks/{task_id}").json()["frames"]) == [2, 3, 4]


def test_error_details_and_pack_nodes(live_server: LiveServer) -> None:
    caller = sdk_caller(live_server.url, live_server.user_key)
    path = "/api/render/submit/queryAnalyseErrorDetail"
    [one] = caller.call(path, {"code": "15024", "language": "1"})
    assert one["code"] == "15024" and one["type"] == 1 and one["descriptionEn"]
    assert one["solutionEn"]
    many = caller.call(path, {"codes": ["10012", "424242", "10012"], "language": 1})
    assert [d["code"] for d in many] == ["10012", "424242"]
    assert [d["type"] for d in many] == [0, 0]  # an unknown code is a warning, never an error
    assert "not one foxden knows" in many[1]["descriptionEn"]
    code, message = caller.code(path, {"language": 1})
    assert code == 400 and "code" in message
    packs = caller.call("/api/render/submit/getUserPackNodeInfo")
    assert packs["packNodeList"] == [] and "no render nodes" in packs["note"]


def test_create_tasks_level_is_the_submitted_tasks_priority(
    live_server: LiveServer, anim_blend: bytes
) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    caller = sdk_caller(live_server.url, live_server.user_key)
    user = live_server.client(live_server.user_key)
    task_id = caller.call(CREATE, {"count": 1, "taskUserLevel": 60})["taskIdList"][0]
    upload(user, "D:/proj/anim.blend", anim_blend)
    _put_json(caller, task_id, FULL)
    caller.call(SUBMIT, {"taskId": task_id})
    assert user.get(f"/api/tasks/{task_id}").json()["priority"] == 10
    info = caller.call("/api/render/handle/queryTaskInfo/v2", {"taskIds": [task_id]})
    assert info["items"][0]["taskUserLevel"] == 60
    code, message = caller.code(CREATE, {"count": 1, "taskUserLevel": 101})
    assert code == 400 and "taskUserLevel" in message


def test_a_camera_or_layer_the_scene_lacks_is_refused_and_the_draft_waits(
    live_server: LiveServer, anim_blend: bytes
) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    caller = sdk_caller(live_server.url, live_server.user_key)
    user = live_server.client(live_server.user_key)
    task_id = _draft(caller)
    upload(user, "D:/proj/anim.blend", anim_blend)
    no_camera = copy.deepcopy(FULL)
    no_camera["scene_info_render"]["common"]["camera_name"] = '<bpy_struct, Object("CamC")>'
    _put_json(caller, task_id, no_camera)
    code, message = caller.code(SUBMIT, {"taskId": task_id})
    assert code == 400
    assert "camera 'CamC' is not in anim.blend: its cameras are CamA, CamB" in message
    no_layer = copy.deepcopy(FULL)
    no_layer["scene_info_render"]["common"]["render_layer"] = "LayerC"
    _put_json(caller, task_id, no_layer)
    code, message = caller.code(SUBMIT, {"taskId": task_id})
    assert code == 400 and "its view layers are LayerA, LayerB" in message
    assert user.get("/api/tasks").json()["total"] == 0  # nothing was made
    # the same draft submits once task.json is right; what is only doubtful is a warning
    late = copy.deepcopy(FULL)
    late["scene_info_render"]["common"]["frames"] = "4-7[1]"
    _put_json(caller, task_id, late)
    caller.call(SUBMIT, {"taskId": task_id})
    task = user.get(f"/api/tasks/{task_id}").json()
    assert task["status"] == "queued" and task["camera"] == "CamB"
    assert any(w.startswith("frames 6-7 are outside the frame range") for w in task["warnings"])
    # anim.blend's texture (//tex/checker.png) was never uploaded
    assert any(w.startswith("missing file /d/proj/tex/checker.png") for w in task["warnings"])
