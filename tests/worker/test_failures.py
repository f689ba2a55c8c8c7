"""Failures that explain themselves, and logs a person can read: real Blender, a real server and
a real `foxden worker` (in its sandbox)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from foxden.core.failures import advice
from tests.conftest import LiveServer
from tests.farmkit import make_project, submit, upload
from tests.scenes import blender_exe, make_scenes
from tests.worker.conftest import SHOT, WorkerProc, wait_task

pytestmark = [pytest.mark.blender, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]

# a registered text block that crashes Blender as the scene loads (scripts allowed)
_CRASH = """
import bpy, sys
text = bpy.data.texts.new("crash.py")
text.use_module = True
text.write("import ctypes\\nctypes.string_at(0)\\n")
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[-1])
"""


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """script_error.blend, missing_tex.blend and crash.blend."""
    folder = make_scenes(tmp_path_factory.mktemp("failing"), "--only", "script_error,missing_tex")
    build = [blender_exe(), "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1"]
    proc = subprocess.run(
        [*build, "--python-expr", _CRASH, "--", str(folder / "crash.blend")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return folder


def scripts_allowed(live_server: LiveServer, user: httpx.Client) -> None:
    make_project(user, "shots", soft="blender 3.4")
    with live_server.client(live_server.admin_key) as admin:
        reply = admin.patch(
            "/api/accounts/alice/projects/shots/sandbox", json={"allow_scripts": True}
        )
        assert reply.status_code == 200, reply.text


def test_a_scene_script_error_fails_at_once_and_the_task_says_why(
    live_server: LiveServer, spawn_worker: Callable[..., WorkerProc], failing: Path
) -> None:
    worker = spawn_worker("w1")
    user = live_server.client(live_server.user_key)
    scripts_allowed(live_server, user)
    upload(user, f"{SHOT}/script_error.blend", (failing / "script_error.blend").read_bytes())
    task = submit(
        user,
        project_name="shots",
        input_scene_path=f"{SHOT}/script_error.blend",
        frames="1-2",
        chunk_size=1,
        max_attempts=3,
    )
    final = wait_task(user, task["id"], ("done", "failed"))
    assert final["status"] == "failed", final
    why = "Python error in a scene script while loading the scene: RuntimeError: boom: the scene"
    for frame in final["frames_detail"]:
        assert frame["status"] == "failed" and frame["attempts"] == 1, frame  # not retried
        assert frame["failure_category"] == "scene_script_error", frame
        assert frame["advice"] == advice("scene_script_error")
        assert frame["error"].startswith(f"Blender exited with status 1: {why}"), frame
    assert final["failure_summary"] == f"2 of 2 frames failed: {why} script failed"
    log = user.get(f"/api/tasks/{task['id']}/frames/1/log").text
    assert "Traceback" in log and "RuntimeError: boom" in log, log
    assert f"Read blend: {SHOT}/script_error.blend" in log, log
    assert f"foxden: error: {why}" in log, log
    assert "FOXDEN_" not in log and str(worker.cache) not in log, log
    # the vendor's client reads it too
    listed = user.post(
        "/api/v1/task",
        json={
            "head": {"action": "query_task", "access_key": live_server.user_key},
            "body": {"task_id": task["id"], "is_jobs_included": "1"},
        },
    ).json()
    record = listed["body"]["data"][0]
    assert record["failure_summary"] == final["failure_summary"], record
    assert record["jobs"][0]["failure_category"] == "scene_script_error", record


def test_a_crash_is_retried_and_names_its_signal(
    live_server: LiveServer, spawn_worker: Callable[..., WorkerProc], failing: Path
) -> None:
    spawn_worker("w1")
    user = live_server.client(live_server.user_key)
    scripts_allowed(live_server, user)
    upload(user, f"{SHOT}/crash.blend", (failing / "crash.blend").read_bytes())
    task = submit(
        user,
        project_name="shots",
        input_scene_path=f"{SHOT}/crash.blend",
        frames="1",
        max_attempts=2,
    )
    final = wait_task(user, task["id"], ("done", "failed"))
    frame = final["frames_detail"][0]
    assert (frame["status"], frame["attempts"]) == ("failed", 2), frame  # retried once
    assert frame["failure_category"] == "renderer_crash", frame
    assert frame["error"] == "Blender exited with signal 11 (SIGSEGV): Blender crashed", frame
    assert final["failure_summary"] == (
        "1 of 1 frame failed: Blender exited with signal 11 (SIGSEGV): Blender crashed"
    )


def test_a_rendered_frames_log_shows_the_users_paths_and_no_markers(
    live_server: LiveServer, spawn_worker: Callable[..., WorkerProc], failing: Path
) -> None:
    worker = spawn_worker("w1")
    user = live_server.client(live_server.user_key)
    make_project(user, "shots", soft="blender 3.4")
    upload(user, f"{SHOT}/missing_tex.blend", (failing / "missing_tex.blend").read_bytes())
    task = submit(
        user, project_name="shots", input_scene_path=f"{SHOT}/missing_tex.blend", frames="1"
    )
    final = wait_task(user, task["id"], ("done", "failed"))
    assert final["status"] == "done", final
    assert final["failure_summary"] == ""
    assert final["frames_detail"][0]["failure_category"] == ""
    log = user.get(f"/api/tasks/{task['id']}/frames/1/log").text
    folder = final["output_folder"]
    assert f"Read blend: {SHOT}/missing_tex.blend" in log, log
    assert f"Saved: '{folder}/missing_tex_0001.png'" in log, log
    assert (
        "foxden: warning: missing file v:/project/tex/wood.png (looked for /v/project/tex/wood.png)"
    ) in log, log
    assert "FOXDEN_" not in log, log
    assert str(worker.cache) not in log and "/tree/" not in log and "lease-" not in log, log
