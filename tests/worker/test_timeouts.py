"""A task's time limits on the render node: the watchdog on a clock the test moves, a lease
whose real renderer hangs (killed when the test moves the clock past the limit, no sleeping
for it), and real `foxden worker` processes killing a hung command at a small limit."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from foxden.core.failures import Category, classify
from foxden.jobtypes import Software
from foxden.wire.worker import LeaseOut
from foxden.worker.cache import BlobCache
from foxden.worker.lease import LeaseRun
from foxden.worker.protocol import WorkerClient
from foxden.worker.sandbox import Sandbox
from foxden.worker.settings import WorkerSettings
from foxden.worker.watchdog import Watchdog, seconds
from tests.conftest import LiveServer
from tests.farmkit import make_project, submit, upload
from tests.waiting import wait_until
from tests.worker.conftest import WorkerProc, process_ids, wait_task
from tests.worker.fakefarm import client_for


class Clock:
    """A clock that moves only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the watchdog alone ----------------------------------------------------------------------


def test_no_limits_never_expire() -> None:
    clock = Clock()
    dog = Watchdog(None, None, clock)
    clock.now += 10**9
    assert not dog.armed and dog.expired() is None


def test_a_frame_past_its_render_time_expires_and_stays_expired() -> None:
    clock = Clock()
    dog = Watchdog(30, None, clock)
    clock.now += 29.9
    dog.output()  # output does not extend a frame's render time
    assert dog.expired() is None
    clock.now += 0.1
    reason = dog.expired()
    assert (
        reason == "ran longer than the task's time limit of 30 s for one frame: stopped (timed out)"
    )
    dog.frame_done()
    assert dog.expired() == reason  # the renderer is being stopped: the verdict holds


def test_each_finished_frame_starts_the_next_ones_clock() -> None:
    clock = Clock()
    dog = Watchdog(30, None, clock)
    for _ in range(5):  # five frames of 20 s each in one renderer: 100 s, none too long
        clock.now += 20
        dog.frame_done()
    assert dog.expired() is None
    clock.now += 30
    assert dog.expired() is not None


def test_output_keeps_the_no_progress_clock_from_running_out() -> None:
    clock = Clock()
    dog = Watchdog(None, 60, clock)
    for _ in range(10):
        clock.now += 59
        dog.output()
    assert dog.expired() is None
    clock.now += 60
    reason = dog.expired()
    assert reason is not None and "printed nothing for 60 s" in reason


def test_both_limits_word_a_timeout_for_the_classifier() -> None:
    clock = Clock()
    frame, quiet = Watchdog(45, None, clock), Watchdog(None, 7.5, clock)
    clock.now += 100
    for dog in (frame, quiet):
        reason = dog.expired()
        assert reason is not None
        assert classify(f"Blender {reason}", "Fra:1 Sample 3/64\nanything else") is Category.TIMEOUT
    assert "7.5 s" in str(quiet.expired())


@pytest.mark.parametrize(
    ("given", "limit"), [(30, 30.0), (0.5, 0.5), (0, None), (-3, None), (None, None), (True, None)]
)
def test_a_leases_limit_is_a_positive_number_or_none(given: object, limit: float | None) -> None:
    assert seconds(given) == limit


# -- one lease, a real hung process, the test's clock ----------------------------------------


@dataclass
class FakeFarm:
    """The server's side of one lease: heartbeats answered, reports kept."""

    logs: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        if request.url.path.endswith("/heartbeat"):
            self.logs.extend(body.get("logs", {}).values())
            return httpx.Response(200, json={"action": "continue", "lease_seconds": 30})
        if request.url.path.endswith("/frames"):
            self.results.extend(body["results"])
            accepted = [r["frame"] for r in body["results"]]
            return httpx.Response(200, json={"accepted": accepted, "rejected": []})
        return httpx.Response(404, json={"error": {"message": f"no {request.url.path}"}})

    def pid(self) -> int | None:
        for text in self.logs:
            for line in text.splitlines():
                if line.startswith("pid "):
                    return int(line.split()[1])
        return None


@dataclass
class Host:
    """What a lease needs of its agent (`foxden.worker.lease.LeaseHost`), without a sandbox."""

    client: WorkerClient
    settings: WorkerSettings
    cache: BlobCache
    work_dir: Path
    shutdown: threading.Event = field(default_factory=threading.Event)
    software: list[Software] = field(default_factory=lambda: [Software("command", "1", "")])
    sandbox: Sandbox | None = None
    heartbeat_seconds: float = 0.05

    def token_rejected(self) -> None:
        raise AssertionError("the fake farm never refuses the token")


def hung_lease(script: str, **limits: int | None) -> LeaseOut:
    """A lease of frame 7 of a command task whose renderer runs `script` (sh) and hangs."""
    return {
        "lease_id": 5,
        "lease_seconds": 30,
        "heartbeat_seconds": 0.05,
        "frames": [7],
        "task": {
            "id": 3,
            "job_type": "command",
            "cg_soft_name": "command 1",
            "plugin_name": "",
            "scene_path": "/v/p/scene.txt",
            "render_layer": "",
            "camera": "",
            "options": {"command": ["sh", "-c", script], "expect_outputs": False},
            "output_folder": "3_scene",
            "allow_network": False,
            "allow_scripts": False,
        },
        "inputs": [],
        "frame_timeout_s": limits.get("frame_timeout_s"),
        "progress_timeout_s": limits.get("progress_timeout_s"),
    }


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def run_until_moved(
    tmp_path: Path, lease: LeaseOut, move: Callable[[Clock], None]
) -> tuple[FakeFarm, int]:
    """Run the lease in a thread; once its renderer printed its pid, check it is not stopped
    early, then `move` the clock; returns the farm and the renderer's pid."""
    farm, clock = FakeFarm(), Clock()
    settings = WorkerSettings(server="http://farm.test", join_key="k", cache_dir=tmp_path / "c")
    host = Host(
        client_for(httpx.MockTransport(farm)),
        settings,
        BlobCache(tmp_path / "cache", 1 << 20),
        tmp_path / "work",
    )
    run = LeaseRun(lease, host, clock=clock)
    thread = threading.Thread(target=run.run, daemon=True)
    thread.start()
    pid = int(wait_until("the renderer to print its pid", farm.pid, timeout=20, every=0.02) or 0)
    clock.now += 29  # within every limit of these tests
    threading.Event().wait(0.6)  # three of the renderer's polls: nothing may stop it
    assert alive(pid) and not farm.results
    move(clock)
    thread.join(timeout=20)
    assert not thread.is_alive()
    return farm, pid


def test_a_hung_renderer_is_killed_at_the_frames_time_limit(tmp_path: Path) -> None:
    lease = hung_lease("echo pid $$; exec sleep 6131", frame_timeout_s=30)

    def past_the_limit(clock: Clock) -> None:
        clock.now += 1

    farm, pid = run_until_moved(tmp_path, lease, past_the_limit)
    assert not alive(pid)
    [result] = farm.results
    assert result["frame"] == 7 and result["status"] == "failed"
    assert result["error"] == (
        "sh ran longer than the task's time limit of 30 s for one frame: stopped (timed out)"
    )
    assert classify(result["error"], result["log"]) is Category.TIMEOUT


def test_a_silent_renderer_is_killed_at_the_no_progress_limit(tmp_path: Path) -> None:
    lease = hung_lease("echo pid $$; exec sleep 6132", progress_timeout_s=60)

    def past_the_limit(clock: Clock) -> None:
        clock.now += 31

    farm, pid = run_until_moved(tmp_path, lease, past_the_limit)
    assert not alive(pid)
    [result] = farm.results
    assert result["status"] == "failed"
    assert "made no progress and printed nothing for 60 s" in result["error"]
    assert classify(result["error"]) is Category.TIMEOUT


# -- real workers, a real hung command, a small limit ----------------------------------------


def test_the_worker_kills_a_hung_command_at_the_tasks_time_limit(
    live_server: LiveServer, spawn_worker: Callable[..., WorkerProc]
) -> None:
    spawn_worker("w1")
    user = live_server.client(live_server.user_key)
    make_project(user, "cmd")
    upload(user, "/v/alice/hang.txt", b"hang")
    task = submit(
        user,
        project_name="cmd",
        input_scene_path="/v/alice/hang.txt",
        frames="1",
        max_attempts=1,
        frame_timeout_s=2,
        options={"command": ["sleep", "6133"], "expect_outputs": False},
    )
    final = wait_task(user, task["id"], ("done", "failed"), timeout=60)
    [frame] = final["frames_detail"]
    assert frame["status"] == "failed" and frame["failure_category"] == "timeout", frame
    assert "time limit of 2 s for one frame: stopped (timed out)" in frame["error"]
    assert frame["end_time"] - frame["start_time"] < 20  # 2 s, the start and the report
    wait_until("the hung command to be gone", lambda: not process_ids("sleep 6133"), timeout=10)


def test_a_projects_no_progress_default_kills_a_silent_command(
    live_server: LiveServer, spawn_worker: Callable[..., WorkerProc]
) -> None:
    spawn_worker("w1")
    user = live_server.client(live_server.user_key)
    make_project(user, "cmd")
    limits = user.put("/api/projects/cmd/time-limits", json={"progress_timeout_s": 2})
    assert limits.status_code == 200, limits.text
    assert limits.json()["progress_timeout_s"] == 2 and limits.json()["frame_timeout_s"] is None
    upload(user, "/v/alice/quiet.txt", b"quiet")
    task = submit(
        user,
        project_name="cmd",
        input_scene_path="/v/alice/quiet.txt",
        frames="1",
        max_attempts=1,
        options={"command": ["sh", "-c", "echo hello; exec sleep 6134"], "expect_outputs": False},
    )
    final = wait_task(user, task["id"], ("done", "failed"), timeout=60)
    [frame] = final["frames_detail"]
    assert frame["failure_category"] == "timeout", frame
    assert "printed nothing for 2 s" in frame["error"]
    wait_until("the silent command to be gone", lambda: not process_ids("sleep 6134"), timeout=10)
