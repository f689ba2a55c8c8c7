"""The fast worker protocol end to end: a real server, real `foxden worker` processes (no
sandbox: these tests are about the protocol). A long-polling worker starts a new task at once
although its poll interval is 30 s; a 2-slot worker claims both frames of a task in one request;
a lease's last report brings the next lease; SIGTERM during a held claim is prompt."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import httpx

from foxden.farm.wakeups import signal_of
from tests.conftest import LiveServer
from tests.farmkit import make_project, submit, upload
from tests.waiting import wait_until
from tests.worker.conftest import WorkerProc, wait_task

FAST = ("--no-sandbox", "--poll", "30")  # without long polls, an idle worker would wait 30 s


def command_task(
    user: httpx.Client, frames: str, argv: list[str], *, new_project: bool = True
) -> dict[str, Any]:
    if new_project:
        make_project(user, "cmd")
        upload(user, "/v/alice/scene.txt", b"scene")
    return submit(
        user,
        project_name="cmd",
        input_scene_path="/v/alice/scene.txt",
        frames=frames,
        chunk_size=1,
        max_attempts=1,
        frame_order="in_order",
        options={"command": argv, "expect_outputs": False},
    )


def held_claims(live: LiveServer) -> int:
    return signal_of(live.farm.db).waiting


def test_a_long_polling_worker_starts_a_new_task_at_once(
    live_server: LiveServer, spawn_worker: Callable[..., WorkerProc]
) -> None:
    worker = spawn_worker("w1", *FAST)
    wait_until("the worker's claim held open", lambda: held_claims(live_server) == 1, timeout=20)
    time.sleep(1.0)  # well into its wait: only a wake-up can answer it now
    user = live_server.client(live_server.user_key)
    submitted = time.monotonic()
    task = command_task(user, "1", ["true"])
    # the poll interval is 30 s: within 15 s only the held claim can have brought it
    final = wait_task(user, task["id"], ("done", "failed"), timeout=15)
    took = time.monotonic() - submitted
    assert final["status"] == "done", (final, worker.log)
    print(f"submit -> done: {took:.2f} s")


def test_a_two_slot_worker_claims_both_frames_in_one_request(
    live_server: LiveServer, spawn_worker: Callable[..., WorkerProc]
) -> None:
    worker = spawn_worker("w1", *FAST, "--slots", "2")
    wait_until("the worker's claim held open", lambda: held_claims(live_server) == 1, timeout=20)
    user = live_server.client(live_server.user_key)
    task = command_task(user, "1-2", ["sleep", "1"])  # wakes the claim held for both slots
    final = wait_task(user, task["id"], ("done", "failed"), timeout=30)
    assert final["status"] == "done", f"{final}\n{worker.log}"  # a string: shown whole
    assert "claimed 2 lease(s) for 2 idle slot(s) in one request" in worker.log, worker.log
    assert "claimed 1 lease(s)" not in worker.log
    one, two = final["frames_detail"]
    assert one["worker_id"] == two["worker_id"] is not None
    assert abs(one["start_time"] - two["start_time"]) < 1.0  # side by side, not one by one


def test_the_last_report_of_a_lease_brings_the_next(
    live_server: LiveServer, spawn_worker: Callable[..., WorkerProc]
) -> None:
    worker = spawn_worker("w1", *FAST)
    user = live_server.client(live_server.user_key)
    task = command_task(user, "1-4", ["true"])
    final = wait_task(user, task["id"], ("done", "failed"), timeout=30)
    assert final["status"] == "done", (final, worker.log)
    log = worker.log
    assert log.count("claimed 1 lease(s) for 1 idle slot(s)") == 1, log
    assert log.count("came with the last report of lease") == 3, log


def test_sigterm_during_a_held_claim_is_prompt(
    live_server: LiveServer, spawn_worker: Callable[..., WorkerProc]
) -> None:
    worker = spawn_worker("w1", *FAST)
    user = live_server.client(live_server.user_key)
    make_project(user, "cmd")  # while the worker offers the software
    upload(user, "/v/alice/scene.txt", b"scene")
    wait_until("the worker's claim held open", lambda: held_claims(live_server) == 1, timeout=20)
    began = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    worker.proc.wait(timeout=15)
    took = time.monotonic() - began
    assert worker.proc.returncode == 0, worker.log
    assert "Traceback" not in worker.log, worker.log
    assert took < 5.0, (took, worker.log)  # not the 20 s the server may hold the claim
    # the server sees the worker gone and stops holding its claim
    wait_until("the held claim to end", lambda: held_claims(live_server) == 0, timeout=10)
    task = command_task(user, "1", ["true"], new_project=False)
    time.sleep(1.0)
    queued = user.get(f"/api/tasks/{task['id']}", params={"frames": True}).json()
    [frame] = queued["frames_detail"]
    assert frame["status"] == "waiting", queued  # no lease for a worker gone
    print(f"SIGTERM -> exit: {took:.2f} s")
