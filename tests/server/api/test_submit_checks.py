"""What submit learns from the scene (real .blend files made by Blender): a camera or view layer
the scene lacks and a file that is not a .blend are refused before any task exists; frames
outside the scene's range and files it uses that were never uploaded are warnings, and
`strict` refuses the missing files instead."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, upload
from tests.scenes import make_scenes

ANIM = r"v:\project\shot\anim.blend"  # frames 1-5, cameras CamA and CamB, LayerA and LayerB
CHECKER = r"v:\project\shot\tex\checker.png"  # anim.blend's texture (//tex/checker.png)
MISSING_TEX = r"v:\project\shot\missing_tex.blend"  # uses v:\project\tex\wood.png


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_scenes(tmp_path_factory.mktemp("scenes"), "--only", "anim,missing_tex")


@pytest.fixture
def user(live_server: LiveServer, scenes: Path) -> httpx.Client:
    register_worker(live_server.url, live_server.farm.join_key)  # offers blender 3.4.1
    client = live_server.client(live_server.user_key)
    make_project(client, "shots", "blender 3.4")
    upload(client, ANIM, (scenes / "anim.blend").read_bytes())
    upload(client, CHECKER, (scenes / "tex" / "checker.png").read_bytes())
    upload(client, MISSING_TEX, (scenes / "missing_tex.blend").read_bytes())
    return client


def _submit(user: httpx.Client, **fields: Any) -> httpx.Response:
    body = {"project_name": "shots", "input_scene_path": ANIM, "frames": "1-5", **fields}
    return user.post("/api/tasks", json=body)


def _refused(reply: httpx.Response) -> str:
    assert reply.status_code == 400, reply.text
    message: str = reply.json()["error"]["message"]
    return message


def _task_count(user: httpx.Client) -> int:
    total: int = user.get("/api/tasks").json()["total"]
    return total


def test_a_camera_or_view_layer_the_scene_lacks_is_refused_with_the_choices(
    user: httpx.Client,
) -> None:
    message = _refused(_submit(user, camera="CamC"))
    assert message.startswith("camera 'CamC' is not in anim.blend: its cameras are CamA, CamB")
    message = _refused(_submit(user, render_layer="LayerC"))
    assert "view layer 'LayerC'" in message and "is not in anim.blend" in message
    assert "its view layers are LayerA, LayerB" in message
    assert _task_count(user) == 0  # nothing was made
    # names the scene has are accepted, with nothing to warn about
    reply = _submit(user, camera="CamB", render_layer="LayerB")
    assert reply.status_code == 201, reply.text
    task = reply.json()
    assert (task["camera"], task["render_layer"], task["warnings"]) == ("CamB", "LayerB", [])


def test_a_file_that_is_not_a_blend_is_refused_whatever_its_name(user: httpx.Client) -> None:
    png = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 0, 0)).save(png, format="PNG")
    upload(user, r"v:\project\shot\frame.png", png.getvalue())
    upload(user, r"v:\project\shot\renamed.blend", png.getvalue())
    for name in ("frame.png", "renamed.blend"):
        message = _refused(_submit(user, input_scene_path=f"v:\\project\\shot\\{name}"))
        assert f"/v/project/shot/{name} is not a .blend file (it is a PNG image)" in message
        assert "upload the .blend" in message
    upload(user, r"v:\project\shot\empty.blend", b"")
    empty = _refused(_submit(user, input_scene_path=r"v:\project\shot\empty.blend"))
    assert "(it is empty)" in empty
    assert _task_count(user) == 0


def test_frames_outside_the_scenes_range_are_a_warning_kept_on_the_task(
    user: httpx.Client,
) -> None:
    reply = _submit(user, frames="4-8")
    assert reply.status_code == 201, reply.text
    task = reply.json()
    assert task["frame_count"] == 5
    (warning,) = task["warnings"]
    assert warning.startswith("frames 6-8 are outside the frame range of anim.blend (frames 1-5)")
    assert user.get(f"/api/tasks/{task['id']}").json()["warnings"] == [warning]


def test_missing_files_warn_and_strict_refuses_them(user: httpx.Client) -> None:
    reply = _submit(user, input_scene_path=MISSING_TEX, frames="1")
    assert reply.status_code == 201, reply.text
    warnings = reply.json()["warnings"]
    assert warnings == [
        "missing file /v/project/tex/wood.png: the scene uses it but it was not uploaded; "
        "upload it and restart the task"
    ]
    message = _refused(_submit(user, input_scene_path=MISSING_TEX, frames="1", strict=True))
    assert "uses 1 file(s) that were never uploaded: /v/project/tex/wood.png" in message
    assert _task_count(user) == 1  # the strict one made nothing
    # once the texture is there, strict submits, without a warning
    png = io.BytesIO()
    Image.new("RGB", (4, 4), (30, 200, 40)).save(png, format="PNG")
    upload(user, r"v:\project\tex\wood.png", png.getvalue())
    reply = _submit(user, input_scene_path=MISSING_TEX, frames="1", strict=True)
    assert reply.status_code == 201, reply.text
    task = reply.json()
    assert task["warnings"] == [] and "strict" not in task["options"]
    maybe = _submit(user, strict="maybe")
    assert maybe.status_code == 422 and "strict" in maybe.json()["error"]["message"]


def test_scenes_of_other_software_are_not_checked(live_server: LiveServer) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    client = live_server.client(live_server.user_key)
    make_project(client, "cmd")
    upload(client, r"v:\project\shot\lgt.txt", b"scene data")
    reply = client.post(
        "/api/tasks",
        json={
            "project_name": "cmd",
            "input_scene_path": r"v:\project\shot\lgt.txt",
            "frames": "1",
            "camera": "anything",
        },
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["warnings"] == []
