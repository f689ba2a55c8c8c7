"""Dependencies against the real scheduler on SQLite and PostgreSQL: a task waits for the
tasks it depends on, waits blocked (with the reason) when one fails or is aborted, and runs
once the dependency is restarted and done."""

from __future__ import annotations

import pytest

from foxden.core.states import TaskOp
from foxden.errors import BadRequest, NotFound
from foxden.farm import task_policy, tasks
from tests.farm.policykit import PolicyFarm, policy_farm_fixture  # noqa: F401


def _finish(farm: PolicyFarm, worker: object, status: str = "done") -> int:
    lease = farm.claim(worker)  # type: ignore[arg-type]
    assert lease is not None
    farm.report(worker, lease, status)  # type: ignore[arg-type]
    return lease["task"]["id"]


def test_a_task_waits_until_its_dependencies_are_done(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    light = farm.submit("ann", "1-2")
    sim = farm.submit("ann", "1")
    comp = farm.submit("ann", "1-2", depends_on=[light, sim], priority=1000)
    worker = farm.worker()
    # comp's priority is the highest, but it waits for both
    assert [_finish(farm, worker) for _ in range(3)] == [light, light, sim]
    assert farm.task("ann", comp)["blocked_reason"] == ""
    assert _finish(farm, worker) == comp
    policy = task_policy.task_policy(farm.farm.db, farm.accounts["ann"], comp)
    assert [(d.id, d.status) for d in policy.depends_on] == [(light, "done"), (sim, "done")]
    assert task_policy.task_policy(farm.farm.db, farm.accounts["ann"], light).dependents == [comp]


def test_a_failed_dependency_blocks_until_restarted_and_done(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    db, ann = farm.farm.db, farm.account("ann")
    parent = farm.submit("ann", "1", max_attempts=1)
    child = farm.submit("ann", "1-2", depends_on=[parent])
    worker = farm.worker()
    assert _finish(farm, worker, "failed") == parent
    reason = farm.task("ann", child)["blocked_reason"]
    assert f"task {parent} failed" in reason and "restart" in reason
    assert farm.task("ann", child)["status"] == "queued"
    assert farm.claim(worker) is None  # blocked: nothing to claim
    tasks.operate(db, ann, parent, TaskOp.RESTART, restart="failed")
    assert farm.task("ann", child)["blocked_reason"] == ""
    assert _finish(farm, worker) == parent  # the dependency runs first, then the child
    assert _finish(farm, worker) == child


def test_an_aborted_dependency_blocks_and_a_new_task_on_it_is_blocked_at_once(
    policy_farm: PolicyFarm,
) -> None:
    farm = policy_farm
    db, ann = farm.farm.db, farm.account("ann")
    parent = farm.submit("ann", "1-3")
    child = farm.submit("ann", "1", depends_on=[parent])
    tasks.operate(db, ann, parent, TaskOp.ABORT)
    assert f"task {parent} aborted" in farm.task("ann", child)["blocked_reason"]
    late = farm.submit("ann", "1", depends_on=[parent])
    assert f"task {parent} aborted" in farm.task("ann", late)["blocked_reason"]
    assert farm.claim(farm.worker()) is None


def test_depends_on_names_only_your_own_tasks(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    theirs = farm.submit("bob", "1")
    mine = farm.submit("ann", "1")
    with pytest.raises(NotFound, match=f"no task {theirs} in your account"):
        farm.submit("ann", "1", depends_on=[mine, theirs])
    with pytest.raises(NotFound):
        farm.submit("ann", "1", depends_on=[mine + 1000])
    with pytest.raises(BadRequest, match="depends_on"):
        farm.submit("ann", "1", depends_on=["first"])
    with pytest.raises(BadRequest, match="depends_on"):
        farm.submit("ann", "1", depends_on={"a": 1})
    # nothing was made of the refused submissions
    assert tasks.list_tasks(farm.farm.db, farm.accounts["ann"], {}).total == 1


def test_deleting_a_failed_dependency_lets_its_dependents_go(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    db, ann = farm.farm.db, farm.account("ann")
    parent = farm.submit("ann", "1", max_attempts=1)
    child = farm.submit("ann", "1", depends_on=[parent])
    worker = farm.worker()
    assert _finish(farm, worker, "failed") == parent
    assert farm.task("ann", child)["blocked_reason"]
    tasks.delete_task(db, ann, parent)
    assert farm.task("ann", child)["blocked_reason"] == ""
    assert _finish(farm, worker) == child
