"""The seed page's calls against a real `foxden up` farm rendering with the real Blender."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from foxden import Fox
from tests.client.conftest import age
from tests.scenes import blender_exe
from tests.upkit import foxden_up
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.blender


@pytest.fixture
def up(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`foxden up` with two local workers in a temp data dir; yields its credentials.json."""
    blender_exe()
    with foxden_up(tmp_path, workers=2) as credentials:
        yield credentials


def _scene(root: Path) -> Path:
    shot = root / "project" / "shot"
    subprocess.run(
        [
            blender_exe(),
            "-b",
            "--factory-startup",
            "-noaudio",
            "--python-exit-code",
            "1",
            "--python",
            str(REPO / "scripts" / "make_scenes.py"),
            "--",
            str(shot),
            "--only",
            "anim",
            "--frames",
            "4",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    age(root)
    return shot / "anim.blend"


def _wait_done(fox: Fox, task_id: int, timeout: float = 240) -> dict[str, object]:
    def done() -> dict[str, object] | None:
        task: dict[str, object] = fox.get_tasks(task_id=task_id)[0]
        if task["task_status"] == "System_Done":
            return task
        assert task["task_status"] == "Start", task
        return None

    return wait_until(f"task {task_id} to finish", done, timeout, every=0.5)


def test_seed_calls_on_foxden_up_with_blender(up: dict[str, str], tmp_path: Path) -> None:
    scene = _scene(tmp_path)
    fox = Fox(
        render_server=up["render_server"],
        account=up["account"],
        access_key=up["access_key"],
        aspera_server="app5.renderbus.com",
        aspera_password="x",
        progress=False,
    )
    blender = next(
        p["cg_soft_name"]
        for p in fox.get_plugins_available()[1]
        if p["cg_soft_name"].startswith("blender")
    )
    fox.create_project("api", cg_soft_name=blender)

    paths = [str(scene), str(scene.parent / "tex")]
    assert fox.upload(path_list=paths) == dict.fromkeys(paths, True)
    first = fox.last_transfer
    assert first is not None and first.files == 2 and first.files_sent == 2
    task_id = fox.submit_task(project_name="api", input_scene_path=str(scene), frames="1-4[1]")
    task_info = {
        "project_name": "api",
        "input_scene_path": str(scene),
        "frames": "2-2[1]",
        "render_layer": "LayerB",
        "camera": "CamB",
    }
    other_id = fox.submit_task(**task_info)
    done = _wait_done(fox, task_id)
    other = _wait_done(fox, other_id)
    assert done["done_count"] == 4 and done["warnings"] == []
    assert other["camera"] == "CamB" and other["render_layer"] == "LayerB"

    assert fox.get_users()[0]["login_name"] == up["account"]
    assert fox.get_projects()[0]["project_name"] == "api"
    assert fox.get_projects(project_name="api")[0]["plugins"][0]["cg_soft_name"] == blender
    assert {t["task_id"] for t in fox.get_tasks()} == {task_id, other_id}
    assert fox.get_tasks(task_filter={"project_name": "api", "task_status": "Start"}) == []
    assert (
        len(fox.get_tasks(task_filter={"project_name": "api", "task_status": "System_Done"})) == 2
    )
    assert len(fox.get_tasks(project_name="api")) == 2
    assert fox.get_tasks(task_id=task_id)[0]["frames"] == "1-4[1]"
    jobs = fox.get_tasks(task_id=task_id, has_frames=1)[0]["jobs"]
    assert [j["job_status"] for j in jobs] == ["done"] * 4

    out = tmp_path / "output"
    got = fox.download(task_id=task_id, local_path=str(out))
    assert got.files_fetched == 4
    images = sorted((out / str(done["output_folder"])).iterdir())
    assert len(images) == 4
    pixels = []
    for path in images:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            assert img.size == (64, 48)
            pixels.append(img.convert("RGB").tobytes())
    assert len(set(pixels)) == 4  # the cube moves: every frame differs

    fox.download(task_id=other_id, local_path=str(out))
    cam_b = next((out / str(other["output_folder"])).iterdir())
    frame_2 = next(p for p in images if "0002" in p.name)
    with Image.open(cam_b) as b, Image.open(frame_2) as a:
        assert b.convert("RGB").tobytes() != a.convert("RGB").tobytes()  # another camera

    fox.upload(path_list=paths)
    again = fox.last_transfer
    assert (
        again is not None
        and again.bytes_sent == 0
        and again.files_sent == 0
        and again.bytes_hashed == 0
    )
    down_again = fox.download(task_id=task_id, local_path=str(out))
    assert down_again.files_fetched == 0 and down_again.bytes_fetched == 0
    fox.close()


#: a script as a user of the vendor's client writes it: it sets its project up with the
#: vendor's later calls only (create_project, get_plugins_available, add_project_config by id).
VENDOR_SCRIPT = """
import sys
import time

from foxden import Fox

render_server, account, access_key, scene, textures, output = sys.argv[1:7]
fox = Fox(render_server=render_server, account=account, access_key=access_key,
          aspera_server="app5.renderbus.com", aspera_password="XXX")
ok, project_id = fox.create_project(project_name="spinning_cube", remark="made by a script")
ok, plugins = fox.get_plugins_available()
blender = [p for p in plugins if p["cg_soft_name"].startswith("blender")][0]
fox.add_project_config(project_id, blender["cg_soft_name"], blender["plugin_name"], is_default=1)
fox.upload(path_list=[scene, textures])
task_id = fox.submit_task(project_name="spinning_cube", input_scene_path=scene, frames="1-3[1]")
deadline = time.time() + 240
while True:
    task = fox.get_tasks(task_id=task_id)[0]
    if task["task_status"] == "System_Done":
        break
    if task["task_status"] != "Start" or time.time() > deadline:
        sys.exit("task %s: %s" % (task_id, task["task_status"]))
    time.sleep(1)
fox.download(task_id=task_id, local_path=output)
print(task["output_folder"])
"""


def test_a_vendor_script_sets_up_its_project_and_renders(
    up: dict[str, str], tmp_path: Path
) -> None:
    scene = _scene(tmp_path)
    script = tmp_path / "render_with_fox.py"
    script.write_text(VENDOR_SCRIPT)
    out = tmp_path / "output"
    run = subprocess.run(
        [
            sys.executable,
            str(script),
            up["render_server"],
            up["account"],
            up["access_key"],
            str(scene),
            str(scene.parent / "tex"),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    images = sorted((out / run.stdout.strip().splitlines()[-1]).iterdir())
    assert len(images) == 3
    pixels = []
    for path in images:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            assert img.size == (64, 48)
            pixels.append(img.convert("RGB").tobytes())
    assert len(set(pixels)) == 3  # three real frames of the moving cube
