"""Idle polls over HTTP: a claim that answers 204 opens no write transaction while the
worker's `last_seen` is fresh (`scheduler.SEEN_EVERY`), a poll while no work appeared since the
worker's last empty claim runs no query at all (`wakeups.IdleMemo`), and work is still handed
out at once."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select

from foxden.core.states import WorkerMode
from foxden.db.schema import worker_task_failures, workers
from foxden.farm import scheduler, wakeups
from foxden.farm import workers as workers_farm
from foxden.server.api import worker_routes
from tests.conftest import LiveServer
from tests.farmkit import register_worker
from tests.server.api.test_claims import _scene, _submit


def test_idle_polls_answer_204_without_writing(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = live_server.farm.db
    worker = register_worker(live_server.url, live_server.farm.join_key, name="idle")
    assert worker.post("/api/worker/claim", json={}).status_code == 204  # noted idle
    with db.read() as conn:
        seen = conn.execute(select(workers.c.status, workers.c.last_seen)).one()
    opened: list[str] = []
    real: Callable[..., AbstractContextManager[Connection]] = db.write

    def counting(**kw: Any) -> AbstractContextManager[Connection]:
        caller = sys._getframe(1).f_code  # the server's background loops write too
        opened.append(f"{caller.co_filename}:{caller.co_name}")
        return real(**kw)

    monkeypatch.setattr(db, "write", counting)
    answers = [worker.post("/api/worker/claim", json={}).status_code for _ in range(10)]
    assert time.time() - seen.last_seen < scheduler.SEEN_EVERY, "too slow to prove anything"
    assert answers == [204] * 10
    claims = [
        where
        for where in opened
        if where.endswith(("scheduler.py:claim", "scheduler.py:claim_many"))
    ]
    assert claims == [], "an idle poll opened a write transaction"
    with db.read() as conn:
        assert conn.execute(select(workers.c.status, workers.c.last_seen)).one() == seen
    assert seen.status == "idle"


def _counting_claims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The claim queries the claim routes run (`worker_routes.claim_once`), by worker id."""
    ran: list[int] = []
    real = worker_routes.claim_once

    async def counting(farm: Any, worker: Any, *args: Any, **kw: Any) -> Any:
        ran.append(worker.id)
        return await real(farm, worker, *args, **kw)

    monkeypatch.setattr(worker_routes, "claim_once", counting)
    return ran


def test_a_poll_while_nothing_new_appeared_runs_no_query(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a claim found nothing, the same worker's polls are answered 204 without a query
    until work appears (`wakeups.IdleMemo`); a submit makes the next poll query and get it."""
    user = _scene(live_server)
    worker = register_worker(live_server.url, live_server.farm.join_key, name="poller")
    ran = _counting_claims(monkeypatch)
    answers = [worker.post("/api/worker/claim", json={}).status_code for _ in range(6)]
    assert answers == [204] * 6
    assert len(ran) == 1, "polls with nothing new ran the claim query"
    task_id = _submit(user, "1")
    lease = worker.post("/api/worker/claim", json={})
    assert lease.status_code == 200
    assert lease.json()["task"]["id"] == task_id
    assert len(ran) == 2


def test_work_made_unseen_by_the_server_waits_at_most_the_memos_time(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work the server's signal never heard of (as from another server process: here the
    submit's wake-up is left out) is found once the memo's time has passed."""
    user = _scene(live_server)
    worker = register_worker(live_server.url, live_server.farm.join_key, name="poller")
    memo = wakeups.signal_of(live_server.farm.db).idle
    monkeypatch.setattr(memo, "seconds", 1.0)
    assert worker.post("/api/worker/claim", json={}).status_code == 204
    with monkeypatch.context() as quiet:
        quiet.setattr(wakeups, "on_commit", lambda conn, n=None: None)
        task_id = _submit(user, "1")
    began = time.monotonic()
    assert worker.post("/api/worker/claim", json={}).status_code == 204  # the memo answers
    while (reply := worker.post("/api/worker/claim", json={})).status_code == 204:
        assert time.monotonic() - began < 5, "the work was never found"
        time.sleep(0.1)
    assert reply.json()["task"]["id"] == task_id


def test_a_worker_that_changed_its_software_is_asked_again() -> None:
    """The memo holds for the worker as it was (software, tags): the same id with other
    software runs the query."""
    memo = wakeups.IdleMemo(seconds=60)
    before = scheduler.WorkerInfo(7, ("blender 3.4",), frozenset())
    memo.found_nothing(7, before, 3, 100.0)
    assert memo.still_nothing(7, before, 3, 101.0)
    assert not memo.still_nothing(7, before, 4, 101.0)  # work appeared since
    assert not memo.still_nothing(7, before, 3, 161.0)  # too old
    after = scheduler.WorkerInfo(7, ("blender 3.4", "maya 2024"), frozenset())
    assert not memo.still_nothing(7, after, 3, 101.0)
    tagged = scheduler.WorkerInfo(7, ("blender 3.4",), frozenset({"gpu"}))
    assert not memo.still_nothing(7, tagged, 3, 101.0)
    memo.forget(7)
    assert not memo.still_nothing(7, before, 3, 101.0)


def test_the_memo_per_kind_holds_for_workers_of_that_kind_whose_own_is_recent() -> None:
    memo = wakeups.IdleMemo(seconds=60)
    seven = scheduler.WorkerInfo(7, ("blender 3.4",), frozenset())
    eight = scheduler.WorkerInfo(8, ("blender 3.4",), frozenset())
    tagged = scheduler.WorkerInfo(9, ("blender 3.4",), frozenset({"gpu"}))
    for w in (seven, eight, tagged):
        memo.found_nothing(w.id, w, 3, 100.0)
    memo.found_nothing(8, eight, 4, 110.0)  # nothing for eight itself only: not shared
    assert not memo.still_nothing(7, seven, 4, 111.0)
    memo.found_nothing(8, eight, 4, 112.0, for_anyone=True)
    assert memo.still_nothing(7, seven, 4, 113.0)  # the same kind, its own claim recent
    assert not memo.still_nothing(9, tagged, 4, 113.0)  # another kind
    assert not memo.still_nothing(7, seven, 5, 113.0)  # work appeared since
    assert not memo.still_nothing(7, seven, 4, 161.0)  # its own last query is too old


def test_the_memo_stays_within_its_size() -> None:
    memo = wakeups.IdleMemo(seconds=5, size=10)
    for worker_id in range(25):
        memo.found_nothing(worker_id, None, 1, float(worker_id))
        assert len(memo._found_nothing) <= 10
    assert memo.still_nothing(24, None, 1, 25.0)


def test_after_a_submit_one_empty_claim_answers_for_the_workers_of_its_kind(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work appearing moves the generation for every worker; once one worker took it and
    another's claim found nothing left for any worker of their kind, the third is answered
    without a query (`IdleMemo`'s memo per kind), not a thousand queries per submit."""
    user = _scene(live_server)
    crew = [
        register_worker(live_server.url, live_server.farm.join_key, name=f"w{i}") for i in range(3)
    ]
    ran = _counting_claims(monkeypatch)
    assert [w.post("/api/worker/claim", json={}).status_code for w in crew] == [204] * 3
    assert len(ran) == 3
    _submit(user, "1")
    first, second, third = crew
    assert first.post("/api/worker/claim", json={}).status_code == 200
    assert second.post("/api/worker/claim", json={}).status_code == 204  # queried: none left
    assert len(ran) == 5
    assert third.post("/api/worker/claim", json={}).status_code == 204
    assert len(ran) == 5, "the third worker queried though nothing was left for its kind"
    other = register_worker(
        live_server.url, live_server.farm.join_key, name="tagged", tags=["gpu"]
    )  # another kind: its first claim queries
    assert other.post("/api/worker/claim", json={}).status_code == 204
    assert len(ran) == 6


@pytest.mark.parametrize("narrowed_by", ["disabled", "blocklisted"])
def test_an_empty_claim_narrowed_by_the_workers_own_rules_answers_for_nobody_else(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, narrowed_by: str
) -> None:
    """A worker that finds nothing because it is disabled, or blocklisted on the task, must
    not make the memo answer "no work" to the other workers of its kind."""
    user = _scene(live_server)
    db = live_server.farm.db
    shut, open_ = (
        register_worker(live_server.url, live_server.farm.join_key, name=n) for n in "ab"
    )
    ran = _counting_claims(monkeypatch)
    assert shut.post("/api/worker/claim", json={}).status_code == 204
    assert open_.post("/api/worker/claim", json={}).status_code == 204
    shut_id = ran[0]
    if narrowed_by == "disabled":
        workers_farm.set_admin_state(db, shut_id, WorkerMode.DISABLED)
    task_id = _submit(user, "1")
    if narrowed_by == "blocklisted":
        with db.write() as conn:
            conn.execute(
                insert(worker_task_failures).values(
                    worker_id=shut_id, task_id=task_id, failures=1000, last_at=time.time()
                )
            )
    assert shut.post("/api/worker/claim", json={}).status_code == 204
    assert len(ran) == 3  # it queried, and found nothing for itself
    lease = open_.post("/api/worker/claim", json={})
    assert lease.status_code == 200, "the other worker was told there is no work"
    assert lease.json()["task"]["id"] == task_id
