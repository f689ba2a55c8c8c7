"""What `Client.submit` and `Fox.submit_task` give back about a scene (real .blend files): the
farm's warnings, `strict` refusing missing files, refusals naming the choices, and a scene path
that is a folder or nothing at all."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from foxden.client.api import Client
from foxden.client.fox import Fox
from foxden.errors import BadRequest, NotFound
from tests.conftest import LiveServer
from tests.farmkit import register_worker
from tests.scenes import make_scenes

WOOD = "/v/project/tex/wood.png"  # missing_tex.blend's texture, never uploaded


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_scenes(tmp_path_factory.mktemp("scenes"), "--only", "anim,missing_tex")


@pytest.fixture
def shot(live_server: LiveServer, built: Path, tmp_path: Path) -> Path:
    """The scenes in a local folder, uploaded, and project `shots` rendering with Blender."""
    register_worker(live_server.url, live_server.farm.join_key)  # offers blender 3.4.1
    folder = tmp_path / "shot"
    shutil.copytree(built, folder)
    with Client(live_server.url, live_server.user_key) as client:
        client.create_project("shots", "blender 3.4")
        client.upload([folder])
    return folder


def test_client_submit_returns_warnings_and_strict_refuses(
    live_server: LiveServer, shot: Path
) -> None:
    with Client(live_server.url, live_server.user_key) as client:
        task = client.submit("shots", shot / "missing_tex.blend", "1")
        assert len(task.warnings) == 1 and task.warnings[0].startswith(f"missing file {WOOD}")
        with pytest.raises(BadRequest, match=f"never uploaded: {WOOD}"):
            client.submit("shots", shot / "missing_tex.blend", "1", strict=True)
        with pytest.raises(BadRequest, match="its cameras are CamA, CamB"):
            client.submit("shots", shot / "anim.blend", "1-5", camera="CamC")
        with pytest.raises(BadRequest, match=r"is a folder, not a scene file.*anim\.blend"):
            client.submit("shots", shot, "1")
        with pytest.raises(NotFound, match="no such file on this machine, and none was uploaded"):
            client.submit("shots", shot / "nope.blend", "1")
        # a path of another system is the farm's to judge: it names the path it looked for
        with pytest.raises(BadRequest, match="was never uploaded"):
            client.submit("shots", "q:\\elsewhere\\shot.blend", "1")
        assert client.tasks().total == 1
        # a scene gone from this machine but uploaded before still submits
        (shot / "anim.blend").unlink()
        assert client.submit("shots", shot / "anim.blend", "1-5").warnings == []


def test_fox_submit_task_returns_the_id_with_the_warnings(
    live_server: LiveServer, shot: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Fox(live_server.url, "alice", live_server.user_key) as fox:
        with caplog.at_level(logging.WARNING, logger="foxden.client"):
            task_id = fox.submit_task(
                project_name="shots",
                input_scene_path=str(shot / "missing_tex.blend"),
                frames="1",
            )
        assert isinstance(task_id, int) and json.dumps({"id": task_id}) == f'{{"id": {task_id}}}'
        assert len(task_id.warnings) == 1 and WOOD in task_id.warnings[0]
        assert fox.last_task is not None and fox.last_task.id == task_id
        assert any(WOOD in r.getMessage() for r in caplog.records)
        clean = fox.submit_task(
            project_name="shots", input_scene_path=str(shot / "anim.blend"), frames="1-5"
        )
        assert clean.warnings == ()
        with pytest.raises(BadRequest, match=f"never uploaded: {WOOD}"):
            fox.submit_task(
                project_name="shots",
                input_scene_path=str(shot / "missing_tex.blend"),
                frames="1",
                strict=1,
            )
        with pytest.raises(BadRequest, match="view layers are LayerA, LayerB"):
            fox.submit_task(
                project_name="shots",
                input_scene_path=str(shot / "anim.blend"),
                frames="1",
                render_layer="Nope",
            )
        assert [t["task_id"] for t in fox.get_tasks()] == [clean, task_id]
