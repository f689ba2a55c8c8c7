"""One claim for several slots (`scheduler.claim_many`), against the real scheduler on SQLite
and PostgreSQL: the slots are shared out as that many claims one after another would share
them (shares, limits, chunks), in one write transaction."""

from __future__ import annotations

from collections import Counter
from typing import Any

from foxden.farm import limits, scheduler, shares
from foxden.wire.worker import LeaseOut
from tests.farm.policykit import LEASE, T0, PolicyFarm, policy_farm_fixture  # noqa: F401


def _many(farm: PolicyFarm, worker: scheduler.WorkerInfo, slots: int, **kw: Any) -> list[LeaseOut]:
    return scheduler.claim_many(
        farm.farm.db, worker, LEASE, slots=slots, heartbeat_seconds=10.0, now=T0, **kw
    )


def test_slots_get_a_chunk_each_never_more_frames_than_wait(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    tid = farm.submit("ann", "1-7", chunk_size=3, frame_order="in_order")
    worker = farm.worker()
    leases = _many(farm, worker, 5)
    assert [lease["frames"] for lease in leases] == [[1, 2, 3], [4, 5, 6], [7]]
    assert len({lease["lease_id"] for lease in leases}) == 3
    assert farm.task("ann", tid)["counts"]["running"] == 7
    assert _many(farm, worker, 5) == []


def test_slots_follow_the_shares_as_single_claims_would(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    owner: dict[int, str] = {}
    for name, share in (("ann", 1.0), ("bob", 2.0)):
        owner[farm.submit(name, "1-30")] = name
        shares.set_share(farm.farm.db, name, share)
    leases = _many(farm, farm.worker(), 6)
    counts = Counter(owner[lease["task"]["id"]] for lease in leases)
    assert counts == {"ann": 2, "bob": 4}


def test_slots_stay_under_a_limit(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    limits.set_limit(farm.farm.db, "licence", 2)
    held = farm.submit("ann", "1-10", limits=["licence"], frame_order="in_order")
    free = farm.submit("ann", "1-10", priority=-1)
    leases = _many(farm, farm.worker(), 6)
    tasks = Counter(lease["task"]["id"] for lease in leases)
    assert tasks == {held: 2, free: 4}
    assert _many(farm, farm.worker("other"), 3, busy=True) != []  # the free task only
    assert farm.task("ann", held)["counts"]["running"] == 2


def test_a_busy_claim_reads_its_candidates_in_the_write(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    tid = farm.submit("ann", "1-2")
    worker = farm.worker()
    (lease,) = _many(farm, worker, 1, busy=True)
    assert lease["task"]["id"] == tid
    farm.report(worker, lease)
    assert [x["task"]["id"] for x in _many(farm, worker, 3, busy=True)] == [tid]
    assert _many(farm, worker, 3, busy=True) == []
