"""Claims at farm speed over HTTP: several slots in one request, claims that wait for work
(long poll) and reports that carry the next claim (docs/worker-protocol.md)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from foxden.farm import wakeups
from foxden.server.api import worker_routes
from tests.conftest import LiveServer, farm_settings, running_server
from tests.farmkit import make_project, register_worker, submit, upload
from tests.waiting import wait_until


def _scene(live: LiveServer) -> httpx.Client:
    """The user's client, with a project and a scene to render (and a worker offering the
    software, so submits find it)."""
    register_worker(live.url, live.farm.join_key, name="seed")
    user = live.client(live.user_key)
    make_project(user, "proj")
    upload(user, "/v/p/scene.txt", b"x")
    return user


def _submit(user: httpx.Client, frames: str, **fields: Any) -> int:
    task = submit(
        user, project_name="proj", input_scene_path="/v/p/scene.txt", frames=frames, **fields
    )
    return int(task["id"])


def _done(lease: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"frame": f, "status": "done"} for f in lease["frames"]]


def _counts(user: httpx.Client, task_id: int) -> dict[str, int]:
    counts: dict[str, int] = user.get(f"/api/tasks/{task_id}").json()["counts"]
    return counts


def _in_thread(call: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """Run `call()` in a thread; its reply (or error) and when it came land in the dict."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["reply"] = call()
        except Exception as exc:
            out["error"] = exc
        out["at"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_claims_gives_a_lease_per_slot_and_never_more_frames_than_exist(
    live_server: LiveServer,
) -> None:
    user = _scene(live_server)
    tid = _submit(user, "1-10", chunk_size=2, frame_order="in_order")
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w")
    reply = worker.post("/api/worker/claims", json={"slots": 3})
    assert reply.status_code == 200, reply.text
    leases = reply.json()["leases"]
    assert [lease["frames"] for lease in leases] == [[1, 2], [3, 4], [5, 6]]
    assert len({lease["lease_id"] for lease in leases}) == 3  # one lease per chunk
    assert {lease["task"]["id"] for lease in leases} == {tid}
    assert _counts(user, tid)["running"] == 6
    # more slots than frames left: the rest, once each, then nothing
    rest = worker.post("/api/worker/claims", json={"slots": 64, "max_frames": 1}).json()["leases"]
    assert [lease["frames"] for lease in rest] == [[7], [8], [9], [10]]
    assert worker.post("/api/worker/claims", json={"slots": 64}).status_code == 204
    assert _counts(user, tid) == {**_counts(user, tid), "running": 10, "waiting": 0}


def test_claims_share_the_slots_between_tasks_by_the_rules(live_server: LiveServer) -> None:
    user = _scene(live_server)
    low = _submit(user, "1-3", priority=0)
    high = _submit(user, "1", priority=10)
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w")
    leases = worker.post("/api/worker/claims", json={"slots": 3}).json()["leases"]
    assert [lease["task"]["id"] for lease in leases] == [high, low, low]
    # /claim keeps its one-lease reply
    lease = worker.post("/api/worker/claim", json={"slots": 5}).json()
    assert lease["task"]["id"] == low and len(lease["frames"]) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"slots": 0},
        {"slots": 65},
        {"slots": -1},
        {"slots": "many"},
        {"slots": 1.5},
        {"slots": 2**40},
        {"wait": -1},
        {"wait": 61},
        {"wait": 1e308},
        {"wait": "forever"},
        {"max_frames": 0},
        [],
        "claim",
    ],
)
def test_hostile_claim_bodies_are_422(live_server: LiveServer, body: Any) -> None:
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w")
    for path in ("/api/worker/claim", "/api/worker/claims"):
        reply = worker.post(path, json=body)
        assert reply.status_code == 422, reply.text
        assert reply.json()["error"]["code"] == "bad_request"
    lease_route = "/api/worker/leases/1/frames"
    reply = worker.post(lease_route, json={"results": [], "claim": body})
    assert reply.status_code == 422, reply.text


def test_malformed_worker_requests_are_422_not_500(live_server: LiveServer) -> None:
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w")
    for path, content in [
        ("/api/worker/claims", b""),
        ("/api/worker/claims", b"{not json"),
        ("/api/worker/claims", b'{"wait": NaN}'),
        ("/api/worker/claims", b'{"wait": Infinity}'),
        ("/api/worker/leases/1/heartbeat", b'{"progress": {"x": 1}}'),
        ("/api/worker/leases/0/heartbeat", b"{}"),
        ("/api/worker/leases/abc/frames", b'{"results": []}'),
        ("/api/worker/leases/99999999999/frames", b'{"results": []}'),
        ("/api/worker/leases/1/frames", b"{}"),
    ]:
        reply = worker.post(path, content=content, headers={"Content-Type": "application/json"})
        assert reply.status_code == 422, (path, content, reply.text)
        assert reply.json()["error"]["message"], reply.text
    # still a worker's route: no token is 401 before anything else
    stranger = httpx.post(f"{live_server.url}/api/worker/claims", json={"slots": 0})
    assert stranger.status_code == 401
    assert httpx.post(f"{live_server.url}/api/worker/claims", json={}).status_code == 401


def test_a_waiting_claim_gets_a_task_submitted_during_its_wait(live_server: LiveServer) -> None:
    user = _scene(live_server)
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w")
    assert worker.post("/api/worker/claim", json={}).status_code == 204
    signal = wakeups.signal_of(live_server.farm.db)
    thread, out = _in_thread(lambda: worker.post("/api/worker/claim", json={"wait": 20}))
    wait_until("the claim to wait", lambda: signal.waiting == 1, timeout=10)
    submitted = time.monotonic()
    tid = _submit(user, "1-2")
    thread.join(timeout=30)
    reply = out["reply"]
    assert reply.status_code == 200, reply.text
    assert reply.json()["task"]["id"] == tid
    assert out["at"] - submitted < 10, "the waiting claim was not woken by the submit"
    assert signal.waiting == 0


def test_a_waiting_claim_answers_204_at_its_timeout(live_server: LiveServer) -> None:
    _scene(live_server)
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w")
    began = time.monotonic()
    reply = worker.post("/api/worker/claims", json={"slots": 2, "wait": 1.0})
    took = time.monotonic() - began
    assert reply.status_code == 204 and reply.content == b""
    assert took >= 0.9, f"answered after {took:.2f} s, before its wait"
    assert wakeups.signal_of(live_server.farm.db).waiting == 0


@pytest.fixture
def short_wait_server(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server that holds a claim at most half a second."""
    with running_server(farm_settings(db_url, tmp_path, claim_wait_seconds=0.5)) as live:
        yield live


def test_the_server_holds_a_claim_at_most_its_claim_wait_seconds(
    short_wait_server: LiveServer,
) -> None:
    worker = register_worker(short_wait_server.url, short_wait_server.farm.join_key, name="w")
    began = time.monotonic()
    assert worker.post("/api/worker/claim", json={"wait": 60}).status_code == 204
    assert time.monotonic() - began < 15


def test_woken_waiters_pass_the_turn_until_a_submit_is_drained(live_server: LiveServer) -> None:
    user = _scene(live_server)
    clients = [
        register_worker(live_server.url, live_server.farm.join_key, name=f"w{i}") for i in range(4)
    ]
    signal = wakeups.signal_of(live_server.farm.db)
    waiting = [
        _in_thread(lambda c=c: c.post("/api/worker/claim", json={"wait": 30})) for c in clients
    ]
    wait_until("four claims to wait", lambda: signal.waiting == 4, timeout=10)
    submitted = time.monotonic()
    tid = _submit(user, "1-4", chunk_size=1)
    for thread, _ in waiting:
        thread.join(timeout=40)
    replies = [out["reply"] for _, out in waiting]
    assert [r.status_code for r in replies] == [200] * 4, [r.text for r in replies]
    frames = sorted(f for r in replies for f in r.json()["frames"])
    assert frames == [1, 2, 3, 4]  # each frame once, to four waiters
    assert max(out["at"] for _, out in waiting) - submitted < 20
    assert _counts(user, tid)["running"] == 4


def test_waiting_claims_hold_no_thread(live_server: LiveServer) -> None:
    """More claims wait than the server has threads (40), and it still answers at once."""
    _scene(live_server)
    clients = [
        register_worker(live_server.url, live_server.farm.join_key, name=f"w{i}") for i in range(45)
    ]
    signal = wakeups.signal_of(live_server.farm.db)
    waiting = [
        _in_thread(lambda c=c: c.post("/api/worker/claim", json={"wait": 8})) for c in clients
    ]
    try:
        wait_until("45 claims to wait", lambda: signal.waiting == 45, timeout=30)
        began = time.monotonic()
        assert httpx.get(f"{live_server.url}/healthz", timeout=5).status_code == 200
        assert clients[0].post("/api/worker/claim", json={}).status_code == 204
        assert time.monotonic() - began < 5
    finally:
        signal.work_appeared()  # wake them: nothing to claim, they wait out their time
        for thread, _ in waiting:
            thread.join(timeout=30)
    for c in clients:
        c.close()


def test_a_client_gone_ends_its_wait(live_server: LiveServer) -> None:
    _scene(live_server)
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w")
    signal = wakeups.signal_of(live_server.farm.db)
    with pytest.raises(httpx.ReadTimeout):
        worker.post("/api/worker/claim", json={"wait": 30}, timeout=1.0)
    wait_until("the wait to end", lambda: signal.waiting == 0, timeout=10)


def _register(live: LiveServer, name: str) -> tuple[httpx.Client, int]:
    reply = httpx.post(
        f"{live.url}/api/worker/register",
        json={"name": name, "software": [{"name": "command", "version": "1"}]},
        headers={"Authorization": f"Bearer {live.farm.join_key}"},
    )
    body = reply.json()
    client = httpx.Client(
        base_url=live.url, headers={"Authorization": f"Bearer {body['token']}"}, timeout=30
    )
    return client, int(body["worker_id"])


def test_a_worker_revoked_while_its_claim_waits_gets_401(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_routes, "STANDING_EVERY", 0.2)
    _scene(live_server)
    worker, worker_id = _register(live_server, "doomed")
    signal = wakeups.signal_of(live_server.farm.db)
    thread, out = _in_thread(lambda: worker.post("/api/worker/claims", json={"wait": 30}))
    wait_until("the claim to wait", lambda: signal.waiting == 1, timeout=10)
    admin = live_server.client(live_server.admin_key)
    assert admin.post(f"/api/workers/{worker_id}/revoke").status_code == 200
    thread.join(timeout=20)
    assert out["reply"].status_code == 401, out["reply"].text


def test_drained_workers_wait_out_their_claim_with_204(live_server: LiveServer) -> None:
    user = _scene(live_server)
    _submit(user, "1")
    worker, worker_id = _register(live_server, "drained")
    admin = live_server.client(live_server.admin_key)
    assert admin.post(f"/api/workers/{worker_id}/drain").status_code == 200
    assert worker.post("/api/worker/claims", json={"slots": 4, "wait": 0.5}).status_code == 204


def test_report_carries_the_next_claim(live_server: LiveServer) -> None:
    user = _scene(live_server)
    tid = _submit(user, "1-5", chunk_size=2, frame_order="in_order")
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w")
    lease = worker.post("/api/worker/claim", json={}).json()
    assert lease["frames"] == [1, 2]
    # without a claim the reply is as before: no `leases`
    first = worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames",
        json={"results": [{"frame": 1, "status": "done"}]},
    ).json()
    assert first == {"accepted": [1], "rejected": []}
    lease["frames"] = [2]
    seen = [1, 2]
    while True:
        reply = worker.post(
            f"/api/worker/leases/{lease['lease_id']}/frames",
            json={"results": _done(lease), "claim": {"slots": 1}},
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["accepted"] == lease["frames"] and body["rejected"] == []
        if not body["leases"]:
            break
        (lease,) = body["leases"]
        assert lease["task"]["id"] == tid and lease["lease_seconds"] > 0
        counts = _counts(user, tid)
        assert counts["running"] == len(lease["frames"])
        assert counts["done"] == len(seen)
        seen += lease["frames"]
    assert seen == [1, 2, 3, 4, 5]
    final = user.get(f"/api/tasks/{tid}", params={"frames": True}).json()
    assert final["status"] == "done" and final["counts"]["done"] == 5
    assert all(f["attempts"] == 1 for f in final["frames_detail"])


def test_report_claims_for_several_slots(live_server: LiveServer) -> None:
    user = _scene(live_server)
    tid = _submit(user, "1-4", chunk_size=1, frame_order="in_order")
    worker = register_worker(live_server.url, live_server.farm.join_key, name="w")
    lease = worker.post("/api/worker/claim", json={}).json()
    reply = worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames",
        json={"results": _done(lease), "claim": {"slots": 8, "wait": 30}},
    ).json()
    assert [n["frames"] for n in reply["leases"]] == [[2], [3], [4]]
    assert _counts(user, tid)["running"] == 3 and _counts(user, tid)["done"] == 1
