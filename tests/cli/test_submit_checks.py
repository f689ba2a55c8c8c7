"""What `foxden submit` and `foxden render` say about a scene, through the real command in a
subprocess and real .blend files: a camera the scene lacks is refused with the choices, a
missing texture warns and `--strict` refuses it, a scene path that is a folder or nothing at
all says so before anything is sent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli.clikit import FOXDEN
from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker
from tests.scenes import make_scenes


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """anim.blend (frames 1-5, cameras CamA and CamB, texture tex/checker.png) and
    missing_tex.blend (a texture at v:\\project\\tex\\wood.png, never there)."""
    return make_scenes(tmp_path_factory.mktemp("scenes"), "--only", "anim,missing_tex")


class Cli:
    def __init__(self, server: LiveServer, shot: Path) -> None:
        self.shot = shot
        self.user = server.client(server.user_key)
        self.env = dict(
            os.environ,
            FOXDEN_SERVER=server.url,
            FOXDEN_ACCOUNT="alice",
            FOXDEN_ACCESS_KEY=server.user_key,
            COLUMNS="200",
        )

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*FOXDEN, *argv],
            capture_output=True,
            text=True,
            timeout=120,
            env=self.env,
            cwd=self.shot.parent,
            stdin=subprocess.DEVNULL,
        )

    def submit(self, scene: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("submit", "--project", "shots", "--scene", scene, *extra)

    def task_count(self) -> int:
        total: int = self.user.get("/api/tasks").json()["total"]
        return total


@pytest.fixture
def cli(live_server: LiveServer, built: Path, tmp_path: Path) -> Cli:
    register_worker(live_server.url, live_server.farm.join_key)  # offers blender 3.4.1
    shot = tmp_path / "shot"
    shutil.copytree(built, shot)
    farm = Cli(live_server, shot)
    make_project(farm.user, "shots", "blender 3.4")
    assert farm.run("upload", "shot").returncode == 0
    return farm


def test_a_camera_the_scene_lacks_is_refused_with_its_cameras(cli: Cli) -> None:
    done = cli.submit("shot/anim.blend", "--frames", "1-5", "--camera", "CamC")
    assert done.returncode == 1
    assert "camera 'CamC' is not in anim.blend: its cameras are CamA, CamB" in done.stderr
    assert "Traceback" not in done.stderr
    assert cli.task_count() == 0
    done = cli.submit("shot/anim.blend", "--frames", "1-5", "--layer", "Nope")
    assert done.returncode == 1 and "its view layers are LayerA, LayerB" in done.stderr
    done = cli.submit("shot/tex/checker.png", "--frames", "1")
    assert done.returncode == 1 and "is not a .blend file (it is a PNG image)" in done.stderr
    assert cli.task_count() == 0
    # frames past the scene's end are a warning under the summary
    done = cli.submit("shot/anim.blend", "--frames", "1-8", "--camera", "CamB")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("task ") and "camera CamB" in done.stdout
    assert (
        "warning: frames 6-8 are outside the frame range of anim.blend (frames 1-5)" in done.stderr
    )


def test_a_missing_texture_warns_and_strict_refuses(cli: Cli) -> None:
    done = cli.submit("shot/missing_tex.blend", "--frames", "1")
    assert done.returncode == 0, done.stderr
    assert "warning: missing file /v/project/tex/wood.png: the scene uses it" in done.stderr
    done = cli.submit("shot/missing_tex.blend", "--frames", "1", "--json")
    warnings = json.loads(done.stdout)["warnings"]
    assert any("/v/project/tex/wood.png" in w for w in warnings)
    assert cli.task_count() == 2
    done = cli.submit("shot/missing_tex.blend", "--frames", "1", "--strict")
    assert done.returncode == 1
    assert "never uploaded: /v/project/tex/wood.png" in done.stderr
    # render uploads the scene's folder, then refuses the same way
    done = cli.run(
        "render", "shot/missing_tex.blend", "--project", "shots", "--frames", "1", "--strict"
    )
    assert done.returncode == 1 and "never uploaded: /v/project/tex/wood.png" in done.stderr
    assert cli.task_count() == 2


def test_a_scene_path_that_is_a_folder_or_nothing_says_so(cli: Cli) -> None:
    for command in ("submit", "render"):
        scene = ("--scene", "shot") if command == "submit" else ("shot",)
        done = cli.run(command, *scene, "--project", "shots", "--frames", "1")
        assert done.returncode == 1
        assert "is a folder, not a scene file: name the scene file" in done.stderr
        assert "(anim.blend, missing_tex.blend in it)" in done.stderr
    done = cli.submit("shot/nope.blend", "--frames", "1")
    assert done.returncode == 1
    assert "nope.blend: no such file on this machine, and none was uploaded" in done.stderr
    done = cli.run("render", "shot/nope.blend", "--project", "shots", "--frames", "1")
    assert done.returncode == 1
    assert "shot/nope.blend: no such scene file (nothing at " in done.stderr
    assert "uploaded" not in done.stdout + done.stderr  # nothing was sent
    assert cli.task_count() == 0
