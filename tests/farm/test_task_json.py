"""Reading the vendor SDK's task.json and upload.json (pure functions)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from foxden.errors import BadRequest
from foxden.farm.task_json import MAX_UPLOAD_ENTRIES, camera_name, loads, parse, upload_paths

# The shape the vendor's Blender analyser writes (values as text, the camera as a repr).
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
        "project_name": "Project1",
        "frames_per_task": "2",
        "cg_id": "2007",
        "os_name": "1",
    },
    "scene_info": {"common": {"frames": "1-1[1]"}},
}


def test_a_full_task_json() -> None:
    spec = parse(FULL)
    assert spec.scene == "D:/proj/anim.blend"
    assert spec.project_name == "Project1"
    assert spec.cg_soft_name == "blender 3.4"
    assert spec.frames == "2-4[1]"  # scene_info_render wins over scene_info
    assert spec.camera == "CamB"
    assert spec.chunk_size == 2
    assert spec.plugin_name == "" and spec.render_layer is None and spec.artist is None


def test_a_skeleton_task_json_says_nothing_of_the_scene() -> None:
    skeleton = {
        "task_info": {"input_cg_file": "/home/u/shot.blend", "cg_id": "2007"},
        "software_config": {"cg_name": "Blender", "cg_version": "3.4", "plugins": {}},
        "scene_info": {},
        "scene_info_render": {},
    }
    spec = parse(skeleton)
    assert spec.scene == "/home/u/shot.blend"
    assert spec.frames is None and spec.camera is None and spec.chunk_size is None
    assert spec.project_name is None


def test_scene_info_is_read_when_scene_info_render_is_empty() -> None:
    data = copy.deepcopy(FULL)
    data["scene_info_render"] = {}
    data["scene_info"] = {"common": {"frames": "1-9[2]", "camera_name": "Cam"}}
    spec = parse(data)
    assert spec.frames == "1-9[2]" and spec.camera == "Cam"


def test_the_per_layer_shape_takes_the_first_renderable_layer() -> None:
    data = copy.deepcopy(FULL)
    data["scene_info_render"] = {
        "off": {"renderable": "0", "common": {"frames": "5-6[1]"}},
        "beauty": {"renderable": "1", "common": {"frames": "1-10[1]"}},
    }
    spec = parse(data)
    assert spec.frames == "1-10[1]" and spec.layers == ["off", "beauty"]


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ('<bpy_struct, Object("Camera")>', "Camera"),
        ("<bpy_struct, Object('Cam 2')>", "Cam 2"),
        ("bpy.data.objects['Shot Cam']", "Shot Cam"),
        ("CamA", "CamA"),
        ("None", None),
        ("  ", None),
    ],
)
def test_camera_names(given: str, name: str | None) -> None:
    assert camera_name(given) == name


def test_software_from_cg_id_when_no_name_is_given() -> None:
    data = copy.deepcopy(FULL)
    data["software_config"] = {}
    assert parse(data).cg_soft_name == "blender"
    data["task_info"]["cg_id"] = "2000"  # Maya: foxden cannot name it without cg_name
    assert parse(data).cg_soft_name is None


def test_plugins_become_the_plugin_name() -> None:
    data = copy.deepcopy(FULL)
    data["software_config"]["plugins"] = {"flip_fluids": "1.7", "molecular": "1.1"}
    assert parse(data).plugin_name == "flip_fluids 1.7; molecular 1.1"


def test_numbers_may_be_numbers() -> None:
    data = copy.deepcopy(FULL)
    data["task_info"]["frames_per_task"] = 3
    assert parse(data).chunk_size == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("task_info", "input_cg_file", None), "task_info.input_cg_file"),
        (("task_info", "input_cg_file", ["a"]), "task_info.input_cg_file"),
        (("task_info", "frames_per_task", "two"), "task_info.frames_per_task"),
        (("task_info", "frames_per_task", "0"), "task_info.frames_per_task"),
        (("task_info", "project_name", {"a": 1}), "task_info.project_name"),
        (("task_info", "artist", True), "task_info.artist"),
        (("software_config", "cg_name", "3ds Max"), "software_config.cg_name"),
        (("software_config", "cg_version", [3]), "software_config.cg_version"),
        (("software_config", "plugins", ["x"]), "software_config.plugins"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(change: tuple[str, str, Any], field: str) -> None:
    data = copy.deepcopy(FULL)
    section, key, value = change
    if value is None:
        del data[section][key]
    else:
        data[section][key] = value
    with pytest.raises(BadRequest) as err:
        parse(data)
    assert field in err.value.message


def test_a_camera_of_the_wrong_type_is_named() -> None:
    data = copy.deepcopy(FULL)
    data["scene_info_render"]["common"]["camera_name"] = {"name": "Cam"}
    with pytest.raises(BadRequest, match=r"scene_info_render\.common\.camera_name"):
        parse(data)


def test_sections_must_be_objects() -> None:
    with pytest.raises(BadRequest, match="task_info must be an object"):
        parse({"task_info": ["D:/a.blend"]})
    with pytest.raises(BadRequest, match="scene_info_render must be an object"):
        parse({**FULL, "scene_info_render": "1-10"})


def test_loads_refuses_what_is_not_a_json_object() -> None:
    assert loads('{"a": 1}') == {"a": 1}
    with pytest.raises(BadRequest, match=r"task\.json is not JSON"):
        loads("{not json")
    with pytest.raises(BadRequest, match=r"upload\.json must hold a JSON object"):
        loads("[1, 2]", "upload.json")


def test_upload_paths() -> None:
    data = {
        "asset": [
            {"local": "D:/proj/anim.blend", "server": "/D/proj/anim.blend"},
            {"local": "D:/tex/a.png", "server": "/D/tex/a.png"},
            {"local": "D:/tex/a.png", "server": "/D/tex/a.png"},
        ]
    }
    assert upload_paths(data) == ["D:/proj/anim.blend", "D:/tex/a.png"]
    assert upload_paths({}) == []
    with pytest.raises(BadRequest, match=r"asset\[0\]\.local is missing"):
        upload_paths({"asset": [{"server": "/x"}]})
    with pytest.raises(BadRequest, match="asset must be a list"):
        upload_paths({"asset": "D:/a"})
    with pytest.raises(BadRequest, match=r"upload.json: asset\[0\]\.local must be text"):
        upload_paths({"asset": [{"local": ["x"]}]})
    many = {"asset": [{"local": f"/a/{i}"} for i in range(MAX_UPLOAD_ENTRIES + 1)]}
    with pytest.raises(BadRequest, match="more than"):
        upload_paths(many)


def test_a_render_layer_and_frames_of_task_info_are_taken() -> None:
    data = copy.deepcopy(FULL)
    data["scene_info_render"] = {"common": {"render_layer": "LayerB"}}
    data["task_info"]["frames"] = "7"
    spec = parse(data)
    assert spec.render_layer == "LayerB" and spec.frames == "7"
