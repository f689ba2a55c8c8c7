"""What submit warned about a real scene (a texture never uploaded, frames past its end) is on
the task's web page, where the artist looks."""

from __future__ import annotations

import html
from contextlib import closing

import pytest

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload
from tests.scenes import make_scenes
from tests.web.webkit import login


@pytest.fixture(scope="module")
def missing_tex(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = make_scenes(tmp_path_factory.mktemp("scenes"), "--only", "missing_tex")
    return (out / "missing_tex.blend").read_bytes()


def test_the_task_page_shows_what_submit_warned_about(
    live_server: LiveServer, missing_tex: bytes
) -> None:
    register_worker(live_server.url, live_server.farm.join_key)
    api = live_server.client(live_server.user_key)
    make_project(api, "shots", "blender 3.4")
    upload(api, r"v:\project\shot\missing_tex.blend", missing_tex)
    task = submit(
        api,
        project_name="shots",
        input_scene_path=r"v:\project\shot\missing_tex.blend",
        frames="1-3",
    )
    assert len(task["warnings"]) == 2  # frames 2-3 past the scene's end, the texture
    web, _token = login(live_server.url, "alice", live_server.user_key)
    with closing(web):
        page = html.unescape(web.get(f"/tasks/{task['id']}").text)
    assert "Warnings from scene analysis" in page
    assert "missing file /v/project/tex/wood.png: the scene uses it" in page
    assert "frames 2-3 are outside the frame range of missing_tex.blend (frame 1 only)" in page
