"""Administrators drain, disable and re-enable workers over the API; the claim obeys at once."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from foxden.farm.wakeups import IDLE_MEMO_SECONDS, signal_of
from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, submit, upload
from tests.waiting import wait_until


def _task(live: LiveServer, frames: str) -> dict[str, Any]:
    alice = live.client(live.user_key)
    make_project(alice, "p")
    upload(alice, "/v/p/scene.txt", b"alice's scene")
    return submit(
        alice,
        project_name="p",
        input_scene_path="/v/p/scene.txt",
        frames=frames,
        chunk_size=1,
        max_attempts=3,
        frame_order="in_order",  # these tests follow frames by number
    )


def _worker_id(admin: httpx.Client, name: str) -> int:
    return int(next(w["id"] for w in admin.get("/api/workers").json() if w["name"] == name))


def _listed(admin: httpx.Client, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(w for w in admin.get("/api/workers").json() if w["name"] == name)
    return found


def _counts(live: LiveServer, task_id: int) -> dict[str, int]:
    counts: dict[str, int] = (
        live.client(live.user_key).get(f"/api/tasks/{task_id}").json()["counts"]
    )
    return counts


def _finish(worker: httpx.Client, lease: dict[str, Any]) -> httpx.Response:
    frame = lease["frames"][0]
    return worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames",
        json={"results": [{"frame": frame, "status": "done", "render_time": 0.1}]},
    )


def test_a_draining_worker_finishes_its_lease_and_claims_nothing_new(
    live_server: LiveServer,
) -> None:
    live = live_server
    worker = register_worker(live.url, live.farm.join_key, name="drained")
    task = _task(live, "1-3")
    lease = worker.post("/api/worker/claim", json={}).json()
    admin = live.client(live.admin_key)
    worker_id = _worker_id(admin, "drained")
    assert live.client(live.user_key).post(f"/api/workers/{worker_id}/drain").status_code == 403

    reply = admin.post(f"/api/workers/{worker_id}/drain")
    assert reply.status_code == 200
    assert reply.json() == {"worker_id": worker_id, "admin_state": "draining", "released": 0}
    assert _listed(admin, "drained")["admin_state"] == "draining"
    # its lease lives on: heartbeats continue and its frame is accepted
    beat = worker.post(
        f"/api/worker/leases/{lease['lease_id']}/heartbeat", json={"progress": {"1": 0.5}}
    )
    assert beat.status_code == 200 and beat.json()["action"] == "continue"
    assert _finish(worker, lease).json()["accepted"] == [1]
    # but it claims no new work while frames wait
    assert worker.post("/api/worker/claim", json={}).status_code == 204
    assert _counts(live, task["id"])["waiting"] == 2
    listed = _listed(admin, "drained")
    assert listed["frames_done"] == 1 and listed["frames_failed"] == 0
    assert listed["current_work"] == []

    # enabled again, it claims the next frame
    back = admin.post(f"/api/workers/{worker_id}/enable")
    assert back.status_code == 200 and back.json()["admin_state"] == "active"
    again = worker.post("/api/worker/claim", json={})
    assert again.status_code == 200 and again.json()["frames"] == [2]


def test_a_disabled_worker_gives_its_frames_back_and_claims_nothing(
    live_server: LiveServer,
) -> None:
    live = live_server
    worker = register_worker(live.url, live.farm.join_key, name="off")
    task = _task(live, "1-2")
    lease = worker.post("/api/worker/claim", json={}).json()
    assert _counts(live, task["id"])["running"] == 1
    admin = live.client(live.admin_key)
    worker_id = _worker_id(admin, "off")

    reply = admin.post(f"/api/workers/{worker_id}/disable")
    assert reply.status_code == 200
    assert reply.json() == {"worker_id": worker_id, "admin_state": "disabled", "released": 1}
    # its frame waits again with no attempt spent; its heartbeat hears the lease is gone
    counts = _counts(live, task["id"])
    assert counts["waiting"] == 2 and counts["running"] == 0
    frames = live.client(live.user_key).get(f"/api/tasks/{task['id']}?frames=true").json()
    assert [f["attempts"] for f in frames["frames_detail"]] == [0, 0]
    beat = worker.post(f"/api/worker/leases/{lease['lease_id']}/heartbeat", json={})
    assert beat.status_code == 410
    assert worker.post("/api/worker/claim", json={}).status_code == 204
    # its token still works (it is not revoked), and another worker takes the frames
    other = register_worker(live.url, live.farm.join_key, name="other")
    assert other.post("/api/worker/claim", json={}).json()["frames"] == [1]
    assert _listed(admin, "off")["admin_state"] == "disabled"
    assert admin.post(f"/api/workers/{worker_id}/enable").status_code == 200
    assert worker.post("/api/worker/claim", json={}).json()["frames"] == [2]


def test_drain_and_disable_refuse_unknown_and_revoked_workers(live_server: LiveServer) -> None:
    live = live_server
    register_worker(live.url, live.farm.join_key, name="gone")
    admin = live.client(live.admin_key)
    worker_id = _worker_id(admin, "gone")
    assert admin.post(f"/api/workers/{worker_id}/revoke").status_code == 200
    for action in ("drain", "disable", "enable"):
        refused = admin.post(f"/api/workers/{worker_id}/{action}")
        assert refused.status_code == 409 and "revoked" in refused.json()["error"]["message"]
        assert admin.post(f"/api/workers/99999/{action}").status_code == 404
        assert admin.post(f"/api/workers/0/{action}").status_code == 422


def test_the_command_line_drains_disables_and_enables(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from foxden.cli import main

    worker = register_worker(live_server.url, live_server.farm.join_key, name="cli-w")
    _task(live_server, "1-3")
    admin = live_server.client(live_server.admin_key)
    wid = _worker_id(admin, "cli-w")
    farm = [
        "--data-dir",
        str(live_server.data_dir),
        "--database-url",
        live_server.farm.settings.db_url,
    ]
    for action, state, claim in (
        ("drain", "draining", 204),
        ("enable", "active", 200),
        ("disable", "disabled", 204),
    ):
        assert main(["workers", action, str(wid), *farm]) == 0
        out = capsys.readouterr().out
        assert json.loads(out)["admin_state"] == state
        assert _listed(admin, "cli-w")["admin_state"] == state
        if claim == 204:
            assert worker.post("/api/worker/claim", json={}).status_code == 204
        else:  # the command ran in this process, not the server's: no wake-up reached the
            # server, so a poll finds the work once the server's memo of its last empty claim
            # lapses (wakeups.IDLE_MEMO_SECONDS)
            began = time.monotonic()
            wait_until(
                "the enabled worker to get work",
                lambda: worker.post("/api/worker/claim", json={}).status_code == 200,
                timeout=IDLE_MEMO_SECONDS + 10,
            )
            assert time.monotonic() - began < IDLE_MEMO_SECONDS + 2
    assert main(["workers", "drain", "99999", *farm]) != 0
    assert "99999" in capsys.readouterr().err


def test_enabling_a_worker_answers_its_claim_held_open_at_once(live_server: LiveServer) -> None:
    """A drained worker's long-poll claim waits while frames wait; enabling it wakes the claim,
    which answers with the frame long before its wait runs out."""
    live = live_server
    worker = register_worker(live.url, live.farm.join_key, name="waits")
    admin = live.client(live.admin_key)
    worker_id = _worker_id(admin, "waits")
    assert admin.post(f"/api/workers/{worker_id}/drain").status_code == 200
    _task(live, "1")
    replies: list[tuple[httpx.Response, float]] = []

    def held_claim() -> None:
        began = time.monotonic()
        reply = worker.post("/api/worker/claims", json={"slots": 2, "wait": 15}, timeout=30)
        replies.append((reply, time.monotonic() - began))

    thread = threading.Thread(target=held_claim)
    thread.start()
    signal = signal_of(live.farm.db)
    wait_until("the claim held open", lambda: signal.waiting == 1, timeout=10)
    assert admin.post(f"/api/workers/{worker_id}/enable").status_code == 200
    thread.join(timeout=30)
    [(reply, took)] = replies
    assert reply.status_code == 200, reply.text
    assert [lease["frames"] for lease in reply.json()["leases"]] == [[1]]
    assert took < 10  # woken by the enable, not by its 15 s wait running out
