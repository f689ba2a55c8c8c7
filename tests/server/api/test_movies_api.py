"""The movie API: `movie` at submit and POST /api/tasks/{id}/movie, with every refusal a 4xx
that says what to do."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload

SCENE = r"v:\project\shot\lgt.txt"


@pytest.fixture
def user(live_server: LiveServer) -> httpx.Client:
    register_worker(live_server.url, live_server.farm.join_key)
    client = live_server.client(live_server.user_key)
    make_project(client, "proj")
    upload(client, SCENE, b"scene data")
    return client


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    message: str = r.json()["error"]["message"]
    return message


def test_movie_at_submit_and_later(user: httpx.Client, live_server: LiveServer) -> None:
    task = submit(user, project_name="proj", input_scene_path=SCENE, frames="1-4", movie="prores")
    movie_id = task["options"]["movie"]["task_id"]
    movie = user.get(f"/api/tasks/{movie_id}").json()
    assert (movie["job_type"], movie["status"], movie["frames"]) == ("ffmpeg", "queued", "1")
    assert movie["options"]["movie"]["codec"] == "prores"
    assert movie["options"]["movie"]["name"] == "lgt.mov"
    policy = user.get(f"/api/tasks/{movie_id}/policy").json()
    assert [d["id"] for d in policy["depends_on"]] == [task["id"]]

    r = user.post(f"/api/tasks/{task['id']}/movie", json={"fps": 25})
    assert r.status_code == 201, r.text
    assert r.json()["options"]["movie"] == {
        "of_task": task["id"],
        "codec": "h264",
        "fps": 25.0,
        "name": "lgt.mp4",
    }

    assert user.post(f"/api/tasks/{task['id']}/movie", json={"codec": "gif"}).status_code == 422
    assert user.post(f"/api/tasks/{task['id']}/movie", json={"fps": 0}).status_code == 422
    bad = user.post(
        "/api/tasks",
        json={"project_name": "proj", "input_scene_path": SCENE, "frames": "1", "movie": "gif"},
    )
    assert bad.status_code == 422
    message = _error(user.post(f"/api/tasks/{movie_id}/movie", json={}), 400)
    assert "is a movie already" in message

    aborted = submit(user, project_name="proj", input_scene_path=SCENE, frames="1")
    user.post(f"/api/tasks/{aborted['id']}/abort").raise_for_status()
    message = _error(user.post(f"/api/tasks/{aborted['id']}/movie", json={}), 409)
    assert "no frame rendered" in message and "restart its frames" in message

    bob = live_server.client(live_server.new_account("bob"))
    message = _error(bob.post(f"/api/tasks/{task['id']}/movie", json={}), 404)
    assert message == f"no task {task['id']} in your account"
