"""Stopping work: task stops, workers killed outright, and Ctrl-C of `foxden up` (no orphans)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from foxden.farm.workers import list_workers
from foxden.server.config import Settings
from tests.conftest import LiveServer, free_port, start_server
from tests.farmkit import make_project, submit
from tests.scenes import make_scenes
from tests.waiting import wait_until
from tests.worker.conftest import (
    SHOT,
    WorkerProc,
    kill_leftovers,
    process_ids,
    upload_folder,
    wait_task,
)

pytestmark = pytest.mark.blender
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def medium_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """anim.blend whose frames take a few seconds each."""
    return make_scenes(
        tmp_path_factory.mktemp("medium"), "--only", "anim", "--size", "160x120", "--samples", "40"
    )


def frame(task: dict[str, object], number: int) -> dict[str, object]:
    details = task["frames_detail"]
    assert isinstance(details, list)
    found: dict[str, object] = next(f for f in details if f["number"] == number)
    return found


@sqlite_only
def test_stop_kills_blender_within_a_heartbeat(
    live_server: LiveServer,
    spawn_worker: Callable[..., WorkerProc],
    slow_scenes: Path,
    scenes: Path,
) -> None:
    worker = spawn_worker("w1")
    user = live_server.client(live_server.user_key)
    make_project(user, "shots", soft="blender 3.4")
    upload_folder(user, slow_scenes, "/v/slow")
    task = submit(
        user,
        project_name="shots",
        input_scene_path="/v/slow/anim.blend",
        frames="1-2",
        chunk_size=2,
    )
    wait_until("Blender to render", worker.blender_pids, timeout=60)
    # Heartbeats carry Blender's output while it renders.
    wait_until(
        "the frame log",
        lambda: "Fra:1 " in user.get(f"/api/tasks/{task['id']}/frames/1/log").text,
        timeout=30,
        every=0.2,
    )
    stopped_at = time.monotonic()
    assert user.post(f"/api/tasks/{task['id']}/stop").status_code == 200
    wait_until("Blender to be killed", lambda: not worker.blender_pids(), timeout=10, every=0.05)
    elapsed = time.monotonic() - stopped_at
    heartbeat = live_server.farm.settings.heartbeat_seconds
    # One heartbeat to hear of the stop, then SIGTERM (SIGKILL after a short grace).
    assert elapsed < heartbeat + 2.5, f"Blender outlived the stop by {elapsed:.1f}s"
    final = user.get(f"/api/tasks/{task['id']}", params={"frames": True}).json()
    assert final["status"] == "stopped", final
    assert not any(f["status"] == "done" for f in final["frames_detail"])
    # The worker dropped that work and takes new work.
    upload_folder(user, scenes)
    quick = submit(user, project_name="shots", input_scene_path=f"{SHOT}/anim.blend", frames="1")
    assert wait_task(user, quick["id"], ("done", "failed"))["status"] == "done"
    assert worker.proc.poll() is None
    wait_until(
        "the workspaces to be removed",
        lambda: not any((worker.cache / "work").iterdir()),
        timeout=20,
    )


@sqlite_only
def test_killed_worker_frames_are_finished_by_another(
    live_server: LiveServer,
    spawn_worker: Callable[..., WorkerProc],
    medium_scenes: Path,
) -> None:
    first = spawn_worker("first")
    user = live_server.client(live_server.user_key)
    make_project(user, "shots", soft="blender 3.4")
    upload_folder(user, medium_scenes)
    task = submit(
        user,
        project_name="shots",
        input_scene_path=f"{SHOT}/anim.blend",
        frames="1-2",
        chunk_size=1,
    )
    wait_until("the first worker to render", first.blender_pids, timeout=60)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    # Its Blender dies with it (the kernel kills it: PR_SET_PDEATHSIG).
    wait_until("the killed worker's Blender to die", lambda: not first.blender_pids(), timeout=5)
    second = spawn_worker("second")
    final = wait_task(user, task["id"], ("done", "failed"), timeout=120)
    assert final["status"] == "done", final
    second_id = next(w.id for w in list_workers(live_server.farm.db) if w.name == "second")
    assert frame(final, 1)["worker_id"] == second_id
    assert frame(final, 1)["attempts"] == 2
    outputs = user.get(f"/api/tasks/{task['id']}/outputs").json()
    assert sorted(o["frame"] for o in outputs) == [1, 2]
    for o in outputs:
        assert user.get(f"/api/blobs/{o['hash']}").content.startswith(b"\x89PNG")
    # frames are reported as soon as their image is checked, so Blender may still be exiting
    wait_until("the second worker's Blender to exit", lambda: not second.blender_pids(), timeout=15)


def _start_up(data_dir: Path, port: int, workers: int, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as fh:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "foxden.cli",
                "up",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def test_ctrl_c_of_foxden_up_leaves_no_orphan(tmp_path: Path, slow_scenes: Path) -> None:
    data = tmp_path / "farm"
    port = free_port()
    log_path = tmp_path / "up.log"
    up = _start_up(data, port, 1, log_path)
    try:
        wait_until(
            "foxden up to be ready",
            lambda: "ready" in log_path.read_text() or up.poll() is not None,
            timeout=90,
        )
        assert up.poll() is None, log_path.read_text()
        creds_path = data / "credentials.json"
        assert creds_path.stat().st_mode & 0o777 == 0o600
        assert "created admin account" in log_path.read_text()
        creds = json.loads(creds_path.read_text())
        assert creds["render_server"] == f"http://127.0.0.1:{port}"
        user = httpx.Client(
            base_url=creds["render_server"],
            timeout=30,
            headers={"Authorization": f"Bearer {creds['access_key']}"},
        )
        make_project(user, "shots", soft="blender 3.4")
        upload_folder(user, slow_scenes)
        task = submit(
            user,
            project_name="shots",
            input_scene_path=f"{SHOT}/anim.blend",
            frames="1-3",
            chunk_size=3,
        )
        wait_until("Blender to render", lambda: process_ids(str(data), "blender"), timeout=60)
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=30) == 0, log_path.read_text()
        assert process_ids(str(data)) == [], log_path.read_text()
    finally:
        if up.poll() is None:
            up.kill()
        kill_leftovers(str(data))

    # A later start reuses the credentials; the released frames wait for a worker.
    again = _start_up(data, port, 0, log_path)
    try:
        wait_until(
            "foxden up to be ready again",
            lambda: log_path.read_text().count("ready") == 2 or again.poll() is not None,
            timeout=60,
        )
        assert "using account" in log_path.read_text()
        assert json.loads((data / "credentials.json").read_text()) == creds
        reply = user.get(f"/api/tasks/{task['id']}", params={"frames": True})
        assert reply.status_code == 200
        assert [f["status"] for f in reply.json()["frames_detail"]] == ["waiting"] * 3
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=20) == 0
    finally:
        if again.poll() is None:
            again.kill()
    assert not [p for p in process_ids(str(data)) if p != os.getpid()]


@sqlite_only
def test_worker_waits_out_a_server_that_is_away(server_settings: Settings, tmp_path: Path) -> None:
    """No server yet: the worker retries with backoff, never crashes, and joins once it is up."""
    server_settings.data_dir.mkdir(parents=True)
    (server_settings.data_dir / "join_key").write_text("fdj_known_in_advance\n")
    log_path = tmp_path / "w.log"
    with log_path.open("wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "foxden.cli",
                "worker",
                "--server",
                server_settings.url,
                "--join-key",
                "fdj_known_in_advance",
                "--cache",
                str(tmp_path / "cache"),
                "--name",
                "patient",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_until("a retry", lambda: "retrying in" in log_path.read_text(), timeout=30)
        time.sleep(1.0)
        assert proc.poll() is None, log_path.read_text()
        server, thread, farm = start_server(server_settings)
        try:
            wait_until(
                "the worker to register",
                lambda: any(w.name == "patient" for w in list_workers(farm.db)),
                timeout=40,
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, log_path.read_text()
            server.should_exit = True
            thread.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
