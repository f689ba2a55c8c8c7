"""Why a task waits, over HTTP (`GET /api/tasks/{id}/policy`, `waiting_for`): every worker
that offers its software failed it too often, none offers it, the ones that do are disabled,
an untrusted account's command task, a dependency, a full limit, workers gone quiet; '' for a
task that only waits for a free worker, and never in the task lists."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from foxden.db.schema import accounts, workers
from tests.conftest import LiveServer
from tests.farmkit import make_project, register_worker, upload
from tests.server.api.test_claims import _done, _scene, _submit


def _alone(live: LiveServer, name: str = "only") -> tuple[httpx.Client, httpx.Client]:
    """alice's client with project `proj` ('command 1') and a scene, and the one worker that
    offers 'command 1' (no other worker in the farm)."""
    worker = register_worker(
        live.url, live.farm.join_key, name=name, software=[{"name": "command", "version": "1"}]
    )
    user = live.client(live.user_key)
    make_project(user, "proj")
    upload(user, "/v/p/scene.txt", b"x")
    return user, worker


def _waiting_for(user: httpx.Client, task_id: int) -> str:
    reply = user.get(f"/api/tasks/{task_id}/policy")
    assert reply.status_code == 200, reply.text
    waiting: str = reply.json()["waiting_for"]
    return waiting


def _worker_id(live: LiveServer, name: str) -> int:
    listed: list[dict[str, Any]] = live.client(live.admin_key).get("/api/workers").json()
    return next(int(w["id"]) for w in listed if w["name"] == name)


def _fail(worker: httpx.Client) -> None:
    lease = worker.post("/api/worker/claim", json={"max_frames": 1}).json()
    failed = [{"frame": f, "status": "failed", "error": "crashed"} for f in lease["frames"]]
    reply = worker.post(f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": failed})
    assert reply.status_code == 200, reply.text


def test_a_task_its_only_worker_failed_too_often_says_so_even_after_a_re_enable(
    live_server: LiveServer,
) -> None:
    live = live_server
    user, worker = _alone(live)
    tid = _submit(user, "1-5", max_attempts=10, frame_order="in_order")
    assert _waiting_for(user, tid) == ""
    for _ in range(3):  # the farm's setting: 3 failed frames of a task
        _fail(worker)
    assert worker.post("/api/worker/claims", json={"slots": 1}).status_code == 204
    waiting = _waiting_for(user, tid)
    assert waiting.startswith("no worker takes it: 1 worker that offers command 1 failed 3")
    assert "enabling a worker again does not clear that" in waiting
    # an administrator disables and enables it: its flag clears, what it failed does not
    admin = live.client(live.admin_key)
    wid = _worker_id(live, "only")
    admin.post(f"/api/workers/{wid}/disable").raise_for_status()
    admin.post(f"/api/workers/{wid}/enable").raise_for_status()
    assert worker.post("/api/worker/claims", json={"slots": 1}).status_code == 204
    assert _waiting_for(user, tid) == waiting
    # a task that waits for it says so, and nothing of the worker that failed this one
    child = _submit(user, "1", depends_on=[tid])
    assert _waiting_for(user, child).startswith(f"waiting for task {tid} (queued)")
    # another worker that offers it, disabled: enabling that one would do
    spare = register_worker(
        live.url, live.farm.join_key, name="spare", software=[{"name": "command", "version": "1"}]
    )
    admin.post(f"/api/workers/{_worker_id(live, 'spare')}/disable").raise_for_status()
    assert _waiting_for(user, tid) == (
        f"{waiting.split('; it runs only')[0]}, and 1 worker that offers it is disabled, "
        "draining or not approved (an administrator can enable or approve it)"
    )
    admin.post(f"/api/workers/{_worker_id(live, 'spare')}/enable").raise_for_status()
    assert _waiting_for(user, tid) == ""  # nothing holds it back
    lease = spare.post("/api/worker/claim", json={}).json()
    assert lease["task"]["id"] == tid


def test_no_worker_offers_the_software_or_the_ones_that_do_are_disabled(
    live_server: LiveServer,
) -> None:
    live = live_server
    user, _worker = _alone(live)
    tid = _submit(user, "1-2")
    tagged = _submit(user, "1", tags=["gpu"])
    assert _waiting_for(user, tagged) == (
        "no worker offers command 1 with the tags gpu: it runs once one that does joins"
    )
    admin = live.client(live.admin_key)
    wid = _worker_id(live, "only")
    admin.post(f"/api/workers/{wid}/disable").raise_for_status()
    assert _waiting_for(user, tid) == (
        "no worker takes it: 1 worker that offers command 1 is disabled, draining or not "
        "approved (an administrator can enable or approve it)"
    )
    admin.post(f"/api/workers/{wid}/enable").raise_for_status()
    assert _waiting_for(user, tid) == ""
    admin.post(f"/api/workers/{wid}/revoke").raise_for_status()
    assert _waiting_for(user, tid) == "no worker offers command 1: it runs once one that does joins"


def test_an_untrusted_command_task_a_full_limit_and_quiet_workers(
    live_server: LiveServer,
) -> None:
    live = live_server
    user = _scene(live)  # a worker 'seed' offers the software
    worker = register_worker(live.url, live.farm.join_key, name="w")
    admin = live.client(live.admin_key)
    admin.put("/api/limits/arnold", json={"max_running": 1}).raise_for_status()
    limited = _submit(user, "1-3", limits=["arnold"], frame_order="in_order")
    assert _waiting_for(user, limited) == ""
    lease = worker.post("/api/worker/claim", json={"max_frames": 1}).json()
    assert lease["task"]["id"] == limited
    assert _waiting_for(user, limited) == "limit arnold is full: 1 of its 1 frames run now"
    admin.put("/api/limits/arnold", json={"max_running": 0}).raise_for_status()
    assert _waiting_for(user, limited) == "limit arnold holds its tasks (its maximum is 0 frames)"
    worker.post(f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": _done(lease)})
    admin.delete("/api/limits/arnold").raise_for_status()

    plain = _submit(user, "1-2")
    assert _waiting_for(user, plain) == ""
    # trust taken back by a path that left its command tasks queued (untrust stops them)
    with live.farm.db.write() as conn:
        conn.execute(update(accounts).where(accounts.c.name == "alice").values(trusted=False))
    assert _waiting_for(user, plain) == (
        "the command job type runs only for accounts an administrator trusts, and alice is not "
        "trusted now (foxden account trust alice)"
    )
    with live.farm.db.write() as conn:
        conn.execute(update(accounts).where(accounts.c.name == "alice").values(trusted=True))
        conn.execute(update(workers).values(last_seen=0.0))  # every worker gone quiet
    assert _waiting_for(user, plain) == (
        "waiting for a worker that offers command 1: the 2 that do are offline"
    )


def test_a_task_that_waits_for_a_free_worker_or_has_nothing_waiting_says_nothing(
    live_server: LiveServer,
) -> None:
    live = live_server
    user = _scene(live)
    worker = register_worker(live.url, live.farm.join_key, name="w")
    tid = _submit(user, "1")
    assert _waiting_for(user, tid) == ""
    lease = worker.post("/api/worker/claim", json={}).json()
    worker.post(f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": _done(lease)})
    assert user.get(f"/api/tasks/{tid}").json()["status"] == "done"
    assert _waiting_for(user, tid) == ""
    listed = user.get("/api/tasks").json()["items"]
    assert listed and all("waiting_for" not in t for t in listed)  # one task's view only
