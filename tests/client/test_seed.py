"""The seed page's calls, in order, against a live farm (POSIX paths instead of v:\\)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from foxden import Fox
from tests.client.conftest import SimFarm
from tests.waiting import wait_until


def _wait_done(fox: Fox, task_id: int, timeout: float = 60) -> dict[str, object]:
    def done() -> dict[str, object] | None:
        task: dict[str, object] = fox.get_tasks(task_id=task_id)[0]
        return task if task["task_status"] == "System_Done" else None

    return wait_until(f"task {task_id} to finish", done, timeout)


def test_seed_page_calls_in_order(sim_farm: SimFarm, project_tree: Path, tmp_path: Path) -> None:
    fox = Fox(
        render_server=sim_farm.url,
        account="alice",
        access_key=sim_farm.key,
        aspera_server="app5.renderbus.com",
        aspera_password="ignored",
        progress=False,
    )
    fox.create_project("api", cg_soft_name="command 1")
    scene = str(project_tree / "shot" / "lgt.ma")
    images = str(project_tree / "asset" / "sourceimages")

    assert fox.upload(path_list=[scene, images]) == {scene: True, images: True}
    first = fox.last_transfer
    assert (
        first is not None
        and first.files == 7
        and first.files_sent == 7
        and first.bytes_sent == first.bytes_total
    )

    task_a = fox.submit_task(project_name="api", input_scene_path=scene, frames="1-10[1]")
    assert isinstance(task_a, int)
    task_info = {
        "project_name": "api",
        "input_scene_path": scene,
        "frames": "1073-1073[1]",
        "render_layer": "ball",
        "camera": "camera1",
    }
    task_b = fox.submit_task(**task_info)
    done_a = _wait_done(fox, task_a)
    done_b = _wait_done(fox, task_b)
    assert done_a["done_count"] == 10 and done_b["camera"] == "camera1"
    assert done_b["render_layer"] == "ball"

    out = tmp_path / "output"
    got = fox.download(task_id=task_a, local_path=str(out))
    assert got.files_fetched == 10
    folder = out / str(done_a["output_folder"])
    frames = sorted(folder.iterdir())
    assert [p.name for p in frames] == [f"lgt_{n:04d}.png" for n in range(1, 11)]
    pixels = []
    for p in frames:
        with Image.open(io.BytesIO(p.read_bytes())) as img:
            img.verify()
        with Image.open(p) as img:
            assert img.size == (64, 48)
            pixels.append(img.tobytes())
    assert len(set(pixels)) == 10  # every frame differs

    users = fox.get_users()
    assert users[0]["login_name"] == "alice"
    assert [p["project_name"] for p in fox.get_projects()] == ["api"]
    project = fox.get_projects(project_name="api")[0]
    assert project["plugins"][0]["cg_soft_name"] == "command 1"
    assert isinstance(project["create_time"], str)
    assert {t["task_id"] for t in fox.get_tasks()} == {task_a, task_b}
    assert fox.get_tasks(task_filter={"project_name": "api", "task_status": "Start"}) == []
    finished = fox.get_tasks(task_filter={"project_name": "api", "task_status": "System_Done"})
    assert {t["task_id"] for t in finished} == {task_a, task_b}
    assert len(fox.get_tasks(project_name="api")) == 2
    one = fox.get_tasks(task_id=task_a)
    assert len(one) == 1 and "jobs" not in one[0]
    with_frames = fox.get_tasks(task_id=task_a, has_frames=1)[0]
    jobs = with_frames["jobs"]
    assert [j["job_name"] for j in jobs] == [f"frame{n:04d}" for n in range(1, 11)]
    assert {j["job_status"] for j in jobs} == {"done"}

    fox.upload(path_list=[scene, images])
    again = fox.last_transfer
    assert (
        again is not None
        and again.bytes_sent == 0
        and again.files_sent == 0
        and again.bytes_hashed == 0
    )
    assert again.files_skipped == 7
    again_down = fox.download(task_id=task_a, local_path=str(out))
    assert again_down.files_fetched == 0 and again_down.bytes_fetched == 0
    assert again_down.files_skipped == 10 and again_down.bytes_hashed == 0
    fox.close()
