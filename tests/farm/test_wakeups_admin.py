"""What frees work wakes the claims held open (long poll, `farm/wakeups.py`): a worker
approved, enabled or un-drained wakes them all; a limit raised wakes as many as it makes room
for, a limit removed (from the farm or a project) wakes them all; what frees nothing wakes none.
Real waiters on the farm's signal, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from foxden.core.states import WorkerMode
from foxden.db.engine import Database
from foxden.errors import NotFound
from foxden.farm import limits
from foxden.farm import workers as farm_workers
from foxden.farm.wakeups import signal_of
from tests.farm.policykit import PolicyFarm, policy_farm_fixture  # noqa: F401

WAITING = 5


def woken_by(db: Database, action: Callable[[], object], waiting: int = WAITING) -> int:
    """How many of `waiting` claims held open on `db`'s farm `action` wakes."""
    signal = signal_of(db)
    woken: list[int] = []
    ready, done = threading.Event(), threading.Event()

    async def main() -> None:
        since = signal.generation
        held = [asyncio.create_task(signal.wait(60.0, since=since)) for _ in range(waiting)]
        while signal.waiting < waiting:
            await asyncio.sleep(0.005)
        ready.set()
        while not done.is_set():
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.2)  # a wake-up arrives at once after the commit
        woken.append(sum(1 for t in held if t.done() and t.result()))
        signal.work_appeared(None)  # let the rest go
        await asyncio.gather(*held)

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    assert ready.wait(10)
    try:
        action()
    finally:
        done.set()
        thread.join(10)
    [count] = woken
    return count


def test_approving_a_worker_wakes_every_waiting_claim(policy_farm: PolicyFarm) -> None:
    db = policy_farm.farm.db
    worker = policy_farm.worker("new")
    assert woken_by(db, lambda: farm_workers.approve(db, worker.id)) == WAITING


def test_enabling_or_undraining_wakes_every_waiting_claim_draining_none(
    policy_farm: PolicyFarm,
) -> None:
    db = policy_farm.farm.db
    worker = policy_farm.worker("w")
    assert (
        woken_by(db, lambda: farm_workers.set_admin_state(db, worker.id, WorkerMode.DRAINING)) == 0
    )
    assert (
        woken_by(db, lambda: farm_workers.set_admin_state(db, worker.id, WorkerMode.ACTIVE))
        == WAITING
    )
    assert (
        woken_by(db, lambda: farm_workers.set_admin_state(db, worker.id, WorkerMode.DISABLED)) == 0
    )
    assert (
        woken_by(db, lambda: farm_workers.set_admin_state(db, worker.id, WorkerMode.ACTIVE))
        == WAITING
    )


def test_an_action_that_fails_wakes_none(policy_farm: PolicyFarm) -> None:
    db = policy_farm.farm.db

    def approve_nobody() -> None:
        with pytest.raises(NotFound):
            farm_workers.approve(db, 987654)

    assert woken_by(db, approve_nobody) == 0


def test_a_limit_raised_wakes_as_many_claims_as_it_makes_room_for(
    policy_farm: PolicyFarm,
) -> None:
    db = policy_farm.farm.db
    assert woken_by(db, lambda: limits.set_limit(db, "arnold", 1)) == 0  # new: frees nothing
    assert woken_by(db, lambda: limits.set_limit(db, "arnold", 3)) == 2
    assert woken_by(db, lambda: limits.set_limit(db, "arnold", 3)) == 0
    assert woken_by(db, lambda: limits.set_limit(db, "arnold", 0)) == 0  # lowered
    assert woken_by(db, lambda: limits.set_limit(db, "arnold", 100)) == WAITING
    assert woken_by(db, lambda: limits.remove_limit(db, "arnold")) == WAITING


def test_a_limit_taken_off_a_project_wakes_every_waiting_claim(policy_farm: PolicyFarm) -> None:
    db, ann = policy_farm.farm.db, policy_farm.account("ann")
    limits.set_limit(db, "license", 0)
    limits.set_limit(db, "disk", 0)

    def project_takes(*names: str) -> Callable[[], object]:
        return lambda: limits.set_project_limits(db, ann, "ann", "proj", list(names))

    assert woken_by(db, project_takes("license")) == 0
    assert woken_by(db, project_takes("license", "disk")) == 0
    assert woken_by(db, project_takes("disk")) == WAITING
    assert woken_by(db, project_takes()) == WAITING


def test_a_claim_woken_by_a_raised_limit_finds_the_work(policy_farm: PolicyFarm) -> None:
    """The wake-up comes after the commit: the woken claim sees the room."""
    farm = policy_farm
    db = farm.farm.db
    limits.set_limit(db, "arnold", 0)
    task = farm.submit("ann", "1-3", limits=["arnold"])
    worker = farm.worker()
    assert farm.claim(worker) is None
    signal = signal_of(db)
    got: list[object] = []

    async def held_claim() -> None:
        since = signal.generation
        if await signal.wait(5.0, since=since):
            got.append(farm.claim(worker))

    thread = threading.Thread(target=asyncio.run, args=(held_claim(),))
    thread.start()
    while signal.waiting < 1:
        threading.Event().wait(0.005)
    limits.set_limit(db, "arnold", 1)
    thread.join(10)
    [lease] = got
    assert isinstance(lease, dict) and lease["task"]["id"] == task
