"""What wakes a claim waiting for work (long poll) over HTTP, besides a submit: a dependency
done, room freed under a limit, frames given back (release), an account trusted again."""

from __future__ import annotations

import time

from sqlalchemy import update

from foxden.db.schema import accounts
from foxden.farm import wakeups
from tests.conftest import LiveServer
from tests.farmkit import register_worker
from tests.server.api.test_claims import _done, _in_thread, _scene, _submit
from tests.waiting import wait_until

WAIT = 30  # longer than any test waits: an answer before it is a wake-up


def _answered_by_a_wakeup(live: LiveServer, act: object, waiter: object) -> dict[str, object]:
    """Start `waiter()` (a claim that waits), do `act()` once it waits, return its lease."""
    signal = wakeups.signal_of(live.farm.db)
    thread, out = _in_thread(waiter)
    wait_until("the claim to wait", lambda: signal.waiting == 1, timeout=10)
    began = time.monotonic()
    act()  # type: ignore[operator]
    thread.join(timeout=WAIT + 10)
    reply = out["reply"]
    assert reply.status_code == 200, reply.text
    assert out["at"] - began < WAIT / 2, "answered at its timeout, not by a wake-up"
    lease: dict[str, object] = reply.json()
    return lease


def test_a_dependency_done_wakes_a_claim_for_its_dependent(live_server: LiveServer) -> None:
    user = _scene(live_server)
    parent = _submit(user, "1")
    child = _submit(user, "1-2", depends_on=[parent])
    first = register_worker(live_server.url, live_server.farm.join_key, name="first")
    second = register_worker(live_server.url, live_server.farm.join_key, name="second")
    held = first.post("/api/worker/claim", json={}).json()
    assert held["task"]["id"] == parent

    def finish() -> None:
        url = f"/api/worker/leases/{held['lease_id']}/frames"
        assert first.post(url, json={"results": _done(held)}).status_code == 200

    lease = _answered_by_a_wakeup(
        live_server, finish, lambda: second.post("/api/worker/claim", json={"wait": WAIT})
    )
    assert lease["task"] == {**lease["task"], "id": child}  # type: ignore[dict-item]


def test_room_freed_under_a_limit_wakes_a_claim(live_server: LiveServer) -> None:
    admin = live_server.client(live_server.admin_key)
    assert admin.put("/api/limits/licence", json={"max_running": 1}).status_code == 200
    user = _scene(live_server)
    tid = _submit(user, "1-2", limits=["licence"], frame_order="in_order")
    first = register_worker(live_server.url, live_server.farm.join_key, name="first")
    second = register_worker(live_server.url, live_server.farm.join_key, name="second")
    held = first.post("/api/worker/claim", json={}).json()
    assert held["frames"] == [1]
    assert second.post("/api/worker/claim", json={}).status_code == 204  # the limit is full

    def finish() -> None:
        url = f"/api/worker/leases/{held['lease_id']}/frames"
        assert first.post(url, json={"results": _done(held)}).status_code == 200

    lease = _answered_by_a_wakeup(
        live_server, finish, lambda: second.post("/api/worker/claim", json={"wait": WAIT})
    )
    assert lease["frames"] == [2] and lease["task"]["id"] == tid  # type: ignore[index]


def test_frames_given_back_wake_a_claim(live_server: LiveServer) -> None:
    user = _scene(live_server)
    tid = _submit(user, "1")
    first = register_worker(live_server.url, live_server.farm.join_key, name="first")
    second = register_worker(live_server.url, live_server.farm.join_key, name="second")
    held = first.post("/api/worker/claim", json={}).json()

    def give_back() -> None:
        url = f"/api/worker/leases/{held['lease_id']}/release"
        assert first.post(url).json() == {"released": 1}

    lease = _answered_by_a_wakeup(
        live_server, give_back, lambda: second.post("/api/worker/claims", json={"wait": WAIT})
    )
    assert [item["task"]["id"] for item in lease["leases"]] == [tid]  # type: ignore[attr-defined]


def test_an_account_trusted_again_wakes_a_claim_for_its_command_task(
    live_server: LiveServer,
) -> None:
    """A command task of an account that lost its trust behind the farm's back waits; trusting
    the account again wakes a held claim, which takes the task."""
    user = _scene(live_server)
    tid = _submit(user, "1")
    with live_server.farm.db.write() as conn:  # untrusted without the sweep: the task waits
        conn.execute(update(accounts).where(accounts.c.name == "alice").values(trusted=False))
    worker = register_worker(live_server.url, live_server.farm.join_key, name="waits")
    assert worker.post("/api/worker/claim", json={}).status_code == 204
    admin = live_server.client(live_server.admin_key)

    def trust() -> None:
        admin.post("/api/accounts/alice/trust", json={"trusted": True}).raise_for_status()

    lease = _answered_by_a_wakeup(
        live_server, trust, lambda: worker.post("/api/worker/claim", json={"wait": WAIT})
    )
    assert lease["task"] == {**lease["task"], "id": tid}  # type: ignore[dict-item]
