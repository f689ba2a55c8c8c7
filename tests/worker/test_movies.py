"""Movies end to end: the real Blender renders frames on a real worker (sandboxed), the real
ffmpeg on that worker encodes them, and the movie, an output of the render task, is downloaded
through `Client` and checked with ffprobe."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from foxden.client.api import Client
from tests.conftest import LiveServer
from tests.scenes import blender_exe, make_scenes
from tests.web.webkit import login
from tests.worker.conftest import WorkerProc

pytestmark = pytest.mark.blender
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

FPS = 12  # not Blender's default 24: the movie's rate must come from the scene


@pytest.fixture(scope="module")
def odd_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """anim.blend: 3 frames of 65x49 (odd: the MP4 is padded to 66x50) at 12 fps."""
    folder = make_scenes(
        tmp_path_factory.mktemp("movie"), "--only", "anim", "--frames", "3", "--size", "65x49"
    )
    scene = folder / "anim.blend"
    subprocess.run(
        [
            blender_exe(), "-b", "--factory-startup", "-noaudio", str(scene),
            "--python-exit-code", "1", "--python-expr",
            f"import bpy; bpy.context.scene.render.fps = {FPS}; bpy.ops.wm.save_mainfile()",
        ],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return folder


def probe(movie: Path) -> dict[str, Any]:
    """What ffprobe finds in the movie's video stream (frames counted by decoding them)."""
    if shutil.which("ffprobe") is None:
        pytest.fail("ffprobe is not installed: this test needs the real ffmpeg")
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,pix_fmt,width,height,nb_read_frames,r_frame_rate",
         "-of", "json", str(movie)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    stream: dict[str, Any] = json.loads(out)["streams"][0]
    return stream


@sqlite_only
def test_movie_of_blender_frames(
    live_server: LiveServer,
    spawn_worker: Callable[..., WorkerProc],
    odd_scene: Path,
    tmp_path: Path,
) -> None:
    worker = spawn_worker("w1")
    with Client(live_server.url, live_server.user_key, progress=False) as client:
        client.create_project("shots", "blender 3.4")
        client.upload([odd_scene])
        scene = odd_scene / "anim.blend"
        task = client.submit("shots", scene, "1-3", movie=True)
        movie_id = task.options["movie"]["task_id"]
        movie_task = client.task(movie_id)
        assert movie_task.job_type == "ffmpeg" and movie_task.status == "queued"
        assert movie_task.options["movie"]["fps"] == FPS  # read from the .blend at submit

        done = client.wait(movie_id, poll=0.3, timeout=240)
        assert done.status == "done", (client.task(movie_id, frames=True), worker.log)
        assert client.task(task.id).status == "done"  # the movie waited for the frames

        # the movie is an output of the render task, downloaded with its frames
        outputs = {Path(o.path).name: o for o in client.outputs(task.id)}
        assert {"anim_0001.png", "anim_0002.png", "anim_0003.png", "anim.mp4"} <= set(outputs)
        assert outputs["anim.mp4"].frame is None
        client.download(task.id, tmp_path / "down")
        movie = tmp_path / "down" / task.output_folder / "anim.mp4"
        stream = probe(movie)
        assert stream["codec_name"] == "h264" and stream["pix_fmt"] == "yuv420p"
        assert (stream["width"], stream["height"]) == (66, 50)
        assert int(stream["nb_read_frames"]) == 3
        assert stream["r_frame_rate"] == f"{FPS}/1"

        # "Make a movie" of the done task: a ProRes .mov, encoded at once, at a chosen rate
        prores = client.make_movie(task.id, "prores", fps=6)
        assert client.wait(prores.id, poll=0.3, timeout=120).status == "done"
        client.download(prores.id, tmp_path / "mov")
        (mov,) = (tmp_path / "mov").rglob("anim.mov")
        stream = probe(mov)
        assert stream["codec_name"] == "prores" and int(stream["nb_read_frames"]) == 3
        assert stream["r_frame_rate"] == "6/1"
        assert "anim.mov" in {Path(o.path).name for o in client.outputs(task.id)}

    # the task page plays the movie and has the button that makes one
    web, token = login(live_server.url, "alice", live_server.user_key)
    with contextlib.closing(web):
        page = web.get(f"/tasks/{task.id}").text
        url = f"/tasks/{task.id}/outputs/{task.output_folder}/anim.mp4"
        assert f'<video controls preload="metadata" src="{url}">' in page
        assert "Make a movie</button>" in page
        clip = web.get(url, headers={"Range": "bytes=0-99"})
        assert clip.status_code == 206 and clip.headers["content-type"] == "video/mp4"
        assert clip.content == movie.read_bytes()[:100]
        made = web.post(f"/tasks/{task.id}/movie", data={"csrf_token": token, "codec": "h264"})
        assert "makes the movie" in made.text
        refused = web.post(f"/tasks/{task.id}/movie", data={"csrf_token": token, "codec": "gif"})
        assert "a movie&#39;s codec is one of h264, prores" in refused.text


@sqlite_only
def test_foxden_render_movie_and_foxden_movie(
    live_server: LiveServer,
    spawn_worker: Callable[..., WorkerProc],
    odd_scene: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from foxden.cli import main

    spawn_worker("w1")
    farm_dir = tmp_path / "farm"
    farm_dir.mkdir()
    (farm_dir / "credentials.json").write_text(
        json.dumps(
            {
                "render_server": live_server.url,
                "account": "alice",
                "access_key": live_server.user_key,
            }
        )
    )
    out = tmp_path / "renders"
    scene = str(odd_scene / "anim.blend")
    argv = ["render", scene, "--frames", "1-3", "--movie", "--farm-dir", str(farm_dir)]
    code = main([*argv, "--out", str(out), "--timeout", "240"])
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert "encodes the frames (h264) once they are done" in err
    (line,) = [x for x in printed.splitlines() if x.startswith("movie: ")]
    movie = Path(line.removeprefix("movie: "))
    assert movie.is_file() and movie.parent.parent == out and movie.name == "anim.mp4"
    assert int(probe(movie)["nb_read_frames"]) == 3
    assert len(list(movie.parent.glob("anim_000?.png"))) == 3

    task_id = int(movie.parent.name.split("_")[0])
    code = main(["movie", str(task_id), "--prores", "--farm-dir", str(farm_dir), "--out", str(out)])
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert f"of task {task_id}: prores, {FPS}" in err
    mov = Path(printed.strip().splitlines()[-1])
    assert mov.suffix == ".mov" and probe(mov)["codec_name"] == "prores"
    code = main(["movie", "999999", "--farm-dir", str(farm_dir)])
    assert code != 0 and "no task 999999 in your account" in capsys.readouterr().err
