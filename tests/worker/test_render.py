"""Frames rendered by real Blender through a real server and real `foxden worker` processes."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload
from tests.worker.conftest import SHOT, WorkerProc, upload_folder, wait_task

pytestmark = pytest.mark.blender


def download_outputs(user: httpx.Client, task_id: int) -> dict[int, list[dict[str, Any]]]:
    """The task's outputs by frame, each with its downloaded bytes under 'data'."""
    manifest = user.get(f"/api/tasks/{task_id}/outputs")
    assert manifest.status_code == 200, manifest.text
    by_frame: dict[int, list[dict[str, Any]]] = {}
    for item in manifest.json():
        blob = user.get(f"/api/blobs/{item['hash']}")
        assert blob.status_code == 200, blob.text
        by_frame.setdefault(item["frame"], []).append({**item, "data": blob.content})
    return by_frame


def image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img.convert("RGB")


def difference(a: bytes, b: bytes) -> float:
    """Mean absolute channel difference of two images of the same size (0..255)."""
    pa, pb = image(a).tobytes(), image(b).tobytes()
    assert len(pa) == len(pb)
    return sum(abs(x - y) for x, y in zip(pa, pb, strict=True)) / len(pa)


def blender_project(user: httpx.Client, name: str = "shots") -> None:
    make_project(user, name, soft="blender 3.4")


def test_frames_render_through_the_farm(
    live_server: LiveServer, spawn_worker: Callable[..., WorkerProc], scenes: Path
) -> None:
    spawn_worker("w1")
    user = live_server.client(live_server.user_key)
    blender_project(user)
    upload_folder(user, scenes)
    task = submit(
        user,
        project_name="shots",
        input_scene_path=r"v:\project\shot\anim.blend",
        frames="1-3",
        chunk_size=2,
    )
    final = wait_task(user, task["id"], ("done", "failed"))
    assert final["status"] == "done", final
    frames = final["frames_detail"]
    assert [f["status"] for f in frames] == ["done"] * 3
    assert all(f["render_time"] and f["render_time"] > 0 for f in frames)

    outputs = download_outputs(user, task["id"])
    assert sorted(outputs) == [1, 2, 3]
    names = [o["path"] for f in (1, 2, 3) for o in outputs[f]]
    assert names == [f"{task['id']}_anim/anim_{n:04d}.png" for n in (1, 2, 3)]
    datas = [outputs[f][0]["data"] for f in (1, 2, 3)]
    for data in datas:
        assert image(data).size == (64, 48)
    assert difference(datas[0], datas[1]) > 1.0
    assert difference(datas[1], datas[2]) > 1.0
    # A thumbnail per frame, a real PNG.
    thumb = user.get(f"/api/tasks/{task['id']}/frames/2/thumbnail")
    assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")
    # Blender's output reached the frame log, with the user's paths and without foxden's markers.
    log = user.get(f"/api/tasks/{task['id']}/frames/2/log").text
    assert f"Saved: '{task['id']}_anim/anim_0002.png'" in log, log
    assert "FOXDEN_" not in log, log


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_layer_and_camera_change_the_image(
    live_server: LiveServer, spawn_worker: Callable[..., WorkerProc], scenes: Path
) -> None:
    spawn_worker("w1", "--slots", "2")
    user = live_server.client(live_server.user_key)
    blender_project(user)
    upload_folder(user, scenes)
    variants = {"plain": {}, "camb": {"camera": "CamB"}, "layerb": {"render_layer": "LayerB"}}
    ids = {
        key: submit(
            user, project_name="shots", input_scene_path=f"{SHOT}/anim.blend", frames="1", **extra
        )["id"]
        for key, extra in variants.items()
    }
    data = {}
    for key, task_id in ids.items():
        final = wait_task(user, task_id, ("done", "failed"))
        assert final["status"] == "done", final
        data[key] = download_outputs(user, task_id)[1][0]["data"]
    assert difference(data["plain"], data["camb"]) > 1.0
    assert difference(data["plain"], data["layerb"]) > 0.5

    # LayerB excludes the big red ball.
    def red(png: bytes) -> int:
        px = image(png).tobytes()
        return sum(
            1 for i in range(0, len(px), 3) if px[i] > 150 and px[i + 1] < 100 and px[i + 2] < 100
        )

    assert red(data["plain"]) > 20 and red(data["layerb"]) < red(data["plain"]) / 4


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_missing_texture_is_reported_at_submit(live_server: LiveServer, scenes: Path) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    user = live_server.client(live_server.user_key)
    blender_project(user)
    upload(user, f"{SHOT}/missing_tex.blend", (scenes / "missing_tex.blend").read_bytes())
    task = submit(
        user, project_name="shots", input_scene_path=f"{SHOT}/missing_tex.blend", frames="1"
    )
    assert any("/v/project/tex/wood.png" in w for w in task["warnings"]), task["warnings"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_corrupt_scene_fails_with_blenders_error(
    live_server: LiveServer, spawn_worker: Callable[..., WorkerProc], scenes: Path
) -> None:
    spawn_worker("w1")
    user = live_server.client(live_server.user_key)
    blender_project(user)
    good = (scenes / "anim.blend").read_bytes()
    upload(user, f"{SHOT}/broken.blend", good[:12] + b"\x00garbage" * 500)
    task = submit(
        user,
        project_name="shots",
        input_scene_path=f"{SHOT}/broken.blend",
        frames="1-2",
        chunk_size=2,
        max_attempts=1,
    )
    final = wait_task(user, task["id"], ("done", "failed"))
    assert final["status"] == "failed", final
    assert [f["status"] for f in final["frames_detail"]] == ["failed", "failed"]
    log = user.get(f"/api/tasks/{task['id']}/frames/1/log").text
    assert "cannot open" in log, log
    assert "Blender exited with status 1" in log, log
    assert "Blender" in final["frames_detail"][1]["error"], final
