"""Fair share between accounts, priority bands and each account's own priorities, against the
real scheduler on SQLite and PostgreSQL (frames held by their worker: they keep running)."""

from __future__ import annotations

from collections import Counter

import pytest

from foxden.errors import BadRequest, NotFound
from foxden.farm import shares
from tests.farm.policykit import PolicyFarm, policy_farm_fixture  # noqa: F401


def _owner(farm: PolicyFarm, tasks_of: dict[int, str], lease: object) -> str:
    assert isinstance(lease, dict)
    return tasks_of[lease["task"]["id"]]


def test_three_accounts_converge_to_their_shares(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    tasks_of: dict[int, str] = {}
    for name, share in (("ann", 1.0), ("bob", 2.0), ("cy", 3.0)):
        tasks_of[farm.submit(name, "1-100")] = name
        shares.set_share(farm.farm.db, name, share)
    worker = farm.worker()
    counts: Counter[str] = Counter()
    for n in range(1, 61):
        counts[_owner(farm, tasks_of, farm.claim(worker))] += 1
        if n % 6 == 0:  # after every 6 claims, each account has exactly its part of them
            assert counts == {"ann": n // 6, "bob": 2 * n // 6, "cy": 3 * n // 6}
    assert counts == {"ann": 10, "bob": 20, "cy": 30}


def test_a_high_priority_never_overtakes_another_accounts_turn(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    loud = farm.submit("loud", "1-50", priority=1000)
    quiet = farm.submit("quiet", "1-50", priority=-5)
    worker = farm.worker()
    counts: Counter[int] = Counter()
    for _ in range(40):
        lease = farm.claim(worker)
        assert lease is not None
        counts[lease["task"]["id"]] += 1
        assert abs(counts[loud] - counts[quiet]) <= 1  # equal shares: turns alternate
    assert counts[loud] == counts[quiet] == 20


def test_priority_orders_only_the_accounts_own_tasks(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    low = farm.submit("ann", "1-3", priority=0)
    high = farm.submit("ann", "1-3", priority=50)
    other = farm.submit("bob", "1-3", priority=-100)
    worker = farm.worker()
    got = []
    for _ in range(4):
        lease = farm.claim(worker)
        assert lease is not None
        got.append(lease["task"]["id"])
    # ann's high task before its low one; bob's turn comes between, priority -100 or not
    assert got == [high, other, high, other] or got == [other, high, other, high]
    assert low not in got


def test_a_higher_band_is_served_first_farm_wide(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    busy = farm.submit("ann", "1-20")
    worker = farm.worker()
    for _ in range(5):
        lease = farm.claim(worker)
        assert lease is not None and lease["task"]["id"] == busy
    urgent = farm.submit("ann", "1-3", priority=-1000)
    idle = farm.submit("bob", "1-3", priority=1000)
    shares.set_band(farm.farm.db, urgent, 1)
    order = []
    for _ in range(4):
        lease = farm.claim(worker)
        assert lease is not None
        order.append(lease["task"]["id"])
    # the band goes before bob's share turn (ann runs 5 frames, bob none) and priority
    assert order == [urgent, urgent, urgent, idle]


def test_shares_and_bands_are_checked(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    farm.account("ann")
    db = farm.farm.db
    for bad in (0, -1, float("nan"), 1e9, "many"):
        with pytest.raises(BadRequest, match="share"):
            shares.set_share(db, "ann", bad)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="nobody"):
        shares.set_share(db, "nobody", 2)
    assert shares.set_share(db, "ann", 2.5).share == 2.5
    assert shares.get_share(db, "ann").share == 2.5
    task = farm.submit("ann", "1")
    with pytest.raises(BadRequest, match="band"):
        shares.set_band(db, task, 5000)
    with pytest.raises(NotFound):
        shares.set_band(db, task + 99, 1)
    assert shares.set_band(db, task, -3).band == -3
