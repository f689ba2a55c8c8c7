"""A report sent again (its reply lost) over HTTP: with the report's `key`, the retry gets the
first reply, the lease it claimed included, and nothing is applied or claimed twice; without
a key (an older worker) the retry is refused as lease lost, as before."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from sqlalchemy import func, select

from foxden.core.states import LeaseState
from foxden.db.schema import leases
from tests.conftest import LiveServer
from tests.farmkit import register_worker
from tests.server.api.test_claims import _counts, _done, _scene, _submit


def _live_leases(live: LiveServer) -> int:
    with live.farm.db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(leases.c.state == LeaseState.ACTIVE.value)
            ).scalar_one()
        )


def _first_lease(live: LiveServer) -> tuple[httpx.Client, httpx.Client, int, dict[str, Any]]:
    user = _scene(live)
    tid = _submit(user, "1-3", chunk_size=1, frame_order="in_order")
    worker = register_worker(live.url, live.farm.join_key, name="w")
    lease: dict[str, Any] = worker.post("/api/worker/claim", json={}).json()
    assert lease["frames"] == [1]
    return user, worker, tid, lease


def test_a_keyed_report_sent_again_gets_the_first_reply(live_server: LiveServer) -> None:
    user, worker, tid, lease = _first_lease(live_server)
    url = f"/api/worker/leases/{lease['lease_id']}/frames"
    body = {"results": _done(lease), "claim": {}, "key": "report-1"}
    first = worker.post(url, json=body)
    assert first.status_code == 200
    [claimed] = first.json()["leases"]
    assert claimed["frames"] == [2]
    again = worker.post(url, json=body)  # as if the first reply never arrived
    assert again.status_code == 200
    assert again.json() == first.json()
    assert _live_leases(live_server) == 1  # frame 2's, claimed once
    assert _counts(user, tid) == {**_counts(user, tid), "done": 1, "running": 1, "waiting": 1}
    # another key is another report: the lease is done, so it is refused
    other = worker.post(url, json={**body, "key": "report-2"})
    assert other.status_code == 410
    # so is a report without a key (an older worker's retry)
    bare = worker.post(url, json={"results": _done(lease), "claim": {}})
    assert bare.status_code == 410
    assert _live_leases(live_server) == 1


def test_the_same_report_twice_at_once_is_applied_once(live_server: LiveServer) -> None:
    user, worker, tid, lease = _first_lease(live_server)
    url = f"/api/worker/leases/{lease['lease_id']}/frames"
    body = {"results": _done(lease), "claim": {}, "key": "twice"}
    replies: list[httpx.Response] = []
    start = threading.Barrier(2)

    def send() -> None:
        with httpx.Client(base_url=live_server.url, headers=worker.headers) as own:
            start.wait()
            replies.append(own.post(url, json=body))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert [r.status_code for r in replies] == [200, 200]
    assert replies[0].json() == replies[1].json()
    assert len(replies[0].json()["leases"]) == 1
    assert _live_leases(live_server) == 1
    assert _counts(user, tid)["done"] == 1


def test_a_refused_keyed_report_may_be_sent_again(live_server: LiveServer) -> None:
    """A first report that failed (here: an output it never uploaded) is not kept: the
    corrected retry with the same key is applied."""
    _user, worker, _tid, lease = _first_lease(live_server)
    url = f"/api/worker/leases/{lease['lease_id']}/frames"
    bad = {
        "results": [
            {
                "frame": 1,
                "status": "done",
                "outputs": [{"name": "f.png", "hash": "ab" * 32, "size": 3}],
            }
        ],
        "key": "k",
    }
    assert worker.post(url, json=bad).status_code == 422
    good = worker.post(url, json={"results": _done(lease), "key": "k"})
    assert good.status_code == 200
    assert good.json()["accepted"] == [1]


def test_a_key_is_a_short_plain_word(live_server: LiveServer) -> None:
    _user, worker, _tid, lease = _first_lease(live_server)
    url = f"/api/worker/leases/{lease['lease_id']}/frames"
    for key in ("", "a b", "x" * 65, "ключ", 5, ["k"], {"k": 1}):
        reply = worker.post(url, json={"results": _done(lease), "key": key})
        assert reply.status_code == 422, key
