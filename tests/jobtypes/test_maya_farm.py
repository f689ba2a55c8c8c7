"""The seed's Maya calls end to end: a real server, a real `foxden worker` process with its
sandbox, and on that render node a STAND-IN for Maya's `Render` (tests/jobtypes/maya_standin.py).

Maya is licensed software that cannot be installed here, so the program the node runs is not
Maya: it checks what foxden hands it (the flags, the dirmap that must make every texture of
the scene resolve to a file of the lease) and writes a PNG per frame where Maya would, printing
Maya Software's log lines. Everything else is foxden for real: detection with `--maya PATH`,
analysis at submit, the command line, the sandbox, the log parsing, the outputs' checks, the
upload and the download through `Fox`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from foxden import Fox
from foxden.client.api import Client
from foxden.farm.workers import list_workers
from foxden.wire.vendor import VendorTask
from tests.client.conftest import age
from tests.conftest import LiveServer
from tests.farmkit import upload
from tests.jobtypes.maya_files import MaScene
from tests.jobtypes.maya_standin import install_standin, png
from tests.waiting import wait_until


@pytest.fixture
def maya_node(live_server: LiveServer, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`foxden worker --maya <the Render stand-in>` (sandboxed) against the live server."""
    render = install_standin(tmp_path / "install")
    log_path = tmp_path / "worker.log"
    argv = [sys.executable, "-m", "foxden.cli", "worker", "--server", live_server.url]
    argv += ["--name", "maya-node", "--cache", str(tmp_path / "cache"), "--poll", "0.3"]
    argv += ["--maya", str(render)]
    env = dict(os.environ, FOXDEN_JOIN_KEY=live_server.farm.join_key)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        wait_until(
            "the Maya node to register",
            lambda: (
                any(w.name == "maya-node" for w in list_workers(live_server.farm.db))
                or proc.poll() is not None
            ),
            timeout=60,
        )
        assert proc.poll() is None, log_path.read_text()
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(fox: Fox, task_id: int, status: str = "System_Done") -> VendorTask:
    def check() -> VendorTask | None:
        task = fox.get_tasks(task_id=task_id)[0]
        if task["task_status"] == status:
            return task
        assert task["task_status"] in ("Start", "Stopped"), task
        return None

    found = wait_until(f"task {task_id} to be {status}", check, 90, every=0.3)
    assert found is not None
    return found


def _images(folder: Path) -> dict[str, bytes]:
    """The PNGs under `folder` by name, each checked to decode at Maya's (stand-in's) size."""
    found: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*.png")):
        with Image.open(path) as img:
            assert img.size == (32, 24)
            found[path.name] = img.convert("RGB").tobytes()
    return found


def test_seed_maya_calls_from_upload_to_download(
    live_server: LiveServer, maya_node: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    fox = Fox(
        render_server=live_server.url,
        account="alice",
        access_key=live_server.user_key,
        aspera_server="app5.renderbus.com",
        aspera_password="XXX",
        progress=False,
    )
    plugins = fox.get_plugins_available(cg_soft_name="maya 2024")[1]
    assert [p["cg_soft_name"] for p in plugins] == ["maya 2024"]
    fox.create_project("api", cg_soft_name="maya 2024")

    # A Linux artist's project: the scene names its textures by their absolute local paths.
    root = tmp_path / "v" / "project"
    images = root / "asset" / "sourceimages"
    images.mkdir(parents=True)
    for name in ("wood.png", "metal.png"):
        (images / name).write_bytes(png(4, 4, (200, 100, 50)))
    scene = MaScene(
        textures=[str(images / "wood.png"), str(images / "metal.png")],
        cameras=[("persp", True), ("camera1", True)],
        legacy_layers=[("ball", True)],
    ).write(root / "shot" / "lgt.ma")
    age(root)

    paths = [str(scene), str(images)]
    assert fox.upload(path_list=paths) == dict.fromkeys(paths, True)
    task_id = fox.submit_task(project_name="api", input_scene_path=str(scene), frames="1-3[1]")
    task_info = {
        "project_name": "api",
        "input_scene_path": str(scene),
        "frames": "2-2[1]",
        "render_layer": "ball",
        "camera": "camera1",
    }
    other_id = fox.submit_task(**task_info)
    assert task_id.warnings == () and other_id.warnings == ()
    done = _wait(fox, task_id)
    other = _wait(fox, other_id)
    assert done["done_count"] == 3 and other["done_count"] == 1
    assert other["render_layer"] == "ball" and other["camera"] == "camera1"
    jobs = fox.get_tasks(task_id=task_id, has_frames=1)[0]["jobs"]
    assert [j["job_status"] for j in jobs] == ["done"] * 3

    out = tmp_path / "output"
    assert fox.download(task_id=task_id, local_path=str(out)).files_fetched == 3
    frames = _images(out / str(done["output_folder"]))
    assert sorted(frames) == ["lgt.0001.png", "lgt.0002.png", "lgt.0003.png"]
    assert len(set(frames.values())) == 3  # one image per frame
    fox.download(task_id=other_id, local_path=str(out))
    (camera1,) = _images(out / str(other["output_folder"])).values()
    assert camera1 != frames["lgt.0002.png"]  # the other camera
    with Client(live_server.url, live_server.user_key) as client:
        log = client.frame_log(task_id, 1)
    assert "Render stand-in (not Maya)" in log and "Finished Rendering" in log
    fox.close()


def test_windows_paths_in_the_scene_reach_the_node_through_dirmap(
    live_server: LiveServer, maya_node: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """The seed's own paths: a Windows client's `v:\\project\\shot\\lgt.ma` naming
    `v:/project/asset/sourceimages/...`, mapped on the Linux node by the dirmap; a texture
    that was never uploaded is a submit warning, then a failed frame classified as missing
    input."""
    http = live_server.client(live_server.user_key)
    wood = png(4, 4, (10, 20, 30))
    upload(http, "/v/project/asset/sourceimages/wood.png", wood)
    good = MaScene(
        textures=["v:/project/asset/sourceimages/wood.png"],
        cameras=[("persp", True), ("camera1", True)],
        legacy_layers=[("ball", True)],
    )
    upload(http, "/v/project/shot/lgt.ma", good.text().encode())
    bad = MaScene(textures=["V:/project/asset/sourceimages/wood.png", "v:/project/tex/gone.png"])
    upload(http, "/v/project/shot/gone.ma", bad.text().encode())
    with Fox(live_server.url, "alice", live_server.user_key, progress=False) as fox:
        fox.create_project("api", cg_soft_name="maya 2024")
        task_id = fox.submit_task(
            project_name="api",
            input_scene_path=r"v:\project\shot\lgt.ma",
            frames="1-2[1]",
            render_layer="ball",
            camera="camera1",
        )
        failing = fox.submit_task(
            project_name="api", input_scene_path=r"v:\project\shot\gone.ma", frames="1"
        )
        assert failing.warnings[0].startswith("missing file /v/project/tex/gone.png")
        done = _wait(fox, task_id)
        out = tmp_path / "output"
        fox.download(task_id=task_id, local_path=str(out))
        assert sorted(_images(out / str(done["output_folder"]))) == ["lgt.0001.png", "lgt.0002.png"]
        _wait(fox, failing, "Failed")
    with Client(live_server.url, live_server.user_key) as client:
        task = client.task(failing, frames=True)
    (frame,) = task.frames_detail or []
    assert frame.failure_category == "missing_input"
    assert 'Could not open file "v:/project/tex/gone.png"' in task.failure_summary
    log = client_log(live_server, task_id, 1)
    # the stand-in found the scene's texture in the lease's tree (shown as the account's)
    assert "v:/project/asset/sourceimages/wood.png -> /v/project/asset/sourceimages/wood.png" in log


def client_log(live_server: LiveServer, task_id: int, frame: int) -> str:
    with Client(live_server.url, live_server.user_key) as client:
        return client.frame_log(task_id, frame)
