"""The lease-based scheduler over HTTP: concurrent claims, heartbeats, expiry, attempts, release."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, farm_settings, running_server
from tests.farmkit import make_project, register_worker, submit, upload
from tests.waiting import wait_until


def _prepare(live: LiveServer, frames: str, **fields: object) -> tuple[httpx.Client, int]:
    register_worker(live.url, live.farm.join_key, name="seed")
    user = live.client(live.user_key)
    make_project(user, "proj")
    upload(user, "/v/p/scene.txt", b"x")
    task = submit(
        user, project_name="proj", input_scene_path="/v/p/scene.txt", frames=frames, **fields
    )
    return user, int(task["id"])


def test_twenty_workers_never_share_a_frame(live_server: LiveServer) -> None:
    user, tid = _prepare(live_server, "1-100[1]", chunk_size=3)
    workers = [
        register_worker(live_server.url, live_server.farm.join_key, name=f"w{i}") for i in range(20)
    ]
    seen: dict[int, list[int]] = {i: [] for i in range(20)}
    errors: list[str] = []
    start = threading.Barrier(20)

    def run(i: int) -> None:
        client = workers[i]
        start.wait()
        for _ in range(200):  # bounded
            r = client.post("/api/worker/claim", json={})
            if r.status_code == 204:
                return
            lease = r.json()
            seen[i].extend(lease["frames"])
            rep = client.post(
                f"/api/worker/leases/{lease['lease_id']}/frames",
                json={"results": [{"frame": f, "status": "done"} for f in lease["frames"]]},
            )
            if rep.status_code != 200 or rep.json()["rejected"]:
                errors.append(rep.text)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    every = [f for frames in seen.values() for f in frames]
    assert sorted(every) == list(range(1, 101))  # each frame exactly once
    assert sum(1 for frames in seen.values() if frames) > 1  # the work really was shared out
    final = user.get(f"/api/tasks/{tid}", params={"frames": True}).json()
    assert final["status"] == "done" and final["counts"]["done"] == 100
    assert all(f["attempts"] == 1 for f in final["frames_detail"])


@pytest.fixture
def short_lease_server(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server whose leases last one second."""
    settings = farm_settings(
        db_url, tmp_path, lease_seconds=1.0, heartbeat_seconds=0.3, reap_seconds=0.1, max_attempts=2
    )
    with running_server(settings) as live:
        yield live


def test_expired_lease_is_requeued_and_finished_by_another_worker(
    short_lease_server: LiveServer,
) -> None:
    live = short_lease_server
    user, tid = _prepare(live, "1-4", chunk_size=4, frame_order="in_order")
    lost = register_worker(live.url, live.farm.join_key, name="lost")
    other = register_worker(live.url, live.farm.join_key, name="other")
    first = lost.post("/api/worker/claim", json={}).json()
    assert first["frames"] == [1, 2, 3, 4]
    assert other.post("/api/worker/claim", json={}).status_code == 204
    wait_until(
        "the frames to wait again",
        lambda: user.get(f"/api/tasks/{tid}").json()["counts"]["waiting"] == 4,
        timeout=10,
        every=0.05,
    )
    second = other.post("/api/worker/claim", json={}).json()
    assert second["frames"] == [1, 2, 3, 4]
    done = other.post(
        f"/api/worker/leases/{second['lease_id']}/frames",
        json={"results": [{"frame": f, "status": "done"} for f in second["frames"]]},
    )
    assert done.json()["accepted"] == [1, 2, 3, 4]
    # the lost worker comes back: its lease is gone, its report refused, nothing changes
    late = lost.post(f"/api/worker/leases/{first['lease_id']}/heartbeat", json={})
    assert late.status_code == 410
    late = lost.post(
        f"/api/worker/leases/{first['lease_id']}/frames",
        json={"results": [{"frame": 1, "status": "failed"}]},
    )
    assert late.status_code == 410
    final = user.get(f"/api/tasks/{tid}", params={"frames": True}).json()
    assert final["status"] == "done" and [f["attempts"] for f in final["frames_detail"]] == [
        2,
        2,
        2,
        2,
    ]


def test_frames_fail_after_max_attempts_of_expiry(short_lease_server: LiveServer) -> None:
    live = short_lease_server  # max_attempts=2
    user, tid = _prepare(live, "7")
    worker = register_worker(live.url, live.farm.join_key, name="flaky")
    for _ in range(2):
        wait_until(
            "a claim",
            lambda: worker.post("/api/worker/claim", json={}).status_code == 200,
            timeout=10,
            every=0.05,
        )
        wait_until(
            "the lease to expire",
            lambda: user.get(f"/api/tasks/{tid}").json()["counts"]["running"] == 0,
            timeout=10,
            every=0.05,
        )
    final = user.get(f"/api/tasks/{tid}", params={"frames": True}).json()
    assert final["status"] == "failed"
    assert "lease expired" in final["frames_detail"][0]["error"]


def test_heartbeats_keep_the_lease_and_carry_progress_and_logs(
    short_lease_server: LiveServer,
) -> None:
    live = short_lease_server
    user, tid = _prepare(live, "1-2", chunk_size=2)
    worker = register_worker(live.url, live.farm.join_key, name="steady")
    lease = worker.post("/api/worker/claim", json={}).json()
    for i in range(8):  # 2.4 s, longer than the 1 s lease
        hb = worker.post(
            f"/api/worker/leases/{lease['lease_id']}/heartbeat",
            json={"progress": {"1": (i + 1) / 10}, "logs": {"1": f"line {i}\n"}},
        )
        assert hb.json()["action"] == "continue"
        time.sleep(0.3)
    detail = user.get(f"/api/tasks/{tid}", params={"frames": True}).json()
    assert detail["counts"]["running"] == 2
    assert detail["frames_detail"][0]["progress"] == pytest.approx(0.8)
    log = user.get(f"/api/tasks/{tid}/frames/1/log").text
    assert "line 0" in log and "line 7" in log


def test_worker_failure_is_retried_then_fails(live_server: LiveServer) -> None:
    user, tid = _prepare(live_server, "5", max_attempts=2)
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w")
    for attempt in (1, 2):
        lease = worker.post("/api/worker/claim", json={}).json()
        worker.post(
            f"/api/worker/leases/{lease['lease_id']}/frames",
            json={
                "results": [
                    {
                        "frame": 5,
                        "status": "failed",
                        "error": f"crash {attempt}",
                        "log": f"log {attempt}",
                    }
                ]
            },
        )
    assert worker.post("/api/worker/claim", json={}).status_code == 204
    frame = user.get(f"/api/tasks/{tid}", params={"frames": True}).json()["frames_detail"][0]
    assert frame["status"] == "failed" and frame["attempts"] == 2 and frame["error"] == "crash 2"
    log = user.get(f"/api/tasks/{tid}/frames/5/log").text
    assert "attempt 1" in log and "log 1" in log and "attempt 2" in log and "crash 2" in log


def test_sign_off_releases_frames_without_spending_attempts(live_server: LiveServer) -> None:
    user, tid = _prepare(live_server, "1-3", chunk_size=3)
    worker = register_worker(live_server.url, live_server.farm.join_key, name="leaving")
    worker.post("/api/worker/claim", json={}).raise_for_status()
    assert worker.post("/api/worker/sign-off").json()["released"] == 3
    detail = user.get(f"/api/tasks/{tid}", params={"frames": True}).json()
    assert detail["status"] == "queued" and all(f["attempts"] == 0 for f in detail["frames_detail"])


def test_software_and_tags_route_work(live_server: LiveServer) -> None:
    _user, tid = _prepare(live_server, "1", tags=["gpu"])
    maya_only = register_worker(
        live_server.url,
        live_server.farm.join_key,
        name="maya",
        software=[{"name": "maya", "version": "2024"}],
    )
    untagged = register_worker(live_server.url, live_server.farm.join_key, name="plain")
    tagged = register_worker(live_server.url, live_server.farm.join_key, name="gpu", tags=["gpu"])
    assert maya_only.post("/api/worker/claim", json={}).status_code == 204
    assert untagged.post("/api/worker/claim", json={}).status_code == 204
    assert tagged.post("/api/worker/claim", json={}).json()["task"]["id"] == tid


def test_priority_orders_the_queue(live_server: LiveServer) -> None:
    user, low = _prepare(live_server, "1", priority=0)
    high = submit(
        user, project_name="proj", input_scene_path="/v/p/scene.txt", frames="1", priority=10
    )["id"]
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w")
    assert worker.post("/api/worker/claim", json={}).json()["task"]["id"] == high
    assert worker.post("/api/worker/claim", json={}).json()["task"]["id"] == low


def test_worker_reads_only_inputs_of_its_work(live_server: LiveServer) -> None:
    user, _tid = _prepare(live_server, "1")
    secret = upload(user, "/elsewhere/secret.txt", b"not an input")
    scene_hash = upload(user, "/v/p/scene.txt", b"x")
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w")
    assert worker.get(f"/api/worker/blobs/{scene_hash}").status_code == 404  # no lease yet
    lease = worker.post("/api/worker/claim", json={}).json()
    assert {i["path"] for i in lease["inputs"]} == {"/v/p/scene.txt"}
    assert worker.get(f"/api/worker/blobs/{scene_hash}").content == b"x"
    assert worker.get(f"/api/worker/blobs/{secret}").status_code == 404


def test_a_deleted_tasks_inputs_never_reach_the_next_task(live_server: LiveServer) -> None:
    user, tid = _prepare(live_server, "1")
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w")
    first = worker.post("/api/worker/claim", json={}).json()
    assert first["inputs"][0]["path"] == "/v/p/scene.txt"
    user.post(f"/api/tasks/{tid}/stop").raise_for_status()
    user.delete(f"/api/tasks/{tid}").raise_for_status()
    upload(user, "/v/q/other.txt", b"other scene")
    second = submit(user, project_name="proj", input_scene_path="/v/q/other.txt", frames="1")
    lease = worker.post("/api/worker/claim", json={}).json()
    assert lease["task"]["id"] == second["id"]
    assert [i["path"] for i in lease["inputs"]] == ["/v/q/other.txt"]
    assert lease["task"]["scene_path"] == "/v/q/other.txt"


def test_counters_stay_true_under_concurrent_claims_reports_and_user_operations(
    short_lease_server: LiveServer,
) -> None:
    """Workers claim and report while the user stops, resumes and restarts and leases expire:
    no request fails with a server error (no deadlock) and the task's counters match its frames."""
    live = short_lease_server
    user, tid = _prepare(live, "1-300", chunk_size=5, max_attempts=100)
    workers = [register_worker(live.url, live.farm.join_key, name=f"c{i}") for i in range(6)]
    server_errors: list[str] = []
    stop = threading.Event()

    def work(i: int) -> None:
        client = workers[i]
        for n in range(400):  # bounded
            if stop.is_set():
                return
            r = client.post("/api/worker/claim", json={})
            if r.status_code >= 500:
                server_errors.append(r.text)
            if r.status_code != 200:
                time.sleep(0.02)
                continue
            lease = r.json()
            if (n + i) % 7 == 0:
                continue  # this one is "lost": its lease expires
            results = [
                {"frame": f, "status": "failed" if f % 11 == 0 else "done"} for f in lease["frames"]
            ]
            rep = client.post(
                f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": results}
            )
            if rep.status_code >= 500:
                server_errors.append(rep.text)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for _ in range(6):
        for op, body in (("stop", None), ("resume", None), ("restart", {"restart": "failed"})):
            r = user.post(f"/api/tasks/{tid}/{op}", json=body)
            if r.status_code >= 500:
                server_errors.append(r.text)
            time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not server_errors
    wait_until(
        "the leases to expire",
        lambda: user.get(f"/api/tasks/{tid}").json()["counts"]["running"] == 0,
        timeout=10,
        every=0.05,
    )
    detail = user.get(f"/api/tasks/{tid}", params={"frames": True}).json()
    actual: dict[str, int] = {}
    for f in detail["frames_detail"]:
        actual[f["status"]] = actual.get(f["status"], 0) + 1
    assert {k: v for k, v in detail["counts"].items() if v} == actual
    assert sum(detail["counts"].values()) == 300
